/** `sigil canon append|get|list`: write and read records of the canon log. */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { readyDrafts } from '../../canon/append.ts';
import { assertUserDraft, USER_DATA_KINDS } from '../../canon/views.ts';
import { RECORD_KINDS, type RecordDraft, type RecordKind } from '../../canon/record.ts';
import { isSigilError, SigilError } from '../../core/errors.ts';
import { intOption, withLogOptions } from '../context.ts';
import { counted, printResult } from '../output.ts';
import { callerFor, withRuntime, withTokenOption, type CallerOptions } from '../runtime-context.ts';

interface AppendOptions extends CallerOptions {
  file: string;
}

interface ListCliOptions extends CallerOptions {
  kind?: string;
  since?: string;
  limit?: string;
  cursor?: string;
}

/**
 * Parses NDJSON drafts (blank lines skipped). Every line is parsed and validated before
 * anything is written; the first bad line is reported as `line N: reason` ('bad_request', or
 * 'kind_reserved' for a draft of a kind only Sigil writes).
 */
export function parseDraftLines(text: string): RecordDraft[] {
  const drafts: unknown[] = [];
  const lineOf: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      drafts.push(JSON.parse(line));
    } catch {
      throw new SigilError('bad_request', `line ${i + 1}: not valid JSON`);
    }
    lineOf.push(i + 1);
  });
  try {
    // Validated here for line numbers; the runtime and the log check again on append.
    return readyDrafts(drafts).map(({ payloadJson: _payloadJson, ...draft }, index) => {
      try {
        assertUserDraft(draft);
      } catch (err) {
        throw new SigilError((err as SigilError).code, (err as SigilError).message, { index });
      }
      return draft;
    });
  } catch (err) {
    const index = isSigilError(err) ? err.details?.index : undefined;
    if (typeof index !== 'number') throw err;
    const e = err as SigilError;
    const code = e.code === 'kind_reserved' ? e.code : 'bad_request';
    throw new SigilError(code, `line ${lineOf[index]}: ${e.message}`, {
      line: lineOf[index],
      code: e.code,
    });
  }
}

function readInput(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new SigilError('bad_request', `cannot read ${file}: ${(err as Error).message}`);
  }
}

function registerAppend(canon: Command): void {
  withTokenOption(
    withLogOptions(
      canon
        .command('append')
        .description(
          'append NDJSON user records ({kind, tenant, space, payload, links?} per line; kind ' +
            `${USER_DATA_KINDS.join(', ')}) atomically, adjudicated as one canon.user.write decision`,
        )
        .requiredOption('--file <file>', 'NDJSON file, or - for stdin'),
    ),
  ).action(async (opts: AppendOptions) => {
    const drafts = parseDraftLines(readInput(opts.file));
    if (drafts.length === 0) throw new SigilError('bad_request', 'no records in the input');
    const result = await withRuntime(opts, async (runtime) => {
      const caller = await callerFor(runtime, opts);
      const started = performance.now();
      const { records, decision_id } = await runtime.records.writeMany(caller, drafts);
      const ms = performance.now() - started;
      return {
        decision_id,
        count: records.length,
        first_seq: records[0]!.seq,
        last_seq: records[records.length - 1]!.seq,
        ms: Math.round(ms),
        records_per_s: Math.round((records.length * 1000) / Math.max(ms, 0.001)),
      };
    });
    printResult(
      opts,
      `appended ${counted(result.count, 'record')} (seq ${result.first_seq}..${result.last_seq}) ` +
        `in ${result.ms} ms, ${result.records_per_s} records/s`,
      result,
    );
  });
}

function registerGet(canon: Command): void {
  withTokenOption(
    withLogOptions(
      canon
        .command('get')
        .description('print one record by id (its body only if you may read it)')
        .argument('<id>'),
    ),
  ).action(async (id: string, opts: CallerOptions) => {
    const record = await withRuntime(opts, async (runtime) =>
      runtime.records.get(await callerFor(runtime, opts), id),
    );
    printResult(opts, JSON.stringify(record, null, 2), record);
  });
}

function registerList(canon: Command): void {
  withTokenOption(
    withLogOptions(
      canon
        .command('list')
        .description('list records in log order (bodies only of the records you may read)')
        .option('--kind <kind>', `only this kind (${RECORD_KINDS.join(', ')})`)
        .option('--since <ts>', 'only records with ts at or after this RFC 3339 time')
        .option('--limit <n>', 'page size (1..1000, default 100)')
        .option('--cursor <cursor>', 'continue after a previous page'),
    ),
  ).action(async (opts: ListCliOptions) => {
    if (opts.kind !== undefined && !(RECORD_KINDS as readonly string[]).includes(opts.kind)) {
      throw new SigilError('bad_request', `unknown kind ${opts.kind}`);
    }
    const limit = intOption(opts.limit, '--limit');
    const page = await withRuntime(opts, async (runtime) =>
      runtime.records.list(await callerFor(runtime, opts), {
        ...(opts.kind !== undefined && { kind: opts.kind as RecordKind }),
        ...(opts.since !== undefined && { since: opts.since }),
        ...(limit !== undefined && { limit }),
        ...(opts.cursor !== undefined && { cursor: opts.cursor }),
      }),
    );
    const lines = page.records.map(
      (r) => `${r.seq}\t${r.id}\t${r.kind}\t${r.ts}\t${'tenant' in r ? r.tenant : '(envelope)'}`,
    );
    if (page.cursor !== undefined) lines.push(`(more: --cursor ${page.cursor})`);
    printResult(opts, lines.join('\n') || '(no records)', {
      records: page.records,
      next_cursor: page.cursor ?? null,
    });
  });
}

export function registerCanon(program: Command): void {
  const canon = program.command('canon').description('write and read canon records');
  registerAppend(canon);
  registerGet(canon);
  registerList(canon);
}
