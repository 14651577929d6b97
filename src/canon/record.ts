import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { canonicalBytes, canonicalJsonCopy, type JsonValue } from '../core/canonical.ts';
import {
  publicKeyFromRaw,
  publicKeyToRaw,
  sign,
  verify,
  type Ed25519KeyPair,
} from '../core/ed25519.ts';
import {
  concatBytes,
  fromBase64Url,
  fromHex,
  toBase64Url,
  toHex,
  utf8Encode,
} from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { recordSigningMessage } from './record-json.ts';
import { sha256 } from '../core/hash.ts';
import { randomBytes } from '../core/random.ts';

/**
 * CanonicalRecord: the unit of the log. A draft is validated, then sealed:
 * `hash` = hex SHA-256 of the RFC 8785 bytes of the body (the record without
 * hash, sig and witnesses — `pub_key` is inside, so the key is bound), `sig` =
 * Ed25519 over "sigil.record.v1\0" || hash bytes. Witnesses sign
 * "sigil.witness.v1\0" || hash bytes || canonical {witness_id, timestamp, authority}.
 */

export const RECORD_KINDS = [
  'user_data',
  'system_config',
  'audit_record',
  'decision',
  'decision_policy',
  'decision_input',
  'checkpoint',
  'model_config',
  'token_event',
  'session_event',
  'license_event',
  'witness_event',
  'consent_event',
  'delegation_event',
  'role_event',
  'holon_event',
  'quorum_event',
  'kernel_verdict',
  'governance_event',
  'memory_block',
  'rag_doc',
  'mcp_call',
] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

export interface Link {
  rel: string;
  id: string;
}

export interface Witness {
  witness_id: string;
  /** base64url Ed25519 signature */
  signature: string;
  timestamp: string;
  authority: string;
}

export interface CanonicalRecord {
  kind: RecordKind;
  schema_version: 1;
  id: string;
  tenant: string;
  /** RFC 3339 UTC */
  ts: string;
  space: 'user' | 'system';
  payload: JsonValue;
  links: Link[];
  /** hex hash of the previous record of the log; null for the first */
  prev: string | null;
  /** hex SHA-256 of the canonical body */
  hash: string;
  /** base64url Ed25519 signature */
  sig: string;
  /** base64url raw 32-byte Ed25519 public key */
  pub_key: string;
  witnesses: Witness[];
}

export type RecordBody = Omit<CanonicalRecord, 'hash' | 'sig' | 'witnesses'>;

export interface RecordDraft {
  kind: RecordKind;
  tenant: string;
  space: 'user' | 'system';
  payload: JsonValue;
  links?: Link[];
  id?: string;
  ts?: string;
}

export type RecordCheck =
  | { ok: true }
  | {
      ok: false;
      code: 'record_invalid' | 'hash_mismatch' | 'signature_invalid' | 'witness_invalid';
      reason: string;
    };

/** Default ceiling on a payload's canonical size. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
const MAX_LINKS = 64;
const MAX_WITNESSES = 64;
const WITNESS_DOMAIN = utf8Encode('sigil.witness.v1\0');
const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

const ID_RE = /^[A-Za-z0-9._:-]{1,256}$/;
const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;
const HEX_HASH_RE = /^[0-9a-f]{64}$/;
const SIG_RE = /^[A-Za-z0-9_-]{86}$/;
const PUB_KEY_RE = /^[A-Za-z0-9_-]{43}$/;

/** True for `YYYY-MM-DDTHH:MM:SS(.sss)?Z` naming a real instant (it round-trips through Date). */
export function isRfc3339Utc(ts: unknown): ts is string {
  if (typeof ts !== 'string' || !TS_RE.test(ts)) return false;
  const parsed = new Date(ts);
  if (Number.isNaN(parsed.getTime())) return false;
  return parsed.toISOString() === (ts.length === 20 ? `${ts.slice(0, 19)}.000Z` : ts);
}

/** Characters of a record id's creation time (48 bits of ms, most significant first). */
const ID_TIME_CHARS = 10;

/**
 * A fresh unique record id: `rec_` + 26 base32 characters, the creation time in ms (10) then 80
 * random bits (16). Ids made close in time share a prefix, so a batch's ids land in a page or two
 * of the store's id index instead of one page each (random ids dirtied an index page per record
 * in every commit). The time is no secret: `ts` is in every log entry.
 */
export function newRecordId(): string {
  let out = 'rec_';
  const ms = Date.now();
  for (let k = ID_TIME_CHARS - 1; k >= 0; k--) {
    out += BASE32_ALPHABET[Math.floor(ms / 32 ** k) % 32];
  }
  let bits = 0;
  let acc = 0;
  for (const byte of randomBytes(10)) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32_ALPHABET[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

const tsSchema = z
  .string()
  .refine(isRfc3339Utc, 'must be RFC 3339 UTC (YYYY-MM-DDTHH:MM:SS(.sss)Z)');
const linkSchema = z.strictObject({
  rel: z.string().min(1).max(64),
  id: z.string().min(1).max(256),
});
/** Presence only: canonicalJson decides what JSON is (see payloadText). */
const payloadSchema = z.custom<JsonValue>((v) => v !== undefined, 'is required');
const common = {
  kind: z.enum(RECORD_KINDS),
  tenant: z.string().min(1).max(128),
  space: z.enum(['user', 'system']),
  payload: payloadSchema,
};
const draftSchema = z.strictObject({
  ...common,
  id: z.string().regex(ID_RE, 'must be 1..256 of [A-Za-z0-9._:-]').optional(),
  ts: tsSchema.optional(),
  links: z.array(linkSchema).max(MAX_LINKS).optional(),
});
const witnessSchema = z.strictObject({
  witness_id: z.string().min(1).max(256),
  signature: z.string().regex(SIG_RE, 'must be a base64url Ed25519 signature'),
  timestamp: tsSchema,
  authority: z.string().min(1).max(256),
});
const recordSchema = z.strictObject({
  ...common,
  schema_version: z.literal(1),
  id: z.string().regex(ID_RE, 'must be 1..256 of [A-Za-z0-9._:-]'),
  ts: tsSchema,
  links: z.array(linkSchema).max(MAX_LINKS),
  prev: z.string().regex(HEX_HASH_RE, 'must be 64 lowercase hex').nullable(),
  hash: z.string().regex(HEX_HASH_RE, 'must be 64 lowercase hex'),
  sig: z.string().regex(SIG_RE, 'must be a base64url Ed25519 signature'),
  pub_key: z.string().regex(PUB_KEY_RE, 'must be a base64url Ed25519 public key'),
  witnesses: z.array(witnessSchema).max(MAX_WITNESSES),
});

/** Runs a schema; the first issue becomes SigilError('record_invalid') naming the field. */
function parseWith<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  let result: ReturnType<typeof schema.safeParse>;
  try {
    result = schema.safeParse(input);
  } catch {
    throw new SigilError('record_invalid', `${what} could not be validated`, { field: '' });
  }
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = [...issue.path];
  if (issue.code === 'unrecognized_keys') path.push(issue.keys[0] ?? '');
  const field = path.map(String).join('.');
  const message = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
  throw new SigilError('record_invalid', `${what} field ${field || '(root)'}: ${message}`, {
    field,
  });
}

/**
 * The payload's canonical text, within `limit` UTF-8 bytes ('payload_too_large'), and its copy. The text has
 * no lone surrogate (canonicalJson refuses one), so its byte length is its UTF-8 encoding's,
 * counted without encoding it.
 */
function payloadText(payload: JsonValue, limit: number): { text: string; copy: JsonValue } {
  let text: string;
  let copy: JsonValue;
  try {
    ({ text, copy } = canonicalJsonCopy(payload));
  } catch (err) {
    const why = err instanceof Error ? err.message : 'not JSON';
    throw new SigilError('record_invalid', `record field payload: ${why}`, { field: 'payload' });
  }
  const size = Buffer.byteLength(text, 'utf8');
  if (size > limit) {
    throw new SigilError(
      'payload_too_large',
      `payload is ${size} bytes canonical, over the ${limit}-byte limit`,
      { field: 'payload', limit, size },
    );
  }
  return { text, copy };
}

/**
 * Validates untrusted input as a record draft and fills the defaults (a fresh
 * id, the current time, no links). The payload comes back as a fresh copy of
 * its canonical form, so later changes by the caller cannot reach the record;
 * `payloadJson` is that canonical text, so sealing need not canonicalise it again.
 */
export function readRecordDraft(
  input: unknown,
  opts: { maxPayloadBytes?: number } = {},
): { draft: RecordDraft & { id: string; ts: string; links: Link[] }; payloadJson: string } {
  const draft = parseWith(draftSchema, input, 'record');
  const { text: payloadJson, copy: payload } = payloadText(
    draft.payload,
    opts.maxPayloadBytes ?? MAX_PAYLOAD_BYTES,
  );
  return {
    draft: {
      kind: draft.kind,
      id: draft.id ?? newRecordId(),
      tenant: draft.tenant,
      ts: draft.ts ?? new Date().toISOString(),
      space: draft.space,
      payload,
      links: (draft.links ?? []).map((l) => ({ rel: l.rel, id: l.id })),
    },
    payloadJson,
  };
}

/** Validates untrusted input as a record draft (see {@link readRecordDraft}). */
export function parseRecordDraft(
  input: unknown,
  opts: { maxPayloadBytes?: number } = {},
): RecordDraft & { id: string; ts: string; links: Link[] } {
  return readRecordDraft(input, opts).draft;
}

/** The signed part of a record (everything but hash, sig and witnesses). */
export function recordBody(record: RecordBody): RecordBody {
  return {
    kind: record.kind,
    schema_version: record.schema_version,
    id: record.id,
    tenant: record.tenant,
    ts: record.ts,
    space: record.space,
    payload: record.payload,
    links: record.links,
    prev: record.prev,
    pub_key: record.pub_key,
  };
}

/** hex SHA-256 of the body's canonical bytes: the record's hash. */
export function recordHash(body: RecordBody): string {
  return toHex(sha256(canonicalBytes(recordBody(body))));
}

function witnessMessage(hash: Uint8Array, w: Omit<Witness, 'signature'>): Uint8Array {
  const meta = { witness_id: w.witness_id, timestamp: w.timestamp, authority: w.authority };
  return concatBytes(WITNESS_DOMAIN, hash, canonicalBytes(meta));
}

/**
 * Seals a draft into a signed record chained to `prev`. The draft is validated
 * (without a payload size limit: that is the caller's input policy); witnesses
 * are attached as given and are not covered by the hash.
 */
export function sealRecord(
  draft: RecordDraft,
  prev: string | null,
  signer: Ed25519KeyPair,
  witnesses: Witness[] = [],
): CanonicalRecord {
  const d = parseRecordDraft(draft, { maxPayloadBytes: Number.POSITIVE_INFINITY });
  if (prev !== null && (typeof prev !== 'string' || !HEX_HASH_RE.test(prev))) {
    throw new SigilError('record_invalid', 'record field prev: must be 64 lowercase hex or null', {
      field: 'prev',
    });
  }
  const checkedWitnesses = parseWith(
    z.array(witnessSchema).max(MAX_WITNESSES),
    witnesses,
    'witnesses',
  );
  const body: RecordBody = {
    kind: d.kind,
    schema_version: 1,
    id: d.id,
    tenant: d.tenant,
    ts: d.ts,
    space: d.space,
    payload: d.payload,
    links: d.links,
    prev,
    pub_key: toBase64Url(publicKeyToRaw(signer.publicKey)),
  };
  const hash = recordHash(body);
  const sig = toBase64Url(sign(signer.privateKey, recordSigningMessage(hash)));
  return { ...body, hash, sig, witnesses: checkedWitnesses };
}

/** A witness's signature over a record hash and its own {witness_id, timestamp, authority}. */
export function signWitness(
  recordHash: string,
  privateKey: KeyObject,
  w: { witness_id: string; timestamp: string; authority: string },
): Witness {
  if (typeof recordHash !== 'string' || !HEX_HASH_RE.test(recordHash)) {
    throw new SigilError('bad_request', 'record hash must be 64 lowercase hex');
  }
  const meta = parseWith(witnessSchema.omit({ signature: true }), w, 'witness');
  const signature = toBase64Url(sign(privateKey, witnessMessage(fromHex(recordHash), meta)));
  return {
    witness_id: meta.witness_id,
    signature,
    timestamp: meta.timestamp,
    authority: meta.authority,
  };
}

/** True when `witness` signed `recordHash` with `publicKey`; never throws. */
export function verifyWitness(recordHash: string, witness: Witness, publicKey: KeyObject): boolean {
  try {
    const w = witnessSchema.parse(witness);
    if (!HEX_HASH_RE.test(recordHash)) return false;
    const message = witnessMessage(fromHex(recordHash), w);
    return verify(publicKey, message, fromBase64Url(w.signature));
  } catch {
    return false;
  }
}

/**
 * Checks a sealed record: its shape, its hash, its signature by `pub_key`, and
 * its witnesses. With `trustedWitnessKeys`, every witness must be in the map
 * and verify; without it, witnesses are checked for shape only.
 */
export function verifyRecord(
  record: CanonicalRecord,
  opts: { trustedWitnessKeys?: Map<string, KeyObject> } = {},
): RecordCheck {
  let r: CanonicalRecord;
  let pubKey: KeyObject;
  try {
    r = parseWith(recordSchema, record, 'record');
    pubKey = publicKeyFromRaw(fromBase64Url(r.pub_key));
  } catch (err) {
    return { ok: false, code: 'record_invalid', reason: (err as Error).message };
  }
  let hash: string;
  try {
    hash = recordHash(r);
  } catch {
    return { ok: false, code: 'record_invalid', reason: 'record body is not canonicalisable' };
  }
  if (hash !== r.hash) {
    return { ok: false, code: 'hash_mismatch', reason: `record ${r.id}: hash does not match body` };
  }
  const message = recordSigningMessage(r.hash);
  if (!verify(pubKey, message, fromBase64Url(r.sig))) {
    return { ok: false, code: 'signature_invalid', reason: `record ${r.id}: signature invalid` };
  }
  const seen = new Set<string>();
  for (const w of r.witnesses) {
    if (seen.has(w.witness_id)) {
      return { ok: false, code: 'witness_invalid', reason: `witness ${w.witness_id} repeated` };
    }
    seen.add(w.witness_id);
    if (!opts.trustedWitnessKeys) continue;
    const key = opts.trustedWitnessKeys.get(w.witness_id);
    if (!key) {
      return { ok: false, code: 'witness_invalid', reason: `witness ${w.witness_id} not trusted` };
    }
    if (!verifyWitness(r.hash, w, key)) {
      return {
        ok: false,
        code: 'witness_invalid',
        reason: `witness ${w.witness_id}: signature invalid`,
      };
    }
  }
  return { ok: true };
}

/**
 * The log format: 1 put the whole sealed record under each Merkle leaf; 2 puts the record's
 * public envelope there ({@link leafEntry}), so entry bundles can be served without payloads.
 */
export const LOG_FORMAT = 2;

/** A record's log entry: the public envelope the leaf commits to (no payload, tenant or links). */
export interface LogEntry {
  hash: string;
  id: string;
  kind: RecordKind;
  prev: string | null;
  pub_key: string;
  sig: string;
  ts: string;
  witnesses: Witness[];
}

/** The log entry of a sealed record. Extra fields are ignored. */
export function logEntry(record: CanonicalRecord): LogEntry {
  return {
    hash: record.hash,
    id: record.id,
    kind: record.kind,
    prev: record.prev,
    pub_key: record.pub_key,
    sig: record.sig,
    ts: record.ts,
    witnesses: record.witnesses,
  };
}

/** Canonical bytes of a record's log entry — the Merkle leaf input (format 2). */
export function leafEntry(record: CanonicalRecord): Uint8Array {
  return canonicalBytes(logEntry(record));
}

/** Canonical bytes of the whole sealed record — what is encrypted at rest. Extra fields are ignored. */
export function recordBytes(record: CanonicalRecord): Uint8Array {
  return canonicalBytes({
    ...recordBody(record),
    hash: record.hash,
    sig: record.sig,
    witnesses: record.witnesses,
  });
}
