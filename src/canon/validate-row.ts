/**
 * The check of one stored row, independent of every other row: the body decrypts under
 * (seq, id); the plaintext is the canonical sealed record whose log entry's leaf hash is the stored one; the
 * clear columns equal the record's fields; the hash covers the body; the log key signed the
 * hash. The signature check, the costly part, can be left to a VerifyPool.
 */
import type { KeyObject } from 'node:crypto';
import { writtenCanonically } from '../core/canonical.ts';
import { verify } from '../core/ed25519.ts';
import { constantTimeEqual, fromBase64Url, utf8Decode } from '../core/encoding.ts';
import { sha256, sha256Hex } from '../core/hash.ts';
import { decryptBody } from './envelope.ts';
import { LEAF_PREFIX, leafHash } from './merkle.ts';
import {
  bodyJson,
  entryJson,
  partsOf,
  recordSigningMessage,
  sealedJson,
  witnessesJson,
} from './record-json.ts';
import { RECORD_KINDS, type CanonicalRecord } from './record.ts';
import type { StoredRow } from './store/types.ts';
import type { SignatureItem } from './verify-pool.ts';

export type ValidationCode =
  | 'signature_invalid'
  | 'chain_broken'
  | 'root_mismatch'
  | 'decrypt_failed'
  | 'missing_record'
  | 'hash_mismatch'
  /** The store does not extend the checkpoint the auditor kept: tail cut, rolled back or forked. */
  | 'not_extended'
  /** A stored tile of the Merkle tree is not what the records' leaf hashes make (it is named). */
  | 'tile_mismatch'
  /** A tile row at a level or index the tree does not use (never served, so only named here). */
  | 'tile_unused';

/** Why a row (or a checkpoint, named by its size) is bad. */
export interface Failure {
  seq: number;
  code: ValidationCode;
  reason: string;
  checkpoint?: number;
}

/** The keys a row is checked against. */
export interface RowKeys {
  dataKey: Uint8Array;
  publicKey: KeyObject;
  /** base64url raw public key, as in `pub_key` */
  pubKey: string;
}

const HEX_HASH_RE = /^[0-9a-f]{64}$/;
const KINDS: ReadonlySet<string> = new Set(RECORD_KINDS);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function hasExactStringFields(v: unknown, fields: readonly string[]): boolean {
  return (
    isObject(v) &&
    Object.keys(v).length === fields.length &&
    fields.every((f) => typeof v[f] === 'string')
  );
}

/** The first field that makes `r` not a sealed record, or undefined. */
function malformedField(r: unknown): string | undefined {
  if (!isObject(r)) return '(root)';
  if (r.schema_version !== 1) return 'schema_version';
  if (typeof r.kind !== 'string' || !KINDS.has(r.kind)) return 'kind';
  if (r.space !== 'user' && r.space !== 'system') return 'space';
  for (const f of ['id', 'tenant', 'ts', 'sig', 'pub_key'] as const) {
    if (typeof r[f] !== 'string') return f;
  }
  if (typeof r.hash !== 'string' || !HEX_HASH_RE.test(r.hash)) return 'hash';
  if (r.prev !== null && (typeof r.prev !== 'string' || !HEX_HASH_RE.test(r.prev))) return 'prev';
  if (!Array.isArray(r.links) || !r.links.every((l) => hasExactStringFields(l, ['rel', 'id']))) {
    return 'links';
  }
  const witnessFields = ['witness_id', 'signature', 'timestamp', 'authority'];
  if (
    !Array.isArray(r.witnesses) ||
    !r.witnesses.every((w) => hasExactStringFields(w, witnessFields))
  ) {
    return 'witnesses';
  }
  return undefined;
}

/** The signature failure of a row. */
export function badSignature(seq: number, id: string): Failure {
  return {
    seq,
    code: 'signature_invalid',
    reason: `seq ${seq} (${id}): signature does not verify`,
  };
}

/** A sealed record's members in JCS order (see record-json.ts). */
const SEALED_KEYS = [
  'hash',
  'id',
  'kind',
  'links',
  'payload',
  'prev',
  'pub_key',
  'schema_version',
  'sig',
  'space',
  'tenant',
  'ts',
  'witnesses',
] as const;
/** Length of `{"hash":"<64 hex>",`, after which the body's head starts. */
const HEAD_AT = 9 + 64 + 2;
const SIG_KEY = ',"sig":';
const WITNESSES_KEY = ',"witnesses":';
const LINKS_KEY = ',"links":';
const PREV_KEY = ',"prev":';
const TS_KEY = ',"ts":';
/** What precedes `,"sig":` in a sealed record's text. */
const SCHEMA_MEMBER = ',"schema_version":1';

/**
 * Shows cheaply that `text` is canonicalJson(r) for `r` = JSON.parse(text) with exactly the sealed
 * members, in order (writtenCanonically; `text` is from a strict UTF-8 decode). False means only
 * "not shown": the caller then canonicalises in full.
 */
function shownCanonical(r: CanonicalRecord, text: string): boolean {
  const keys = Object.keys(r);
  if (keys.length !== SEALED_KEYS.length) return false;
  for (let i = 0; i < keys.length; i++) if (keys[i] !== SEALED_KEYS[i]) return false;
  return writtenCanonically(text);
}

/** Where text lies in a record's text: [start, end) pairs, flattened. */
type Pieces = number[];

/**
 * Where the body and the log entry lie in a canonical sealed record's text (sealedJson; the
 * entry is entryJson's members hash, id, kind | prev, pub_key | sig | ts, witnesses). A quote
 * inside a string is escaped, so `,"<name>":` is found only where a member starts: the first
 * `,"links":` is the record's own (only hash, id and kind precede it); past `sig` come only
 * string members and witnesses of string members, so the last `,"sig":` and `,"witnesses":` are,
 * and so are the last `,"prev":` before `sig` and `,"ts":` before witnesses.
 */
function cutCanonical(r: CanonicalRecord, text: string): { body: Pieces; entry: Pieces } {
  const end = text.length;
  const sigAt = text.lastIndexOf(SIG_KEY);
  const tailAt = sigAt + SIG_KEY.length + JSON.stringify(r.sig).length;
  const witnessesAt = text.lastIndexOf(WITNESSES_KEY);
  const prevAt = text.lastIndexOf(PREV_KEY, sigAt);
  const tsAt = text.lastIndexOf(TS_KEY, witnessesAt);
  return {
    body: [0, 1, HEAD_AT, sigAt, tailAt, witnessesAt, end - 1, end],
    entry: [
      0,
      text.indexOf(LINKS_KEY),
      prevAt,
      sigAt - SCHEMA_MEMBER.length,
      sigAt,
      tailAt,
      tsAt,
      end,
    ],
  };
}

function joinedText(text: string, pieces: Pieces): string {
  let out = '';
  for (let k = 0; k < pieces.length; k += 2) out += text.slice(pieces[k], pieces[k + 1]);
  return out;
}

/** Reused for every row: the pieces are hashed straight away. */
let scratch = new Uint8Array(4096);

/** `prefix` and the pieces' bytes joined in `scratch` (valid until the next call). */
function joinedBytes(bytes: Uint8Array, pieces: Pieces, prefix?: Uint8Array): Uint8Array {
  let length = prefix?.length ?? 0;
  for (let k = 0; k < pieces.length; k += 2) length += pieces[k + 1]! - pieces[k]!;
  if (scratch.length < length) scratch = new Uint8Array(2 * length);
  if (prefix !== undefined) scratch.set(prefix);
  for (let k = 0, at = prefix?.length ?? 0; k < pieces.length; k += 2) {
    scratch.set(bytes.subarray(pieces[k], pieces[k + 1]), at);
    at += pieces[k + 1]! - pieces[k]!;
  }
  return scratch.subarray(0, length);
}

function rowFailure(row: StoredRow, code: ValidationCode, reason: string): Failure {
  return { seq: row.seq, code, reason: `seq ${row.seq} (${row.id}): ${reason}` };
}

/** Checks one row but its signature; returns its failure, or the signature left to check. */
export function checkRowContent(keys: RowKeys, row: StoredRow): Failure | SignatureItem {
  let plain: Uint8Array;
  try {
    plain = decryptBody(keys.dataKey, row.seq, row.id, row.body);
  } catch {
    return rowFailure(row, 'decrypt_failed', 'body does not decrypt for this seq and id');
  }
  let text: string;
  let r: CanonicalRecord;
  try {
    text = utf8Decode(plain);
    r = JSON.parse(text) as CanonicalRecord;
  } catch {
    return rowFailure(row, 'hash_mismatch', 'record is not JSON');
  }
  const bad = malformedField(r);
  if (bad !== undefined)
    return rowFailure(row, 'hash_mismatch', `record field ${bad} is malformed`);
  if (r.id !== row.id) return rowFailure(row, 'hash_mismatch', 'id column differs from the record');
  if (r.hash !== row.hash) {
    return rowFailure(row, 'hash_mismatch', 'hash column differs from the record');
  }
  if (r.prev !== row.prev) {
    return rowFailure(row, 'chain_broken', 'prev column differs from the record');
  }
  if (r.kind !== row.kind || r.ts !== row.ts) {
    return rowFailure(row, 'hash_mismatch', 'kind or ts column differs from the record');
  }
  let leaf: Uint8Array;
  let bodyHash: string;
  if (shownCanonical(r, text)) {
    const { body, entry } = cutCanonical(r, text);
    // ASCII text (as long as its bytes) is its bytes: the pieces are hashed without encoding them.
    if (plain.length === text.length) {
      // leafHash's input joined in place: no second copy of the entry behind its prefix.
      leaf = sha256(joinedBytes(plain, entry, LEAF_PREFIX));
      bodyHash = sha256Hex(joinedBytes(plain, body));
    } else {
      leaf = leafHash(joinedText(text, entry));
      bodyHash = sha256Hex(joinedText(text, body));
    }
  } else {
    try {
      const parts = partsOf(r);
      const witnesses = witnessesJson(r.witnesses);
      if (sealedJson(parts, r.hash, r.sig, witnesses) !== text) {
        return rowFailure(row, 'hash_mismatch', 'record bytes are not its canonical form');
      }
      leaf = leafHash(entryJson(r, witnesses));
      bodyHash = sha256Hex(bodyJson(parts));
    } catch {
      return rowFailure(row, 'hash_mismatch', 'record is not canonicalisable');
    }
  }
  if (!constantTimeEqual(leaf, row.leaf_hash)) {
    return rowFailure(row, 'hash_mismatch', 'stored leaf hash does not match the record');
  }
  if (bodyHash !== r.hash) {
    return rowFailure(row, 'hash_mismatch', 'hash does not match the record body');
  }
  if (r.pub_key !== keys.pubKey) {
    return rowFailure(row, 'signature_invalid', 'signed by a key other than the log key');
  }
  let sig: Uint8Array;
  try {
    sig = fromBase64Url(r.sig);
  } catch {
    return rowFailure(row, 'signature_invalid', 'signature is not base64url');
  }
  if (sig.length !== 64) return rowFailure(row, 'signature_invalid', 'signature is not 64 bytes');
  return { seq: row.seq, hash: r.hash, sig };
}

/** Checks one row entirely; returns its failure or undefined when the row is whole. */
export function checkRow(keys: RowKeys, row: StoredRow): Failure | undefined {
  const checked = checkRowContent(keys, row);
  if ('code' in checked) return checked;
  return verify(keys.publicKey, recordSigningMessage(checked.hash), checked.sig)
    ? undefined
    : badSignature(row.seq, row.id);
}
