/**
 * Checking the log in the browser, with WebCrypto only: the C2SP signed checkpoint's Ed25519
 * signature under the log's verifier key, the record's leaf hash (RFC 8785 canonical JSON,
 * SHA-256 with the RFC 6962 0x00 prefix), and the RFC 9162 inclusion and consistency proofs.
 * Nothing here trusts the server's word for a hash: every hash is recomputed.
 */
import canonicalize from 'canonicalize';
import type { ConsistencyProof, InclusionProof, SealedRecord } from './types.ts';

export type Check = { ok: true; detail: string } | { ok: false; detail: string };

const enc = new TextEncoder();

function fromBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
function fromHex(hex: string): Uint8Array {
  if (!/^([0-9a-f]{2})*$/.test(hex)) throw new Error('not hex');
  return Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
}
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data as BufferSource));
}
const node = (l: Uint8Array, r: Uint8Array) => sha256(concat(Uint8Array.of(1), l, r));

/** A checkpoint whose signature verified. */
export interface VerifiedCheckpoint {
  origin: string;
  size: number;
  root: Uint8Array;
  timestamp?: string;
}

/**
 * Verifies a signed note against a verifier key `<name>+<hex key hash>+<base64(0x01‖key)>`:
 * the key hash, the signature line by that key, and the Ed25519 signature over the note text.
 */
export async function verifyCheckpoint(
  note: string,
  verifierKey: string,
): Promise<VerifiedCheckpoint> {
  const m = /^([^+]+)\+([0-9a-f]{8})\+(.+)$/s.exec(verifierKey);
  if (!m) throw new Error('the verifier key is malformed');
  const [, name, hashHex, keyB64] = m as unknown as [string, string, string, string];
  const keyData = fromBase64(keyB64);
  if (keyData.length !== 33 || keyData[0] !== 1) throw new Error('the verifier key is not Ed25519');
  const pub = keyData.subarray(1);
  const keyHash = (await sha256(concat(enc.encode(`${name}\n`), keyData))).subarray(0, 4);
  if (toHex(keyHash) !== hashHex) throw new Error('the verifier key hash does not match its key');

  const split = note.indexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) throw new Error('the checkpoint is not a signed note');
  const text = note.slice(0, split + 1);
  const sigLines = note.slice(split + 2, -1).split('\n');
  const prefix = `\u2014 ${name} `;
  const line = sigLines.find((l) => l.startsWith(prefix));
  if (line === undefined) throw new Error(`no signature by ${name} on the checkpoint`);
  const sigData = fromBase64(line.slice(prefix.length));
  if (sigData.length !== 68 || !equal(sigData.subarray(0, 4), keyHash)) {
    throw new Error('the signature line does not name this key');
  }
  const key = await crypto.subtle.importKey(
    'raw',
    pub as BufferSource,
    { name: 'Ed25519' },
    false,
    ['verify'],
  );
  const ok = await crypto.subtle.verify(
    { name: 'Ed25519' },
    key,
    sigData.subarray(4) as BufferSource,
    enc.encode(text) as BufferSource,
  );
  if (!ok) throw new Error('the checkpoint signature does not verify');

  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3 || lines.length > 4) throw new Error('the checkpoint body is malformed');
  const [origin, sizeLine, rootLine, ext] = lines as [string, string, string, string | undefined];
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeLine)) throw new Error('the tree size is malformed');
  const root = fromBase64(rootLine);
  if (root.length !== 32) throw new Error('the root hash is not 32 bytes');
  return {
    origin,
    size: Number(sizeLine),
    root,
    ...(ext?.startsWith('timestamp ') ? { timestamp: ext.slice(10) } : {}),
  };
}

/**
 * The RFC 6962 leaf hash of a record: SHA-256(0x00 ‖ the canonical JSON of its log entry, the
 * public envelope of log format 2). The browser recomputes it rather than trust the served one.
 */
export async function recordLeafHash(record: SealedRecord): Promise<Uint8Array> {
  const entry = {
    hash: record.hash,
    id: record.id,
    kind: record.kind,
    prev: record.prev,
    pub_key: record.pub_key,
    sig: record.sig,
    ts: record.ts,
    witnesses: record.witnesses,
  };
  const text = canonicalize(entry);
  if (text === undefined) throw new Error('the record cannot be canonicalised');
  return sha256(concat(Uint8Array.of(0), enc.encode(text)));
}

/** The leaf commits to the body through `hash`: SHA-256 of the canonical body must be it. */
async function bodyMatchesHash(record: SealedRecord): Promise<boolean> {
  const {
    seq: _seq,
    hash,
    sig: _sig,
    witnesses: _witnesses,
    leaf_hash: _served,
    ...body
  } = record as SealedRecord & { leaf_hash?: string };
  const text = canonicalize(body);
  return text !== undefined && toHex(await sha256(enc.encode(text))) === hash;
}

/** RFC 9162 §2.1.3.2. */
async function inclusionRoot(
  leaf: Uint8Array,
  index: number,
  size: number,
  path: Uint8Array[],
): Promise<Uint8Array | null> {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await node(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await node(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

/** Checks that `record` is at its seq in the tree the signed checkpoint commits to. */
export async function verifyInclusion(
  record: SealedRecord,
  proof: InclusionProof,
  cp: VerifiedCheckpoint,
): Promise<Check> {
  const leaf = await recordLeafHash(record);
  if ('payload' in record && !(await bodyMatchesHash(record))) {
    return { ok: false, detail: 'the record’s body does not hash to its hash' };
  }
  if (proof.leaf_index !== record.seq) {
    return { ok: false, detail: `the proof is for seq ${proof.leaf_index}, not ${record.seq}` };
  }
  if (proof.tree_size !== cp.size) {
    return {
      ok: false,
      detail: `the proof is for size ${proof.tree_size}, the checkpoint ${cp.size}`,
    };
  }
  if (!equal(fromHex(proof.leaf_hash), leaf)) {
    return { ok: false, detail: 'the record does not hash to the proof’s leaf' };
  }
  const root = await inclusionRoot(
    leaf,
    proof.leaf_index,
    proof.tree_size,
    proof.hashes.map(fromHex),
  );
  if (root === null || !equal(root, cp.root)) {
    return { ok: false, detail: 'the audit path does not lead to the signed root' };
  }
  return {
    ok: true,
    detail: `record ${record.seq} is in the signed tree of ${cp.size} records`,
  };
}

/** RFC 9162 §2.1.4.2: the older tree (size1, root1) is a prefix of the newer (size2, root2). */
export async function verifyConsistency(
  older: { size: number; root: Uint8Array },
  newer: VerifiedCheckpoint,
  proof: ConsistencyProof,
): Promise<Check> {
  const { size: size1, root: root1 } = older;
  const { size: size2, root: root2 } = newer;
  if (proof.size1 !== size1 || proof.size2 !== size2) {
    return { ok: false, detail: 'the proof is for other tree sizes' };
  }
  if (size1 > size2) return { ok: false, detail: 'the log is smaller than on your last visit' };
  const path = proof.hashes.map(fromHex);
  if (size1 === size2) {
    return path.length === 0 && equal(root1, root2)
      ? { ok: true, detail: 'the log has not changed since your last visit' }
      : { ok: false, detail: 'same size, different root: the log was rewritten' };
  }
  if (size1 === 0) return { ok: true, detail: 'your last visit saw an empty log' };
  const isPow2 = (n: number) => (n & (n - 1)) === 0;
  const p = isPow2(size1) ? [root1, ...path] : path;
  if (p.length === 0) return { ok: false, detail: 'the consistency proof is empty' };
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = p[0]!;
  let sr = p[0]!;
  for (const c of p.slice(1)) {
    if (sn === 0) return { ok: false, detail: 'the consistency proof is too long' };
    if (fn % 2 === 1 || fn === sn) {
      fr = await node(c, fr);
      sr = await node(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = await node(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equal(fr, root1) && equal(sr, root2)
    ? {
        ok: true,
        detail: `the log grew from ${size1} to ${size2} records without rewriting any`,
      }
    : {
        ok: false,
        detail: 'the log is not an extension of what you saw last time (fork or rollback)',
      };
}
