/**
 * Who may read a record's body: the one table of read confidentiality, used by every surface
 * that shows records (HTTP, CLI, the decision list). Everyone else sees the public envelope only,
 * which is enough to verify the record's inclusion and nothing of its payload.
 *
 * The reader of a kind is found from the sealed record itself (the memory block's owner, the
 * decision's caller) or, for user data, from the decision that authorised the write, never from
 * the request. Reading everything needs the explicit `canon.audit` token scope: no level of
 * access implies it, Root's included (Root reads the governing kinds, not other subjects' data).
 */
import { leafHash } from '../canon/merkle.ts';
import { leafEntry, type RecordKind } from '../canon/record.ts';
import type { SealedRecord } from '../canon/log.ts';
import type { JsonValue } from '../core/canonical.ts';
import { toHex } from '../core/encoding.ts';
import type { Caller } from './decide.ts';

/**
 * Whose the body is: the owner of a memory block, the caller a decision or call concerns, the
 * writer of user data, or Root's (the governing kinds: tokens, consent, witnesses, proposals,
 * approvals and the like, which verified Root reads).
 */
export type BodyReader = 'owner' | 'concerned' | 'writer' | 'root';

/** The table: for each record kind, who may read its body (besides an auditor). */
export const BODY_READERS: Readonly<Record<RecordKind, BodyReader>> = Object.freeze({
  memory_block: 'owner',
  decision: 'concerned',
  mcp_call: 'concerned',
  user_data: 'writer',
  audit_record: 'writer',
  rag_doc: 'writer',
  token_event: 'root',
  session_event: 'root',
  license_event: 'root',
  witness_event: 'root',
  consent_event: 'root',
  delegation_event: 'root',
  role_event: 'root',
  quorum_event: 'root',
  governance_event: 'root',
  holon_event: 'root',
  kernel_verdict: 'root',
  system_config: 'root',
  model_config: 'root',
  decision_policy: 'root',
  decision_input: 'root',
  checkpoint: 'root',
});

/** The token scope that reads every body. It is never implied: `*` patterns do not grant it. */
export const AUDIT_SCOPE = 'canon.audit';

/** A record's public envelope: what anyone who may list records sees. */
export interface RecordEnvelope {
  seq: number;
  id: string;
  kind: RecordKind;
  ts: string;
  hash: string;
  prev: string | null;
  sig: string;
  pub_key: string;
  leaf_hash: string;
}

/** A record as shown: the whole record, or its envelope, with the leaf hash either way. */
export type RecordView = (SealedRecord & { leaf_hash: string }) | RecordEnvelope;

/** Looks a record up by id (to find the writer of user data from its decision). */
export type RecordLookup = (id: string) => Promise<SealedRecord | undefined>;

/**
 * What finding a body's reader needs beyond the record: a lookup for the decision a write links
 * to, and the runtime's licensed operator, the writer of user data appended straight to the log
 * with its key (`sigil canon append`), which links no decision.
 */
export interface ReadContext {
  lookup: RecordLookup;
  operator: string | undefined;
}

/** True when the caller holds the explicit audit grant. */
export function isAuditor(caller: Caller): boolean {
  return caller.verified && (caller.scopes ?? []).includes(AUDIT_SCOPE);
}

function field(value: JsonValue | undefined, name: string): JsonValue | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return Object.hasOwn(value, name) ? value[name] : undefined;
}

/** The subject of the decision record `record`, or undefined when it is not one. */
function decisionSubject(record: SealedRecord | undefined): string | undefined {
  if (record?.kind !== 'decision') return undefined;
  const subject = field(field(record.payload, 'caller'), 'subject');
  return typeof subject === 'string' ? subject : undefined;
}

/**
 * The subject whose body this is (undefined for Root's kinds, or when it cannot be shown). For
 * user data it is the caller of the decision the runtime linked last, which must precede the
 * record and have allowed it; with no decision linked, the operator who holds the log key.
 */
export async function bodyOwner(
  record: SealedRecord,
  ctx: ReadContext,
): Promise<string | undefined> {
  switch (BODY_READERS[record.kind]) {
    case 'owner': {
      const owner = field(record.payload, 'owner');
      return typeof owner === 'string' ? owner : undefined;
    }
    case 'concerned': {
      if (record.kind === 'decision') return decisionSubject(record);
      const caller = field(record.payload, 'caller');
      return typeof caller === 'string' ? caller : undefined;
    }
    case 'writer': {
      const link = record.links.findLast((l) => l.rel === 'decision');
      if (link === undefined) return ctx.operator;
      const decision = await ctx.lookup(link.id);
      if (decision === undefined || decision.seq >= record.seq) return undefined;
      const verdict = field(field(decision.payload, 'decision'), 'verdict');
      return verdict === 'allow' ? decisionSubject(decision) : undefined;
    }
    case 'root':
      return undefined;
  }
}

/**
 * The rule of the table, for a body of `kind` whose subject is `owner` (undefined: Root's kinds,
 * or none found): an auditor reads every body, verified Root the governing kinds, and everyone
 * else, Root included, only bodies that are its own.
 */
export function mayReadKind(caller: Caller, kind: RecordKind, owner: string | undefined): boolean {
  if (isAuditor(caller)) return true;
  if (!caller.verified) return false;
  if (BODY_READERS[kind] === 'root') return caller.loa === 'root';
  return owner !== undefined && owner === caller.subject;
}

/** True when `caller` may read the body of `record` (see the table). */
export async function mayReadBody(
  caller: Caller,
  record: SealedRecord,
  ctx: ReadContext,
): Promise<boolean> {
  if (isAuditor(caller)) return true; // without looking up whose it is
  return mayReadKind(caller, record.kind, await bodyOwner(record, ctx));
}

/** The record's leaf hash (hex): what an inclusion proof starts from. */
export function recordLeafHash(record: SealedRecord): string {
  return toHex(leafHash(leafEntry(record)));
}

/** The public envelope of a record. */
export function envelopeOf(record: SealedRecord): RecordEnvelope {
  return {
    seq: record.seq,
    id: record.id,
    kind: record.kind,
    ts: record.ts,
    hash: record.hash,
    prev: record.prev,
    sig: record.sig,
    pub_key: record.pub_key,
    leaf_hash: recordLeafHash(record),
  };
}

/** The record as `caller` may see it. */
export async function viewFor(
  caller: Caller,
  record: SealedRecord,
  ctx: ReadContext,
): Promise<RecordView> {
  return (await mayReadBody(caller, record, ctx))
    ? { ...record, leaf_hash: recordLeafHash(record) }
    : envelopeOf(record);
}
