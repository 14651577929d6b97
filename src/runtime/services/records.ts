/**
 * Reading canon records through the read-confidentiality table (read-access.ts): each read is
 * adjudicated and sealed as `canon.read` (target `canon/records/<id>` for one record,
 * `canon/records` for a page, whose bodies follow from the table and the log), and a body is
 * shown only to its readers.
 */
import type { JsonValue } from '../../core/canonical.ts';
import { SigilError, isSigilError } from '../../core/errors.ts';
import type { SealedRecord } from '../../canon/log.ts';
import type { Link, RecordDraft, RecordKind } from '../../canon/record.ts';
import { assertUserDraft } from '../../canon/views.ts';
import type { TrustModel } from '../../policy/index.ts';
import type { Proposal } from '../../quorum/index.ts';
import type { RuntimeCore } from '../core.ts';
import type { Caller } from '../decide.ts';
import { viewFor, type ReadContext, type RecordView } from '../read-access.ts';
import { propose } from './system-changes.ts';

export interface RecordViewPage {
  records: RecordView[];
  cursor?: string;
}

/** The read context of one request: each linked decision is read once. */
function readContext(core: RuntimeCore, operator: string | undefined): ReadContext {
  const seen = new Map<string, ReturnType<ReadContext['lookup']>>();
  return {
    operator,
    lookup: (id) => {
      let found = seen.get(id);
      if (found === undefined) {
        found = core.log.get(id);
        seen.set(id, found);
      }
      return found;
    },
  };
}

/** One record by id, its body only for its readers ('record_not_found'). */
export async function readRecord(
  core: RuntimeCore,
  caller: Caller,
  id: string,
  operator: string | undefined,
): Promise<RecordView> {
  await core.require(caller, { action: 'canon.read', target: `canon/records/${id}` });
  const record = await core.log.get(id);
  const lookup = readContext(core, operator);
  if (record === undefined) throw new SigilError('record_not_found', `no record with id ${id}`);
  return viewFor(caller, record, lookup);
}

/** A page of records in log order, each body only for its readers. */
export async function listRecordViews(
  core: RuntimeCore,
  caller: Caller,
  opts: { kind?: RecordKind; since?: string; limit?: number; cursor?: string },
  operator: string | undefined,
): Promise<RecordViewPage> {
  await core.require(caller, { action: 'canon.read', target: 'canon/records' });
  const page = await core.log.list(opts);
  const lookup = readContext(core, operator);
  const records = await Promise.all(page.records.map((r) => viewFor(caller, r, lookup)));
  return page.cursor === undefined ? { records } : { records, cursor: page.cursor };
}

/** One export: the sealed decision that allowed it, and its pages. */
export interface RecordExport {
  decision_id: string;
  /** Up to `limit` records after seq `after` (all from the start when undefined), each as `reader` may see it. */
  page: (reader: Caller, after: number | undefined, limit: number) => Promise<RecordView[]>;
}

/**
 * An export stream (`sigil export`): adjudicated and sealed once, as a `canon.read` of
 * `canon/records`, then read page by page straight from the log. A decision per page would
 * itself be a record to export, so a follower would seal one per poll, forever. The surface
 * re-authenticates the reader before each page, so a revoked credential stops the stream.
 */
export async function openRecordExport(
  core: RuntimeCore,
  caller: Caller,
  operator: string | undefined,
): Promise<RecordExport> {
  const d = await core.require(caller, { action: 'canon.read', target: 'canon/records' });
  return {
    decision_id: d.decision_id,
    page: async (reader, after, limit) => {
      if (reader.subject !== caller.subject) {
        throw new SigilError('forbidden', 'the export reads as the caller it was opened for');
      }
      const { records } = await core.log.list({
        limit,
        ...(after !== undefined && { cursor: String(after) }),
      });
      const lookup = readContext(core, operator);
      return Promise.all(records.map((r) => viewFor(reader, r, lookup)));
    },
  };
}

/** A user-space write; a system-space write becomes a quorum proposal, never a direct write. */
export async function writeRecord(
  core: RuntimeCore,
  model: TrustModel,
  caller: Caller,
  input: {
    id?: string;
    kind?: RecordKind;
    payload: JsonValue;
    links?: Link[];
    space?: 'user' | 'system';
  },
): Promise<{ record?: SealedRecord; proposal?: Proposal; decision_id: string }> {
  const kind = input.kind ?? 'user_data';
  assertUserDraft({ kind });
  if (input.space === 'system') {
    return propose(core, caller, { write: input.payload, id: input.id ?? null }, model);
  }
  // The record is sealed with its decision, one durable commit for both.
  const { decision, records } = await core.requireAndAppend(
    caller,
    {
      action: 'canon.user.write',
      target: `canon/user/${input.id ?? 'new'}`,
      payload: input.payload,
    },
    (decisionId) => [
      {
        kind,
        payload: input.payload,
        extra: {
          links: [...(input.links ?? []), { rel: 'decision', id: decisionId }],
          ...(input.id !== undefined ? { id: input.id } : {}),
        },
      },
    ],
  );
  return { record: records[0]!, decision_id: decision.decision_id };
}

/**
 * User-data records in one transaction (`sigil canon append`), adjudicated as one
 * `canon.user.write` decision that each record links to. A governing kind or the system space
 * anywhere is 'kind_reserved' (details.index names the draft) and nothing is written.
 */
export async function writeRecords(
  core: RuntimeCore,
  caller: Caller,
  drafts: readonly RecordDraft[],
): Promise<{ records: SealedRecord[]; decision_id: string }> {
  drafts.forEach((draft, index) => {
    try {
      assertUserDraft(draft);
    } catch (err) {
      if (!isSigilError(err)) throw err;
      throw new SigilError(err.code, err.message, { ...err.details, index });
    }
  });
  const d = await core.require(caller, {
    action: 'canon.user.write',
    target: 'canon/user/batch',
    payload: { records: drafts.length },
  });
  const records = await core.log.appendMany(
    drafts.map((draft) => ({
      ...draft,
      links: [...(draft.links ?? []), { rel: 'decision', id: d.decision_id }],
    })),
  );
  return { records, decision_id: d.decision_id };
}

/**
 * The records room (`runtime.records`): user-data writes and confidential reads of the canon.
 * `operator` is the licensed operator's subject (the writer of records sealed with the log key).
 */
export function recordsService(
  core: RuntimeCore,
  model: () => TrustModel,
  operator: () => string | undefined,
) {
  return {
    write: (
      caller: Caller,
      input: Parameters<typeof writeRecord>[3],
    ): Promise<{ record?: SealedRecord; proposal?: Proposal; decision_id: string }> =>
      writeRecord(core, model(), caller, input),
    writeMany: (
      caller: Caller,
      drafts: readonly RecordDraft[],
    ): Promise<{ records: SealedRecord[]; decision_id: string }> =>
      writeRecords(core, caller, drafts),
    /** One record: its body for its readers (read-access.ts), else its public envelope. */
    get: (caller: Caller, id: string): Promise<RecordView> =>
      readRecord(core, caller, id, operator()),
    /** A page of records, each body only for its readers. */
    list: (
      caller: Caller,
      opts: { kind?: RecordKind; since?: string; limit?: number; cursor?: string },
    ): Promise<RecordViewPage> => listRecordViews(core, caller, opts, operator()),
    /** An export stream: one sealed canon.read, then pages of records as the reader may see them. */
    openExport: (caller: Caller): Promise<RecordExport> =>
      openRecordExport(core, caller, operator()),
  };
}
export type RecordsService = ReturnType<typeof recordsService>;
