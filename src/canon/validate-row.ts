/**
 * The check of one stored row, independent of every other row: the body decrypts under
 * (seq, id); the plaintext is the canonical sealed record whose log entry's leaf hash is the stored one; the
 * clear columns equal the record's fields; the hash covers the body; the log key signed the
 * hash. The signature check, the costly part, can be left to a VerifyPool.
 */
import type { KeyObject } from 'node:crypto';
import { verify } from '../core/ed25519.ts';
import { constantTimeEqual, fromBase64Url, utf8Decode, utf8Encode } from '../core/encoding.ts';
import { decryptBody } from './envelope.ts';
import { leafHash } from './merkle.ts';
import {
  entryJson,
  hashBody,
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

/** Checks one row but its signature; returns its failure, or the signature left to check. */
export function checkRowContent(keys: RowKeys, row: StoredRow): Failure | SignatureItem {
  const fail = (code: ValidationCode, reason: string): Failure => ({
    seq: row.seq,
    code,
    reason: `seq ${row.seq} (${row.id}): ${reason}`,
  });
  let plain: Uint8Array;
  try {
    plain = decryptBody(keys.dataKey, row.seq, row.id, row.body);
  } catch {
    return fail('decrypt_failed', 'body does not decrypt for this seq and id');
  }
  let text: string;
  let r: CanonicalRecord;
  try {
    text = utf8Decode(plain);
    r = JSON.parse(text) as CanonicalRecord;
  } catch {
    return fail('hash_mismatch', 'record is not JSON');
  }
  const bad = malformedField(r);
  if (bad !== undefined) return fail('hash_mismatch', `record field ${bad} is malformed`);
  if (r.id !== row.id) return fail('hash_mismatch', 'id column differs from the record');
  if (r.hash !== row.hash) return fail('hash_mismatch', 'hash column differs from the record');
  if (r.prev !== row.prev) return fail('chain_broken', 'prev column differs from the record');
  if (r.kind !== row.kind || r.ts !== row.ts) {
    return fail('hash_mismatch', 'kind or ts column differs from the record');
  }
  let parts;
  try {
    parts = partsOf(r);
    if (sealedJson(parts, r.hash, r.sig, witnessesJson(r.witnesses)) !== text) {
      return fail('hash_mismatch', 'record bytes are not its canonical form');
    }
  } catch {
    return fail('hash_mismatch', 'record is not canonicalisable');
  }
  const entry = entryJson(r, witnessesJson(r.witnesses));
  if (!constantTimeEqual(leafHash(utf8Encode(entry)), row.leaf_hash)) {
    return fail('hash_mismatch', 'stored leaf hash does not match the record');
  }
  if (hashBody(parts) !== r.hash)
    return fail('hash_mismatch', 'hash does not match the record body');
  if (r.pub_key !== keys.pubKey)
    return fail('signature_invalid', 'signed by a key other than the log key');
  let sig: Uint8Array;
  try {
    sig = fromBase64Url(r.sig);
  } catch {
    return fail('signature_invalid', 'signature is not base64url');
  }
  if (sig.length !== 64) return fail('signature_invalid', 'signature is not 64 bytes');
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
