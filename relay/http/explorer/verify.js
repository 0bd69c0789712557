// fedrelay log explorer: checking the raw log in the browser (loaded before
// app.js, which uses these; plain JavaScript, no build step, no third-party code).
//
// A checkpoint's C2SP note signature is checked with WebCrypto Ed25519 against
// the pinned verifier key, and an entry's inclusion by hashing its raw bytes
// from the entry bundle (WebCrypto SHA-256, RFC 6962) and walking the Merkle
// path, built from the hash tiles, up to the verified checkpoint's root.

'use strict';

const TILE_HEIGHT = 8;
const TILE_WIDTH = 256;
const HASH_BYTES = 32;
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
