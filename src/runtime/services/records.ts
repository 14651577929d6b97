/**
 * Reading canon records through the read-confidentiality table (read-access.ts): each read is
 * adjudicated and sealed as `canon.read` (target `canon/records/<id>` for one record,
 * `canon/records` for a page, whose bodies follow from the table and the log), and a body is
 * shown only to its readers.
 */
import type { RecordKind } from '../../canon/record.ts';
import { SigilError } from '../../core/errors.ts';
import type { RuntimeCore } from '../core.ts';
import type { Caller } from '../decide.ts';
import { viewFor, type ReadContext, type RecordView } from '../read-access.ts';

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
