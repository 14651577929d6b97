/**
 * What the runtime's services share: the log, the configuration, the clock, and the two
 * operations every service is built from — adjudicate a request (`require`, which seals the
 * decision and throws on a denial) and seal a record (`append`).
 */
import type { JsonValue } from '../core/canonical.ts';
import { SigilError } from '../core/errors.ts';
import { toHex } from '../core/encoding.ts';
import { randomBytes } from '../core/random.ts';
import type { AppendOptions, CanonLog, SealedRecord } from '../canon/log.ts';
import { projectRecord, type ViewEntry, type ViewReader } from '../canon/views.ts';
import type { RecordDraft, RecordKind } from '../canon/record.ts';
import type { Config } from '../config/index.ts';
import type { PolicyFlags } from '../policy/index.ts';
import type { Caller, Decision, DecisionRequest } from './decide.ts';
import { LogTail } from './log-tail.ts';

/** A decision as sealed in the log. */
export type FrozenDecision = Decision & { decision_id: string; seq: number; hash: string };

/** The views a request reads (view-mirror.ts). */
export interface RequestViews extends ViewReader {
  /**
   * True when memory, current, holds all of namespace `ns` and no row `key`: the row is known
   * absent (the log made none) without a read. False whenever that is not known.
   */
  knownAbsent(ns: string, key: string): boolean;
  /**
   * Every row of a whole namespace (roles, consent, the breaker) that may be served, and the rows
   * refused (deleted or rolled back while a record made them), by key: a reader refuses only
   * what it would have read. `list` of such a namespace throws the first refusal instead.
   */
  listed(ns: string): Promise<{ rows: ViewEntry[]; refused: ReadonlyMap<string, RowRefusal> }>;
}

export interface RuntimeCore {
  readonly log: CanonLog;
  /**
   * The views as a request reads them: the per-request rows (a token by its hash) from memory
   * the log keeps current (view-mirror.ts), every other read from `log.views`.
   */
  readonly views: RequestViews;
  readonly config: Config;
  /** Epoch milliseconds. */
  now(): number;
  /** The configured switches of the permission matrix. */
  flags(): PolicyFlags;
  /** Decides and seals the decision; a denial throws SigilError(code) with the decision id. */
  require(caller: Caller, request: DecisionRequest): Promise<FrozenDecision>;
  /** Like require, and the records it permits sealed with the decision in one transaction. */
  requireAndAppend(
    caller: Caller,
    request: DecisionRequest,
    drafts: AndSeal['drafts'],
  ): Promise<{ decision: FrozenDecision; records: SealedRecord[] }>;
  /**
   * Seals a record of the default tenant (user space unless `extra` says otherwise); `opts.expect`
   * makes it a compare-and-set on view rows ('conflict' when one moved).
   */
  append(
    kind: RecordKind,
    payload: JsonValue,
    extra?: Partial<RecordDraft>,
    opts?: AppendOptions,
  ): Promise<SealedRecord>;
  /** Seals several records of the default tenant in one transaction (with their views). */
  appendMany(
    records: ReadonlyArray<{ kind: RecordKind; payload: JsonValue; extra?: Partial<RecordDraft> }>,
    opts?: AppendOptions,
  ): Promise<SealedRecord[]>;
}

/** Records sealed with an allowed decision (runtime.check): what was sealed, or why not. */
export interface AndSeal {
  /** The records, given the decision's id (to link to). */
  drafts: (
    decisionId: string,
  ) => Array<{ kind: RecordKind; payload: JsonValue; extra?: Partial<RecordDraft> }>;
  sealed?: SealedRecord[];
  /** The append of decision and records failed with this; the decision was sealed alone. */
  failed?: unknown;
}

export const TENANT = 'default';
const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Every record of `kind` in log order, a page at a time. */
export async function forEachRecordOfKind(
  core: RuntimeCore,
  kind: RecordKind,
  fn: (record: SealedRecord) => void,
): Promise<void> {
  let cursor: string | undefined;
  do {
    const page = await core.log.list({
      kind,
      limit: 1000,
      ...(cursor !== undefined && { cursor }),
    });
    for (const record of page.records) fn(record);
    cursor = page.cursor;
  } while (cursor !== undefined);
}

/** A JSON object (not an array, not null). */
export function isJsonObject(v: JsonValue | undefined): v is { [key: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The record that last wrote a view row. */
interface Made {
  id: string;
  seq: number;
}

/** The rows the records of one kind made in one namespace, as far as `tail` has read. */
interface RowsMade {
  tail: LogTail;
  made: Map<string, Made>;
  /** When the last catch-up of `tail` began (real clock, ms), or -Infinity. */
  caughtUpAt: number;
}

/** Per log, per kind and namespace (pairs fixed in code, so few): the records read stay read. */
const rowsMadeByLog = new WeakMap<CanonLog, Map<string, RowsMade>>();

/**
 * Past this since a watch's last catch-up began, `judgeRow` catches up before it judges: the
 * bound within which another instance's record is seen, the view mirror's (STALE_MS there).
 */
const RECENT_MS = 500;

function watchOf(core: RuntimeCore, kind: RecordKind, ns: string): RowsMade {
  let watches = rowsMadeByLog.get(core.log);
  if (watches === undefined) {
    watches = new Map();
    rowsMadeByLog.set(core.log, watches);
  }
  let watch = watches.get(`${kind} ${ns}`);
  if (watch === undefined) {
    const made = new Map<string, Made>();
    // The later record stands: one this instance sealed is applied at once (below), and the
    // tail may read it, or an earlier one, afterwards.
    const apply = (record: SealedRecord): void => {
      if (record.kind !== kind) return;
      for (const w of projectRecord(record)) {
        if (w.ns === ns && !((made.get(w.key)?.seq ?? -1) >= record.seq)) {
          made.set(w.key, { id: record.id, seq: record.seq });
        }
      }
    };
    watch = { made, tail: new LogTail(kind, apply), caughtUpAt: Number.NEGATIVE_INFINITY };
    // What this instance seals is known before its append returns: a row it revokes here is
    // judged against the revocation at once, not after the next catch-up.
    core.log.onSealed((records) => {
      for (const r of records) apply(r);
    });
    watches.set(`${kind} ${ns}`, watch);
  }
  return watch;
}

/**
 * Every row of `ns` a record of `kind` made, by key: the log's records of that kind are read once
 * per log (through the kind index, projected as sealing projects them), then only those sealed
 * since, by any writer. As large as the rows themselves, never grown by the keys asked about.
 */
async function rowsMade(
  core: RuntimeCore,
  kind: RecordKind,
  ns: string,
): Promise<ReadonlyMap<string, Made>> {
  const watch = watchOf(core, kind, ns);
  const began = Date.now();
  await watch.tail.catchUp(core.log);
  watch.caughtUpAt = Math.max(watch.caughtUpAt, began);
  return watch.made;
}

function missingRow(ns: string, key: string, made: Made, what = 'is missing'): SigilError {
  return new SigilError(
    'state_invalid',
    `the view row ${ns}/${key} ${what} but record ${made.id} (seq ${made.seq}) wrote it: run \`sigil validate\`, then \`sigil state rebuild\``,
  );
}

/**
 * A view row `ns/key` that is missing while the log holds a record of `kind` that made it.
 * Deleting a row must fail closed ('state_invalid'), never fall back to the state from before
 * that record (no genesis, a closed breaker, a tool never pinned, a role never granted). Read only
 * on the missing-row path: the breaker row is missing until it first trips, and a scan of every
 * governance_event (one per tool pin) on each AI request grew with the tools pinned.
 */
export async function refuseMissingRow(
  core: RuntimeCore,
  kind: RecordKind,
  ns: string,
  key: string,
): Promise<void> {
  const made = (await rowsMade(core, kind, ns)).get(key);
  if (made !== undefined) throw missingRow(ns, key, made);
}

/** A view row refused: the error a read of it answers, and the row as the store held it. */
export interface RowRefusal {
  error: SigilError;
  entry: ViewEntry | undefined;
}

/**
 * The rows of `rows` (rows of `ns` as read: every one, or only `only`) that are older than the
 * record of `kind` that last wrote them (rolled back to a value the log has since replaced, its
 * old MAC still good) or missing while a record made them ('state_invalid'), by key: what the
 * view mirror checks of a whole namespace it loads, and of one read from the store. A refusal
 * is the row's, so only a decision that reads that row is refused (a deleted role row of one
 * subject never locks out another, nor Root's `sigil state rebuild`). `absentIsNone`: a missing
 * row is no row (a namespace whose rows only permit, where a deleted one is denied anyway).
 */
export async function refusedRows(
  core: RuntimeCore,
  kind: RecordKind,
  ns: string,
  rows: ReadonlyMap<string, { seq: number }>,
  opts: { absentIsNone?: boolean; only?: string } = {},
): Promise<Map<string, RowRefusal>> {
  const refused = new Map<string, RowRefusal>();
  const all = await rowsMade(core, kind, ns);
  const made =
    opts.only === undefined
      ? all
      : new Map(all.has(opts.only) ? [[opts.only, all.get(opts.only)!]] : []);
  for (const [key, last] of made) {
    const row = rows.get(key);
    if (row === undefined ? opts.absentIsNone === true : row.seq >= last.seq) continue;
    // Written by a record sealed after `rows` were read (a record and its rows commit together):
    // the row is there now; only a row still missing, or still older, was edited.
    const now = await core.log.views.entry(ns, key);
    if (now === undefined ? opts.absentIsNone !== true : now.seq < last.seq) {
      refused.set(key, {
        error: missingRow(
          ns,
          key,
          last,
          now === undefined ? 'is missing' : `is from seq ${now.seq}`,
        ),
        entry: now,
      });
    }
  }
  return refused;
}

/**
 * Refuses ('state_invalid') row `ns/key` as read by key (`row`; undefined: absent, which is no
 * row) when it is older than the record of `kind` that last wrote it: rolled back to a value the
 * log has since replaced (a revoked token, delegation, license or scanner put back as it was,
 * its old MAC still good). For a hot path: while the watch of `kind` and `ns` caught up less than
 * RECENT_MS ago (and it knows this instance's own records at once) a row written by the record
 * the watch last saw write it is judged by a lookup and nothing is returned; otherwise the
 * promise to await catches up first.
 */
export function judgeRow(
  core: RuntimeCore,
  kind: RecordKind,
  ns: string,
  key: string,
  row: { seq: number } | undefined,
): Promise<void> | undefined {
  if (row === undefined) return undefined;
  const watch = watchOf(core, kind, ns);
  if (Date.now() - watch.caughtUpAt < RECENT_MS) {
    // A row newer than the watch knows (or of a record it has not read) shows the watch behind
    // for this key: judged against it as is, the rolled-back row read next would pass until
    // RECENT_MS had run out. Caught up once, the row's record is known.
    if (watch.made.get(key)?.seq === row.seq) return undefined;
  }
  return refuseRow(core, kind, ns, key, row);
}

/** `judgeRow`, always caught up first: for a read that is not on a hot path. */
export async function refuseRow(
  core: RuntimeCore,
  kind: RecordKind,
  ns: string,
  key: string,
  row: { seq: number } | undefined,
): Promise<void> {
  if (row === undefined) return;
  const refused = await refusedRows(core, kind, ns, new Map([[key, row]]), {
    absentIsNone: true,
    only: key,
  });
  for (const { error } of refused.values()) throw error;
}

/**
 * The rows of a listing of `ns` rolled back past the record that last wrote them, by key. A
 * reader that counts live rows (standing, the Root licence count) drops them: these rows only
 * ever go from live to revoked, so a dropped row counts for no more than what replaced it. A
 * listing shown to a caller refuses instead.
 */
export function staleRows(
  core: RuntimeCore,
  kind: RecordKind,
  ns: string,
  rows: ReadonlyArray<{ key: string; seq: number }>,
): Promise<ReadonlyMap<string, RowRefusal>> {
  return refusedRows(core, kind, ns, new Map(rows.map((r) => [r.key, r])), {
    absentIsNone: true,
  });
}

/** RFC 3339 UTC of epoch milliseconds. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A fresh random identifier (128 bits, hex). */
export function newId(): string {
  return toHex(randomBytes(16));
}

/** An identifier from a request, 1–128 characters of [A-Za-z0-9._:-] ('bad_request'). */
export function checkId(id: unknown, what: string): string {
  if (typeof id !== 'string' || !ID_RE.test(id)) {
    throw new SigilError('bad_request', `${what} must be 1–128 characters of [A-Za-z0-9._:-]`);
  }
  return id;
}

/** A JSON view of a typed value, for record payloads and the state table. */
export function asJson<T>(value: T): JsonValue {
  return value as unknown as JsonValue;
}
