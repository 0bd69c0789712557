// fedrelay log explorer. Plain JavaScript, no build step, no third-party code.
//
// Trust model: the visitor pins the relay's C2SP note verifier key (URL fragment
// `#key=<vkey>` or the form; remembered in localStorage). The checkpoint's note
// signature is checked with WebCrypto Ed25519 against that key, and an entry's
// inclusion is checked by hashing its raw bytes from the entry bundle
// (WebCrypto SHA-256, RFC 6962) and walking the Merkle path, built from the
// hash tiles, up to the verified checkpoint's root. The JSON endpoints only
// feed the display; what is verified is always the raw log.
'use strict';

const PAGE_SIZE = 25;
const SEARCH_BATCH = 100;       // entries per /v1/log/entries request (the server's limit)
const SEARCH_SPAN = 2000;       // entries a user-key search scans before it asks to go on
const REFRESH_MS = 15000;
const KEY_STORAGE = 'fedrelay.explorer.verifierKey';
const TILE_HEIGHT = 8;
const TILE_WIDTH = 256;
const HASH_BYTES = 32;

const $ = (id) => document.getElementById(id);
const utf8 = new TextEncoder();

// ---------------------------------------------------------------------------
// Bytes.

function fromBase64(text) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new Error('bad base64');
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function fromHex(text) {
  if (!/^([0-9a-f]{2})*$/.test(text)) throw new Error('bad hex');
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

// RFC 6962: leaf = SHA-256(0x00 || leaf), node = SHA-256(0x01 || left || right).
const leafHash = (bytes) => sha256(concat(Uint8Array.of(0), bytes));
const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

async function fetchOk(path, kind) {
  const response = await fetch(path, { cache: 'no-store', credentials: 'omit' });
  if (!response.ok) {
    let detail = '';
    try { detail = (await response.json()).error || ''; } catch (e) { /* not JSON */ }
    throw new Error(`GET ${path}: HTTP ${response.status}${detail ? ' — ' + detail : ''}`);
  }
  if (kind === 'text') return response.text();
  if (kind === 'json') return response.json();
  return new Uint8Array(await response.arrayBuffer());
}

// ---------------------------------------------------------------------------
// C2SP signed notes and checkpoints.

// "<name>+<hex keyhash4>+<base64(0x01 || pubkey)>"
async function parseVerifierKey(text) {
  const parts = text.trim().split('+');
  // base64 may itself contain '+': the name and hash are the first two fields.
  if (parts.length < 3) throw new Error('a verifier key reads <name>+<key hash>+<key>');
  const name = parts[0];
  const hashHex = parts[1];
  const keyText = parts.slice(2).join('+');
  if (!name || /[\s+]/.test(name)) throw new Error('the key name is empty or has spaces');
  if (!/^[0-9a-f]{8}$/.test(hashHex)) throw new Error('the key hash must be 8 lowercase hex digits');
  let key;
  try { key = fromBase64(keyText); } catch (e) { throw new Error('the key is not base64'); }
  if (key.length !== 33 || key[0] !== 1) throw new Error('not an Ed25519 verifier key (algorithm 0x01, 32 bytes)');
  const publicKey = key.slice(1);
  const keyHash = (await sha256(concat(utf8.encode(name + '\n'), key))).slice(0, 4);
  if (toHex(keyHash) !== hashHex) throw new Error('the key hash does not match the key');
  return { name, keyHash, publicKey };
}

function parseNote(text) {
  const blank = text.indexOf('\n\n');
  if (blank < 0) throw new Error('malformed note: no blank line before the signatures');
  const body = text.slice(0, blank + 1);
  const lines = text.slice(blank + 2).split('\n');
  if (lines.pop() !== '') throw new Error('malformed note: it does not end in a newline');
  const signatures = lines.map((line) => {
    const match = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!match) throw new Error('malformed note: bad signature line');
    return { name: match[1], bytes: fromBase64(match[2]) };
  });
  return { body, signatures };
}

function parseCheckpointBody(body) {
  const lines = body.split('\n');
  if (lines.length < 4) throw new Error('malformed checkpoint: fewer than three lines');
  const [origin, sizeText, rootText] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    throw new Error('malformed checkpoint: bad tree size');
  }
  const root = fromBase64(rootText);
  if (root.length !== HASH_BYTES) throw new Error('malformed checkpoint: the root is not 32 bytes');
  return { origin, size: Number(sizeText), root };
}

async function verifyCheckpoint(noteText, verifier) {
  const note = parseNote(noteText);
  const mine = note.signatures.filter(
    (s) => s.name === verifier.name && s.bytes.length === 68 && equalBytes(s.bytes.slice(0, 4), verifier.keyHash));
  if (mine.length === 0) throw new Error(`the note carries no signature by the pinned key "${verifier.name}"`);
  const key = await crypto.subtle.importKey('raw', verifier.publicKey, { name: 'Ed25519' }, false, ['verify']);
  let valid = false;
  for (const signature of mine) {
    if (await crypto.subtle.verify({ name: 'Ed25519' }, key, signature.bytes.slice(4), utf8.encode(note.body))) {
      valid = true;
      break;
    }
  }
  if (!valid) throw new Error('the signature does not verify: the note was altered or signed by another key');
  return parseCheckpointBody(note.body);
}

// ---------------------------------------------------------------------------
// C2SP tlog-tiles and RFC 6962 inclusion.

// 1234067 -> "x001/x234/067"
function tileIndexPath(index) {
  let digits = String(index);
  digits = digits.padStart(Math.ceil(digits.length / 3) * 3, '0');
  const groups = digits.match(/.{3}/g);
  return groups.map((g, i) => (i < groups.length - 1 ? 'x' + g : g)).join('/');
}

// Reads the hashes of one tree of `treeSize` leaves from its tiles, each tile
// fetched at most once and at the width that tree fixes.
class TileReader {
  constructor(treeSize) {
    this.treeSize = treeSize;
    this.tiles = new Map();
    this.fetched = 0;
  }

  width(level, index) {
    const nodes = Math.floor(this.treeSize / 2 ** (TILE_HEIGHT * level));
    return Math.min(TILE_WIDTH, nodes - index * TILE_WIDTH);
  }

  async tile(level, index) {
    const width = this.width(level, index);
    if (width <= 0) throw new Error(`tile ${level}/${index} is outside the tree`);
    const path = `/tile/${level}/${tileIndexPath(index)}${width < TILE_WIDTH ? '.p/' + width : ''}`;
    if (!this.tiles.has(path)) {
      this.tiles.set(path, fetchOk(path, 'bytes').then((bytes) => {
        if (bytes.length !== width * HASH_BYTES) throw new Error(`${path} has ${bytes.length} bytes, not ${width * HASH_BYTES}`);
        this.fetched++;
        return bytes;
      }));
    }
    return this.tiles.get(path);
  }

  // The hash of the complete subtree at Merkle `level` (2^level leaves) number `index`.
  async node(level, index) {
    const tileLevel = Math.floor(level / TILE_HEIGHT);
    const span = 2 ** (level - tileLevel * TILE_HEIGHT);
    const first = index * span;  // at Merkle level TILE_HEIGHT * tileLevel
    const tile = await this.tile(tileLevel, Math.floor(first / TILE_WIDTH));
    let hashes = [];
    for (let i = 0; i < span; i++) {
      const at = ((first % TILE_WIDTH) + i) * HASH_BYTES;
      hashes.push(tile.slice(at, at + HASH_BYTES));
    }
    while (hashes.length > 1) {
      const next = [];
      for (let i = 0; i < hashes.length; i += 2) next.push(await nodeHash(hashes[i], hashes[i + 1]));
      hashes = next;
    }
    return hashes[0];
  }

  // RFC 6962 MTH of leaves [lo, hi).
  async range(lo, hi) {
    const n = hi - lo;
    if ((n & (n - 1)) === 0 && lo % n === 0 && n <= 2 ** 30) return this.node(Math.log2(n), lo / n);
    const k = largestPowerOfTwoBelow(n);
    return nodeHash(await this.range(lo, lo + k), await this.range(lo + k, hi));
  }

  // RFC 6962 PATH(m, D[lo:hi]).
  async auditPath(m, lo, hi) {
    const n = hi - lo;
    if (n === 1) return [];
    const k = largestPowerOfTwoBelow(n);
    if (m < k) return [...(await this.auditPath(m, lo, lo + k)), await this.range(lo + k, hi)];
    return [...(await this.auditPath(m - k, lo + k, hi)), await this.range(lo, lo + k)];
  }
}

function largestPowerOfTwoBelow(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// RFC 9162 section 2.1.3.2: the root an inclusion proof leads to.
async function rootFromInclusionProof(index, treeSize, leaf, path) {
  if (index >= treeSize) throw new Error('leaf index beyond the tree');
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) throw new Error('inclusion proof too long');
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error('inclusion proof too short');
  return r;
}

// Entry bundle: each entry is u16be(length) || bytes.
function bundleEntry(bundle, position, width) {
  const entries = [];
  let at = 0;
  while (at < bundle.length) {
    if (at + 2 > bundle.length) throw new Error('truncated entry bundle');
    const length = (bundle[at] << 8) | bundle[at + 1];
    if (at + 2 + length > bundle.length) throw new Error('truncated entry bundle');
    entries.push(bundle.slice(at + 2, at + 2 + length));
    at += 2 + length;
  }
  if (entries.length !== width) throw new Error(`entry bundle holds ${entries.length} entries, not ${width}`);
  return entries[position];
}

// The top-level scalar fields of the serialized LogEntry that the table shows:
// 1 event_id (varint), 2 received_at (varint), 3 kind (string).
function decodeEntryHeader(bytes) {
  const out = {};
  let at = 0;
  const varint = () => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (at >= bytes.length) throw new Error('truncated varint');
      const b = bytes[at++];
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
      if (scale > 2 ** 63) throw new Error('varint too long');
    }
  };
  while (at < bytes.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) {
      const value = varint();
      if (field === 1) out.eventId = value;
      if (field === 2) out.receivedAt = value;
    } else if (wire === 2) {
      const length = varint();
      if (at + length > bytes.length) throw new Error('truncated field');
      if (field === 3) out.kind = new TextDecoder('utf-8', { fatal: true }).decode(bytes.slice(at, at + length));
      at += length;
    } else if (wire === 1) {
      at += 8;
    } else if (wire === 5) {
      at += 4;
    } else {
      throw new Error('unexpected wire type ' + wire);
    }
  }
  return out;
}

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
