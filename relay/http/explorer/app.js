// fedrelay log explorer. Plain JavaScript, no build step, no third-party code.
//
// Trust model: the visitor pins the relay's C2SP note verifier key (URL fragment
// `#key=<vkey>` or the form; remembered in localStorage). The checkpoint's note
// signature is checked with WebCrypto Ed25519 against that key, and an entry's
// inclusion is checked by hashing its raw bytes from the entry bundle
// (WebCrypto SHA-256, RFC 6962) and walking the Merkle path, built from the
// hash tiles, up to the verified checkpoint's root (those checks are in
// verify.js, loaded first). The JSON endpoints only feed the display; what is
// verified is always the raw log.
'use strict';

const PAGE_SIZE = 25;
const SEARCH_BATCH = 100;       // entries per /v1/log/entries request (the server's limit)
const SEARCH_SPAN = 2000;       // entries a user-key search scans before it asks to go on
const REFRESH_MS = 15000;
const KEY_STORAGE = 'fedrelay.explorer.verifierKey';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------
// What an entry is about, for the table (display only).

const KIND_LABELS = {
  federationRequest: 'member joined', ban: 'ban', dmInvite: 'dm invite', dmAccept: 'dm accepted',
  dmReject: 'dm rejected', migration: 'migration', profile: 'profile update', operatorAction: 'operator action',
};

function describeEntry(entry) {
  const r = entry.federationRequest || entry.ban || entry.dmInvite || entry.dmAccept || entry.dmReject ||
    entry.migration || entry.profile || entry.operatorAction || {};
  const label = Object.keys(KIND_LABELS).find((k) => entry[k]);
  let origin = '';
  let guild = r.guildId || '';
  let users = [];
  if (entry.federationRequest) { origin = r.originServerId; users = [r.userPubkey]; }
  if (entry.ban) { origin = r.originServerId; users = [r.bannedUserPubkey]; }
  if (entry.dmInvite) { origin = r.hostServerUrl; users = [r.inviterId, r.targetUserId]; }
  if (entry.dmAccept || entry.dmReject) { origin = 'invite ' + (r.inviteId || ''); }
  if (entry.migration) { origin = r.newHomeserver; users = [r.userId]; }
  if (entry.profile) { users = [r.userId]; }
  if (entry.operatorAction) {
    origin = 'relay operator';
    guild = `${r.action || ''} ${r.serverId || ''}`;
  }
  return {
    eventId: entry.eventId,
    kind: label ? KIND_LABELS[label] : entry.kind,
    origin: origin || '',
    guild,
    time: entry.receivedAt ? new Date(Number(entry.receivedAt)).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '') : '',
    users: users.filter(Boolean),
  };
}

// Whether `key` appears as any string value in the entry (requests and derived events).
function mentions(value, key) {
  if (typeof value === 'string') return value === key;
  if (Array.isArray(value)) return value.some((v) => mentions(v, key));
  if (value && typeof value === 'object') return Object.values(value).some((v) => mentions(v, key));
  return false;
}

// ---------------------------------------------------------------------------
// Page state and rendering. Only textContent is ever set from data.

const state = {
  verifier: null,
  keyError: null,     // why the pinned key could not be used
  checkpoint: null,   // the verified checkpoint {origin, size, root}
  largestVerifiedSize: 0,  // a log only grows: a smaller tree later is a failure
  summary: null,
  treeSize: 0,
  pageStart: 0,
  shown: new Map(),   // event id -> entry JSON, for the detail view
  selected: null,     // event id
  search: null,       // {key, next} while a user-key search is on
};

function setVerdict(id, verdictState, text) {
  const element = $(id);
  element.dataset.state = verdictState;
  element.textContent = text;
}

function el(tag, text, className) {
  const element = document.createElement(tag);
  if (text !== undefined) element.textContent = text;
  if (className) element.className = className;
  return element;
}

function keyFromFragment() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  return params.get('key');
}

function setFragmentKey(vkey) {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (vkey) params.set('key', vkey); else params.delete('key');
  const hash = params.toString();
  history.replaceState(history.state, '', location.pathname + location.search + (hash ? '#' + hash : ''));
}

function rememberKey(vkey) {
  try {
    if (vkey) localStorage.setItem(KEY_STORAGE, vkey); else localStorage.removeItem(KEY_STORAGE);
  } catch (e) { /* storage may be disabled; the fragment still works */ }
}

function storedKey() {
  try { return localStorage.getItem(KEY_STORAGE); } catch (e) { return null; }
}

async function loadCheckpoint() {
  let noteText = '';
  try {
    noteText = await fetchOk('/checkpoint', 'text');
  } catch (e) {
    state.checkpoint = null;
    setVerdict('checkpoint-verdict', 'failed', 'checkpoint NOT verified: ' + e.message);
    return;
  }
  $('cp-note').textContent = noteText;
  if (!state.verifier) {
    state.checkpoint = null;
    setVerdict('checkpoint-verdict', 'failed', 'checkpoint NOT verified: ' +
      (state.keyError ? 'the pinned key is unusable: ' + state.keyError : 'no verifier key is pinned'));
    return;
  }
  try {
    const checkpoint = await verifyCheckpoint(noteText, state.verifier);
    if (checkpoint.size < state.largestVerifiedSize) {
      throw new Error(`the tree shrank from ${state.largestVerifiedSize} to ${checkpoint.size} entries`);
    }
    state.largestVerifiedSize = checkpoint.size;
    state.checkpoint = checkpoint;
    $('checkpoint-details').hidden = false;
    $('cp-origin').textContent = checkpoint.origin;
    $('cp-size').textContent = String(checkpoint.size);
    $('cp-root').textContent = toHex(checkpoint.root);
    setVerdict('checkpoint-verdict', 'verified',
      `checkpoint verified: signed by ${state.verifier.name}, tree size ${checkpoint.size}`);
  } catch (e) {
    state.checkpoint = null;
    $('checkpoint-details').hidden = true;
    setVerdict('checkpoint-verdict', 'failed', 'checkpoint NOT verified: ' + e.message);
  }
}

async function pinKey(text, remember) {
  text = (text || '').trim();
  $('vkey').value = text;
  state.verifier = null;
  state.keyError = null;
  state.largestVerifiedSize = 0;
  if (text) {
    try {
      state.verifier = await parseVerifierKey(text);
    } catch (e) {
      state.keyError = e.message;
    }
  }
  if (remember && !state.keyError) {
    rememberKey(text);
    setFragmentKey(text);
  }
  await loadCheckpoint();
}

async function loadSummary() {
  const summary = await fetchOk('/v1/log/summary', 'json');
  state.summary = summary;
  state.treeSize = summary.treeSize;
  $('relay-server-id').textContent = summary.serverId;
  $('relay-version').textContent = summary.version;
  $('relay-vkey').textContent = summary.verifierKey;
  $('relay-pubkey').textContent = summary.relayPubkey;
  $('relay-size').textContent = `${summary.treeSize} entries (${summary.checkpointSize} in the latest checkpoint)`;
  $('offered-key-text').textContent = summary.verifierKey;
  $('offered-key').hidden = !!state.verifier && $('vkey').value.trim() === summary.verifierKey;
  const peers = $('peers-body');
  peers.replaceChildren();
  for (const peer of summary.peers) {
    const row = el('tr');
    row.append(el('td', peer.serverId));
    const key = el('td');
    key.append(el('code', peer.pubkey));
    row.append(key);
    const mayBan = peer.mayBan || [];
    row.append(el('td', mayBan.includes('*') ? 'every guild' : mayBan.length ? mayBan.join(', ') : 'nowhere'));
    peers.append(row);
  }
  if (summary.peers.length === 0) peers.appendChild(el('tr')).append(el('td', 'no peers'));
  drawGrowth(summary.growth);
}

function drawGrowth(points) {
  const box = $('growth');
  box.replaceChildren();
  if (!points || points.length === 0) {
    $('growth-text').textContent = 'the log is empty';
    return;
  }
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  const width = 1000;
  const height = 120;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const t0 = points[0].time;
  const t1 = points[points.length - 1].time;
  const maxSize = points[points.length - 1].treeSize;
  const x = (p, i) => (t1 > t0 ? ((p.time - t0) / (t1 - t0)) : i / Math.max(1, points.length - 1)) * (width - 4) + 2;
  const y = (p) => height - 4 - (p.treeSize / maxSize) * (height - 8);
  const coords = points.map((p, i) => `${x(p, i).toFixed(1)},${y(p).toFixed(1)}`);
  const area = document.createElementNS(ns, 'polygon');
  area.setAttribute('points', `2,${height - 4} ${coords.join(' ')} ${width - 2},${height - 4}`);
  area.setAttribute('class', 'area');
  const curve = document.createElementNS(ns, 'polyline');
  curve.setAttribute('points', coords.join(' '));
  curve.setAttribute('class', 'curve');
  const axis = document.createElementNS(ns, 'line');
  axis.setAttribute('x1', '0'); axis.setAttribute('x2', String(width));
  axis.setAttribute('y1', String(height - 4)); axis.setAttribute('y2', String(height - 4));
  axis.setAttribute('class', 'axis');
  svg.append(area, curve, axis);
  box.append(svg);
  const when = (ms) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  $('growth-text').textContent = `${maxSize} entries, the first at ${when(t0)}, the latest at ${when(t1)}`;
}

async function fetchEntries(start, end) {
  const page = await fetchOk(`/v1/log/entries?start=${start}&end=${end}`, 'json');
  state.treeSize = Math.max(state.treeSize, page.treeSize);
  for (const entry of page.entries) state.shown.set(Number(entry.eventId), entry);
  return page;
}

function renderRows(entries) {
  const body = $('entries-body');
  body.replaceChildren();
  for (const entry of entries) {
    const d = describeEntry(entry);
    const row = el('tr');
    row.dataset.eventId = d.eventId;
    if (Number(d.eventId) === state.selected) row.className = 'selected';
    const idCell = el('td');
    const link = el('a', d.eventId);
    link.href = `/explorer/entry/${d.eventId}${location.hash}`;
    link.addEventListener('click', (event) => { event.preventDefault(); navigate(`/explorer/entry/${d.eventId}`); });
    idCell.append(link);
    row.append(idCell, el('td', d.kind), el('td', d.origin), el('td', d.guild), el('td', d.time));
    const users = el('td', undefined, 'keys');
    for (const user of d.users) {
      const code = el('code', user.length > 20 ? user.slice(0, 16) + '…' : user);
      code.title = user;
      users.append(code);
    }
    row.append(users);
    const action = el('td');
    const button = el('button', 'verify inclusion', 'secondary');
    button.type = 'button';
    button.addEventListener('click', () => navigate(`/explorer/entry/${d.eventId}`, true));
    action.append(button);
    row.append(action);
    body.append(row);
  }
  if (entries.length === 0) body.appendChild(el('tr')).append(el('td', 'no entries'));
}

async function showPage(start) {
  state.search = null;
  $('search-more').hidden = true;
  if (state.treeSize === 0) {
    renderRows([]);
    $('entries-status').textContent = 'the log is empty';
    $('newer').disabled = true;
    $('older').disabled = true;
    return;
  }
  start = Math.max(0, Math.min(start, state.treeSize - 1));
  const end = Math.min(state.treeSize, start + PAGE_SIZE);
  const page = await fetchEntries(start, end);
  state.pageStart = start;
  renderRows(page.entries.slice().reverse());
  $('entries-status').textContent = `event ids ${start + 1}–${page.end} of ${state.treeSize}, newest first`;
  $('newer').disabled = page.end >= state.treeSize;
  $('older').disabled = start === 0;
}

async function searchUser(key, from) {
  state.search = { key, matches: from === undefined ? [] : state.search.matches, next: 0 };
  let end = from === undefined ? state.treeSize : from;
  const stop = Math.max(0, end - SEARCH_SPAN);
  $('entries-status').textContent = `searching for ${key.slice(0, 16)}…`;
  while (end > stop) {
    const start = Math.max(stop, end - SEARCH_BATCH);
    const page = await fetchEntries(start, end);
    for (const entry of page.entries.slice().reverse()) {
      if (mentions(entry, key)) state.search.matches.push(entry);
    }
    end = start;
  }
  state.search.next = end;
  renderRows(state.search.matches);
  $('entries-status').textContent = `${state.search.matches.length} entries mention ${key.slice(0, 16)}… ` +
    (end > 0 ? `(searched back to event id ${end + 1})` : '(searched the whole log)');
  $('search-more').hidden = end === 0;
  $('newer').disabled = true;
  $('older').disabled = true;
}

async function selectEntry(eventId, verify) {
  state.selected = eventId;
  for (const row of $('entries-body').children) {
    row.className = Number(row.dataset.eventId) === eventId ? 'selected' : '';
  }
  let entry = state.shown.get(eventId);
  if (!entry) {
    try {
      await fetchEntries(eventId - 1, eventId);
      entry = state.shown.get(eventId);
    } catch (e) {
      $('entry-detail').hidden = true;
      setVerdict('inclusion-verdict', 'failed', `no entry with event id ${eventId}: ${e.message}`);
      return;
    }
  }
  $('entry-detail').hidden = false;
  const d = describeEntry(entry);
  $('entry-title').textContent = `event ${eventId} — ${d.kind}${d.guild ? ' in ' + d.guild : ''}, ${d.time} UTC`;
  $('entry-json').textContent = JSON.stringify(entry, null, 2);
  setVerdict('inclusion-verdict', 'idle', `entry ${eventId}: press “verify inclusion” to check it against the checkpoint`);
  if (verify) await verifyInclusion(eventId);
}

async function verifyInclusion(eventId) {
  const index = eventId - 1;
  setVerdict('inclusion-verdict', 'pending', `verifying entry ${eventId}…`);
  try {
    if (!state.checkpoint || index >= state.checkpoint.size) await loadCheckpoint();
    const checkpoint = state.checkpoint;
    if (!checkpoint) throw new Error('there is no verified checkpoint to check against');
    if (index >= checkpoint.size) {
      throw new Error(`entry ${eventId} is not yet covered by the latest checkpoint (size ${checkpoint.size}); try again shortly`);
    }
    const size = checkpoint.size;
    const bundleIndex = Math.floor(index / TILE_WIDTH);
    const width = Math.min(TILE_WIDTH, size - bundleIndex * TILE_WIDTH);
    const bundle = await fetchOk(
      `/tile/entries/${tileIndexPath(bundleIndex)}${width < TILE_WIDTH ? '.p/' + width : ''}`, 'bytes');
    const raw = bundleEntry(bundle, index % TILE_WIDTH, width);
    const leaf = await leafHash(raw);
    const tiles = new TileReader(size);
    const path = await tiles.auditPath(index, 0, size);
    const root = await rootFromInclusionProof(index, size, leaf, path);
    if (!equalBytes(root, checkpoint.root)) {
      throw new Error('the Merkle path from this entry does not lead to the checkpoint root');
    }
    const header = decodeEntryHeader(raw);
    const shown = state.shown.get(eventId);
    if (header.eventId !== eventId || (shown && (String(header.receivedAt || 0) !== String(shown.receivedAt || 0) ||
        header.kind !== shown.kind))) {
      throw new Error('the logged bytes are in the tree, but they do not match the entry displayed');
    }
    setVerdict('inclusion-verdict', 'verified',
      `inclusion verified: entry ${eventId} (leaf hash ${toHex(leaf).slice(0, 16)}…) is in the checkpointed ` +
      `tree of size ${size}; ${path.length} path hashes from ${tiles.fetched} tiles`);
  } catch (e) {
    setVerdict('inclusion-verdict', 'failed', `inclusion NOT verified for entry ${eventId}: ${e.message}`);
  }
}

// Routes: /, /explorer/, /explorer/entry/<event id>, /explorer/user/<key>.
async function route(verify) {
  const path = location.pathname;
  const entryMatch = /^\/explorer\/entry\/([1-9][0-9]*)\/?$/.exec(path);
  const userMatch = /^\/explorer\/user\/([0-9a-f]{64})\/?$/.exec(path);
  if (userMatch) {
    $('search').value = userMatch[1];
    await searchUser(userMatch[1]);
  } else if (!entryMatch || state.search !== null || $('entries-body').children.length === 0) {
    await showPage(Math.max(0, state.treeSize - PAGE_SIZE));
  }
  if (entryMatch) {
    const eventId = Number(entryMatch[1]);
    // A link straight to an entry is a request to check it.
    await selectEntry(eventId, verify !== false);
  }
}

function navigate(path, verify) {
  history.pushState(null, '', path + location.hash);
  route(verify === true ? true : false).catch(showError);
}

function showError(e) {
  $('entries-status').textContent = 'error: ' + e.message;
}

async function refresh() {
  try {
    await loadSummary();
    await loadCheckpoint();
  } catch (e) {
    showError(e);
  }
}

async function start() {
  if (!window.crypto || !crypto.subtle) {
    setVerdict('checkpoint-verdict', 'failed',
      'checkpoint NOT verified: this browser offers no WebCrypto here (open the page over https or from localhost)');
    return;
  }
  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    pinKey($('vkey').value, true).then(loadSummary).catch(showError);
  });
  $('forget-key').addEventListener('click', () => pinKey('', true).catch(showError));
  $('use-offered-key').addEventListener('click', () => {
    if (state.summary) pinKey(state.summary.verifierKey, true).then(loadSummary).catch(showError);
  });
  $('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const query = $('search').value.trim();
    if (/^[1-9][0-9]*$/.test(query)) navigate(`/explorer/entry/${query}`, false);
    else if (/^[0-9a-f]{64}$/.test(query)) navigate(`/explorer/user/${query}`);
    else $('entries-status').textContent = 'search for an event id (a number) or a user key (64 lowercase hex)';
  });
  $('show-latest').addEventListener('click', () => navigate('/explorer/'));
  $('newer').addEventListener('click', () => showPage(state.pageStart + PAGE_SIZE).catch(showError));
  $('older').addEventListener('click', () => showPage(Math.max(0, state.pageStart - PAGE_SIZE)).catch(showError));
  $('search-more').addEventListener('click', () => {
    if (state.search) searchUser(state.search.key, state.search.next).catch(showError);
  });
  $('verify-selected').addEventListener('click', () => {
    if (state.selected) verifyInclusion(state.selected);
  });
  window.addEventListener('popstate', () => route(false).catch(showError));

  const fragmentKey = keyFromFragment();
  const key = fragmentKey !== null ? fragmentKey : storedKey();
  await pinKey(key || '', fragmentKey !== null);
  try {
    await loadSummary();
  } catch (e) {
    showError(e);
  }
  await route(true).catch(showError);
  setInterval(refresh, REFRESH_MS);
}

start().catch((e) => setVerdict('checkpoint-verdict', 'failed', 'checkpoint NOT verified: ' + e.message));
