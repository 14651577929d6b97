import type { KeyObject } from 'node:crypto';
import { constantTimeEqual, fromHex, toHex } from '../core/encoding.ts';
import { sha256 } from '../core/hash.ts';
import { openCheckpoint, parseVerifierKey, type Checkpoint } from './checkpoint.ts';

/**
 * The outside verifier: checks inclusion and consistency proofs against a
 * signed checkpoint with nothing but the log's public key. It imports only the
 * core and the checkpoint parser, never the writer, and never throws on
 * malformed input — every failure is a `{ ok: false, code, reason }`.
 */

/** Proof that the leaf at `leaf_index` is in the tree of `tree_size` leaves (hex hashes). */
export interface InclusionProof {
  leaf_index: number;
  tree_size: number;
  leaf_hash: string;
  hashes: string[];
  root_hash: string;
}

/** Proof that the tree of `size1` leaves is a prefix of the tree of `size2` leaves. */
export interface ConsistencyProof {
  size1: number;
  size2: number;
  hashes: string[];
  root1: string;
  root2: string;
}

export type ProofCheck = { ok: true } | { ok: false; code: string; reason: string };

/** A proof longer than this cannot belong to a tree of at most 2^53 leaves. */
const MAX_PROOF_HASHES = 128;
const HEX_HASH_RE = /^[0-9a-f]{64}$/;

function fail(code: string, reason: string): ProofCheck {
  return { ok: false, code, reason };
}

/** RFC 6962 interior node: SHA-256(0x01 || left || right). */
function hashNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + left.length + right.length);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return sha256(input);
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isHexHash(v: unknown): v is string {
  return typeof v === 'string' && HEX_HASH_RE.test(v);
}

function isHash(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array && v.length === 32;
}

function isHashArray(v: unknown): v is Uint8Array[] {
  return Array.isArray(v) && v.length <= MAX_PROOF_HASHES && v.every(isHash);
}

function isHashList(v: unknown): v is string[] {
  return Array.isArray(v) && v.length <= MAX_PROOF_HASHES && v.every(isHexHash);
}

const half = (n: number): number => Math.floor(n / 2);
const isOdd = (n: number): boolean => n % 2 === 1;

function isPowerOfTwo(n: number): boolean {
  let m = n;
  while (m > 1 && !isOdd(m)) m = half(m);
  return m === 1;
}

/**
 * RFC 9162 §2.1.3.2: true when `proof` shows that `leaf` is at `index` in the
 * tree of `size` leaves whose root is `root`. False, never a throw, for malformed input.
 */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isIndex(index) || !isIndex(size) || index >= size) return false;
  if (!isHash(leaf) || !isHash(root) || !isHashArray(proof)) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = hashNode(p, r);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = hashNode(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && constantTimeEqual(r, root);
}

/**
 * RFC 9162 §2.1.4.2: true when `proof` shows that the tree of `size1` leaves
 * with root `root1` is a prefix of the tree of `size2` leaves with root `root2`.
 * Size 0 is a prefix of every tree and equal sizes need equal roots; both take
 * an empty proof. False, never a throw, for malformed input.
 */
export function verifyConsistencyPath(
  size1: number,
  size2: number,
  root1: Uint8Array,
  root2: Uint8Array,
  proof: Uint8Array[],
): boolean {
  if (!isIndex(size1) || !isIndex(size2) || size1 > size2) return false;
  if (!isHash(root1) || !isHash(root2) || !isHashArray(proof)) return false;
  if (size1 === 0) return proof.length === 0;
  if (size1 === size2) return proof.length === 0 && constantTimeEqual(root1, root2);
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = hashNode(c, fr);
      sr = hashNode(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = hashNode(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && constantTimeEqual(fr, root1) && constantTimeEqual(sr, root2);
}

function openNote(
  note: string,
  keyName: string,
  publicKey: KeyObject,
): Checkpoint | { error: ProofCheck } {
  try {
    return openCheckpoint(note, keyName, publicKey);
  } catch (err) {
    const reason = err instanceof Error ? err.message : 'checkpoint could not be opened';
    return { error: fail('checkpoint_invalid', reason) };
  }
}

function sameHex(hex: string, bytes: Uint8Array): boolean {
  return constantTimeEqual(fromHex(hex), bytes);
}

/**
 * Verifies an inclusion proof against a signed checkpoint: the note must be
 * signed by the log key, the proof must be for the checkpoint's size and root,
 * and the audit path must lead from the leaf hash to that root.
 */
export function verifyInclusionProof(
  proof: InclusionProof,
  checkpointNote: string,
  keyName: string,
  logPublicKey: KeyObject,
): ProofCheck {
  const p = proof as unknown as Record<string, unknown> | null;
  if (
    typeof p !== 'object' ||
    p === null ||
    !isIndex(p.leaf_index) ||
    !isIndex(p.tree_size) ||
    !isHexHash(p.leaf_hash) ||
    !isHexHash(p.root_hash) ||
    !isHashList(p.hashes)
  ) {
    return fail('proof_invalid', 'inclusion proof is malformed');
  }
  const cp = openNote(checkpointNote, keyName, logPublicKey);
  if ('error' in cp) return cp.error;
  if (p.tree_size !== cp.size) {
    return fail('size_mismatch', `proof is for size ${p.tree_size}, checkpoint has ${cp.size}`);
  }
  if (!sameHex(p.root_hash, cp.rootHash)) {
    return fail('root_mismatch', 'proof root differs from the checkpoint root');
  }
  if (p.leaf_index >= p.tree_size) {
    return fail('proof_invalid', `leaf index ${p.leaf_index} is outside size ${p.tree_size}`);
  }
  const ok = verifyInclusion(
    fromHex(p.leaf_hash),
    p.leaf_index,
    p.tree_size,
    p.hashes.map(fromHex),
    cp.rootHash,
  );
  return ok ? { ok: true } : fail('proof_invalid', 'audit path does not lead to the root');
}

/** The log's verifier key: a C2SP verifier key string, or its parsed name and public key. */
export type LogVerifierKey = string | { keyName: string; publicKey: KeyObject };

function verifierOf(key: LogVerifierKey): { keyName: string; publicKey: KeyObject } | ProofCheck {
  if (typeof key !== 'string') return key;
  try {
    return parseVerifierKey(key);
  } catch (err) {
    return fail('checkpoint_invalid', err instanceof Error ? err.message : 'bad verifier key');
  }
}

function hexPrefix(bytes: Uint8Array): string {
  return `${toHex(bytes).slice(0, 16)}…`;
}

/**
 * Verifies that the log of `newCheckpoint` extends the auditor's own `oldCheckpoint`: both notes
 * are signed by the log key and name the same log, and the proof joins exactly the old root to
 * the new one. The proof's sizes and roots must be the checkpoints' own; its first root is never
 * trusted for itself, so a proof from a forked or rolled-back log fails whatever the new
 * checkpoint says.
 */
export function verifyConsistency(
  proof: ConsistencyProof,
  oldCheckpoint: string,
  newCheckpoint: string,
  verifierKey: LogVerifierKey,
): ProofCheck {
  const p = proof as unknown as Record<string, unknown> | null;
  if (
    typeof p !== 'object' ||
    p === null ||
    !isIndex(p.size1) ||
    !isIndex(p.size2) ||
    !isHexHash(p.root1) ||
    !isHexHash(p.root2) ||
    !isHashList(p.hashes)
  ) {
    return fail('proof_invalid', 'consistency proof is malformed');
  }
  const key = verifierOf(verifierKey);
  if ('ok' in key) return key;
  const older = openNote(oldCheckpoint, key.keyName, key.publicKey);
  if ('error' in older) return older.error;
  const newer = openNote(newCheckpoint, key.keyName, key.publicKey);
  if ('error' in newer) return newer.error;
  if (older.origin !== newer.origin) {
    return fail('checkpoint_invalid', 'the two checkpoints are from different logs');
  }
  if (newer.size < older.size) {
    return fail(
      'rolled_back',
      `the new checkpoint has ${newer.size} records, fewer than the ${older.size} of the old one`,
    );
  }
  if (p.size1 !== older.size) {
    return fail(
      'size_mismatch',
      `proof is from size ${p.size1}, the old checkpoint has ${older.size}`,
    );
  }
  if (p.size2 !== newer.size) {
    return fail(
      'size_mismatch',
      `proof is to size ${p.size2}, the new checkpoint has ${newer.size}`,
    );
  }
  if (!sameHex(p.root1, older.rootHash)) {
    return fail(
      'root_mismatch',
      `proof starts from root ${p.root1.slice(0, 16)}…, not the old checkpoint's ` +
        `${hexPrefix(older.rootHash)}: this log does not extend it (forked or rewritten)`,
    );
  }
  if (!sameHex(p.root2, newer.rootHash)) {
    return fail('root_mismatch', "proof ends at a root that is not the new checkpoint's");
  }
  const ok = verifyConsistencyPath(
    older.size,
    newer.size,
    older.rootHash,
    newer.rootHash,
    p.hashes.map(fromHex),
  );
  return ok
    ? { ok: true }
    : fail('proof_invalid', 'the proof does not join the old root to the new root');
}
