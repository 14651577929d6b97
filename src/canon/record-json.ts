/**
 * The RFC 8785 text of a record assembled from its canonical parts, so the payload is
 * canonicalised once and serves both the body (hashed, signed) and the whole sealed record
 * (the Merkle leaf input, the encrypted body). Keys sort as: hash, id, kind, links, payload,
 * prev, pub_key, schema_version, sig, space, tenant, ts, witnesses — so the body is `head` and
 * `tail`, and the sealed record interleaves hash, sig and witnesses around them.
 *
 * record.ts remains the definition: the log checks a record sealed this way against
 * verifyRecord/recordBytes before its first write, and refuses to run if they disagree.
 */
import { canonicalJson, type JsonValue } from '../core/canonical.ts';
import { concatBytes, fromHex, utf8Encode } from '../core/encoding.ts';
import { sha256Hex } from '../core/hash.ts';
import type { CanonicalRecord, Link, RecordKind, Witness } from './record.ts';

/** The record domain of record.ts: the signature covers "sigil.record.v1\0" || hash bytes. */
export const RECORD_DOMAIN = utf8Encode('sigil.record.v1\0');

/** The fields of a record body, with the payload already in canonical text. */
export interface BodyFields {
  id: string;
  kind: RecordKind;
  links: Link[];
  payloadJson: string;
  prev: string | null;
  pub_key: string;
  space: 'user' | 'system';
  tenant: string;
  ts: string;
}

/** The body's canonical members before and after the point where `sig` sorts in. */
export interface RecordJsonParts {
  head: string;
  tail: string;
}

/** Splits a body into its canonical members ('not_canonicalizable' for bad strings). */
export function recordJsonParts(f: BodyFields): RecordJsonParts {
  const head =
    `"id":${canonicalJson(f.id)},"kind":${canonicalJson(f.kind)},"links":${canonicalJson(f.links)},` +
    `"payload":${f.payloadJson},"prev":${canonicalJson(f.prev)},"pub_key":${canonicalJson(f.pub_key)},` +
    `"schema_version":1`;
  const tail = `"space":${canonicalJson(f.space)},"tenant":${canonicalJson(f.tenant)},"ts":${canonicalJson(f.ts)}`;
  return { head, tail };
}

/** Canonical text of the body (what `hash` is the SHA-256 of). */
export function bodyJson(p: RecordJsonParts): string {
  return `{${p.head},${p.tail}}`;
}

/** Canonical text of the whole sealed record (what recordBytes returns, as a string). */
export function sealedJson(
  p: RecordJsonParts,
  hash: string,
  sig: string,
  witnessesJson: string,
): string {
  return `{"hash":${canonicalJson(hash)},${p.head},"sig":${canonicalJson(sig)},${p.tail},"witnesses":${witnessesJson}}`;
}

/**
 * The sealed text of a record without witnesses, split where its base64url signature goes:
 * `before + sig + after` is sealedJson(p, hash, sig, '[]') (a base64url string needs no escape).
 */
export function sealedJsonAroundSig(p: RecordJsonParts, hash: string): [string, string] {
  return [`{"hash":${canonicalJson(hash)},${p.head},"sig":"`, `",${p.tail},"witnesses":[]}`];
}

/** A log entry without witnesses split the same way: `before + sig + after` is entryJson(…, '[]'). */
export function entryJsonAroundSig(e: {
  hash: string;
  id: string;
  kind: RecordKind;
  prev: string | null;
  pub_key: string;
  ts: string;
}): [string, string] {
  return [
    `{"hash":${canonicalJson(e.hash)},"id":${canonicalJson(e.id)},"kind":${canonicalJson(e.kind)},` +
      `"prev":${canonicalJson(e.prev)},"pub_key":${canonicalJson(e.pub_key)},"sig":"`,
    `","ts":${canonicalJson(e.ts)},"witnesses":[]}`,
  ];
}

/**
 * Canonical text of a record's log entry (format 2): its public envelope, what the Merkle leaf
 * commits to and what entry bundles serve. Keys sort as hash, id, kind, prev, pub_key, sig, ts,
 * witnesses; the payload stays committed through `hash`.
 */
export function entryJson(
  e: {
    hash: string;
    id: string;
    kind: RecordKind;
    prev: string | null;
    pub_key: string;
    sig: string;
    ts: string;
  },
  witnessesJson: string,
): string {
  return (
    `{"hash":${canonicalJson(e.hash)},"id":${canonicalJson(e.id)},"kind":${canonicalJson(e.kind)},` +
    `"prev":${canonicalJson(e.prev)},"pub_key":${canonicalJson(e.pub_key)},"sig":${canonicalJson(e.sig)},` +
    `"ts":${canonicalJson(e.ts)},"witnesses":${witnessesJson}}`
  );
}

/** hex SHA-256 of the body text: the record hash. */
export function hashBody(p: RecordJsonParts): string {
  return sha256Hex(bodyJson(p));
}

/** The message the log key signs for a record hash. */
export function recordSigningMessage(hash: string): Uint8Array {
  return concatBytes(RECORD_DOMAIN, fromHex(hash));
}

/** The parts of a decoded record, canonicalising each field of it. */
export function partsOf(r: CanonicalRecord): RecordJsonParts {
  return recordJsonParts({ ...r, payloadJson: canonicalJson(r.payload as JsonValue) });
}

/** The canonical text of a record's witnesses. */
export function witnessesJson(witnesses: Witness[]): string {
  return canonicalJson(witnesses);
}
