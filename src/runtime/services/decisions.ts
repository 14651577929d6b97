/**
 * Reading the decisions the log holds: a filtered list, newest first, and per-minute counts of
 * allowed and denied decisions (by denial code) with the most denied actions and callers. Both
 * read sealed `decision` records only, so they show what the log proves, not process memory.
 *
 * The list walks the log backwards in windows of records, so a page costs at most
 * `MAX_SCAN` record reads whatever the log's size; the rollup reads each record once and then
 * only what was appended since.
 */
import type { SealedRecord } from '../../canon/log.ts';
import type { LogReader } from '../../canon/log.ts';
import { SigilError } from '../../core/errors.ts';
import type { RuntimeCore } from '../core.ts';
import type { Caller } from '../decide.ts';
import { decisionPayloadOf } from '../decision-record.ts';
import { sealedScore } from '../frozen.ts';
import { isAuditor, mayReadBody, type ReadContext } from '../read-access.ts';
import { MAX_STATS_MINUTES, MINUTE_MS, type Bucket, type DecisionTally } from './decision-tally.ts';

/** One decision as a list shows it; the whole record is at /api/canon/records/:id. */
export interface DecisionSummary {
  decision_id: string;
  seq: number;
  ts: string;
  verdict: 'allow' | 'deny';
  code: string | null;
  reason: string;
  mode: string;
  subject: string;
  loa: string;
  signer_type: string;
  action: string;
  target: string;
  score: number | null;
}

export interface DecisionFilter {
  verdict?: 'allow' | 'deny';
  code?: string;
  /** Exact caller subject (DID). */
  subject?: string;
  /** Exact action, or a prefix ending in `*` (`memory.*`). */
  action?: string;
  /** Substring of the target. */
  target?: string;
  /** RFC 3339: decisions at or after. */
  since?: string;
  /** RFC 3339: decisions before. */
  until?: string;
}

export interface DecisionPage {
  decisions: DecisionSummary[];
  /** Pass as `before` for the next (older) page; absent at the log's start. */
  before?: string;
  /** Records read for this page. */
  scanned: number;
}

/** Records read per window of the backward walk (one log page). */
const WINDOW = 1000;
/** Most records one list request reads, matching or not. */
export const MAX_SCAN = 10_000;
export const MAX_PAGE = 200;

function summarize(record: SealedRecord): DecisionSummary {
  const p = decisionPayloadOf(record);
  return {
    decision_id: record.id,
    seq: record.seq,
    ts: record.ts,
    verdict: p.decision.verdict,
    code: p.decision.code,
    reason: p.decision.reason,
    mode: p.decision.mode,
    subject: p.caller.subject,
    loa: p.caller.loa,
    signer_type: p.caller.signer.type,
    action: p.request.action,
    target: p.request.target,
    score: sealedScore(p.decision),
  };
}

function matches(d: DecisionSummary, f: DecisionFilter): boolean {
  if (f.verdict !== undefined && d.verdict !== f.verdict) return false;
  if (f.code !== undefined && d.code !== f.code) return false;
  if (f.subject !== undefined && d.subject !== f.subject) return false;
  if (f.action !== undefined) {
    const prefix = f.action.endsWith('*') ? f.action.slice(0, -1) : undefined;
    if (prefix !== undefined ? !d.action.startsWith(prefix) : d.action !== f.action) return false;
  }
  if (f.target !== undefined && !d.target.includes(f.target)) return false;
  if (f.since !== undefined && d.ts < f.since) return false;
  if (f.until !== undefined && d.ts >= f.until) return false;
  return true;
}

/**
 * Lets other requests run between two pages of a long read: an embedded store reads and
 * decrypts a page synchronously, so without this a long walk would hold the event loop.
 */
const yieldToOthers = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The records with seq in [from, to), in log order. */
async function window(log: LogReader, from: number, to: number): Promise<SealedRecord[]> {
  const page = await log.list({
    limit: Math.max(1, to - from),
    ...(from > 0 ? { cursor: String(from - 1) } : {}),
  });
  return page.records.filter((r) => r.seq < to);
}

/**
 * Decisions matching `filter`, newest first, at most `limit`, older than seq `before` (default:
 * the log's end). Adjudicated as a canon read: the caller may read these records anyway.
 */
export async function listDecisions(
  core: RuntimeCore,
  caller: Caller,
  opts: DecisionFilter & { before?: number; limit?: number },
): Promise<DecisionPage> {
  await core.require(caller, { action: 'canon.read', target: 'decisions' });
  // A decision's body is its caller's (and an auditor's) to read: others' never appear here.
  const ctx: ReadContext = { lookup: (id) => core.log.get(id), operator: undefined };
  const limit = opts.limit ?? 50;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new SigilError('bad_request', `limit must be 1..${MAX_PAGE}`);
  }
  const size = await core.log.size();
  let to = Math.min(opts.before ?? size, size);
  let next: number | undefined;
  const decisions: DecisionSummary[] = [];
  let scanned = 0;
  walk: while (to > 0) {
    if (scanned >= MAX_SCAN) {
      next = to;
      break;
    }
    const from = Math.max(0, to - WINDOW);
    const records = await window(core.log, from, to);
    scanned += to - from;
    for (let i = records.length - 1; i >= 0; i--) {
      const r = records[i]!;
      // Records are appended in time order: past `since`, nothing older can match.
      if (opts.since !== undefined && r.ts < opts.since) break walk;
      if (r.kind !== 'decision' || !(await mayReadBody(caller, r, ctx))) continue;
      const d = summarize(r);
      if (!matches(d, opts)) continue;
      decisions.push(d);
      if (decisions.length === limit) {
        next = r.seq;
        break walk;
      }
    }
    to = from;
    await yieldToOthers();
  }
  return {
    decisions,
    ...(next !== undefined && next > 0 ? { before: String(next) } : {}),
    scanned,
  };
}

export interface DecisionStats {
  minutes: number;
  /** RFC 3339: the first minute counted. */
  since: string;
  per_minute: Array<{ minute: string; allow: number; deny: Record<string, number> }>;
  totals: { allow: number; deny: number };
  top_denied_actions: Array<{ action: string; count: number }>;
  top_denied_callers: Array<{ subject: string; count: number }>;
  /** Log size the counts cover. */
  log_size: number;
}

export { MAX_STATS_MINUTES };
const TOP = 10;

function top(maps: Iterable<Map<string, number>>): Array<[string, number]> {
  const sum = new Map<string, number>();
  for (const m of maps) for (const [k, n] of m) sum.set(k, (sum.get(k) ?? 0) + n);
  return [...sum].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, TOP);
}

/**
 * Per-minute counts over the last `minutes`, from the runtime's decision tally (kept current
 * from the log, never a scan of it per request). Like the decision bodies they count, they are
 * everyone's only for a caller who may read every body (an auditor); anyone else is shown
 * the counts of its own decisions, and itself alone among the denied callers.
 */
export async function decisionStats(
  core: RuntimeCore,
  tally: DecisionTally,
  caller: Caller,
  minutes: number,
): Promise<DecisionStats> {
  await core.require(caller, { action: 'trust.status', target: 'decisions/stats' });
  if (!Number.isSafeInteger(minutes) || minutes < 1 || minutes > MAX_STATS_MINUTES) {
    throw new SigilError('bad_request', `minutes must be 1..${MAX_STATS_MINUTES}`);
  }
  const size = await core.log.size();
  const last = Math.floor(core.now() / MINUTE_MS);
  const first = last - minutes + 1;
  const all = await tally.minutes(core.log, first, last);
  const buckets = isAuditor(caller) ? all : ownBuckets(all, caller.subject);
  const perMinute: DecisionStats['per_minute'] = [];
  let allow = 0;
  let deny = 0;
  for (let m = first; m <= last; m++) {
    const b = buckets.get(m);
    allow += b?.allow ?? 0;
    for (const n of b?.deny.values() ?? []) deny += n;
    perMinute.push({
      minute: new Date(m * MINUTE_MS).toISOString(),
      allow: b?.allow ?? 0,
      deny: Object.fromEntries(b?.deny ?? []),
    });
  }
  const inWindow = [...buckets.values()];
  return {
    minutes,
    since: new Date(first * MINUTE_MS).toISOString(),
    per_minute: perMinute,
    totals: { allow, deny },
    top_denied_actions: top(inWindow.map((b) => b.deniedActions)).map(([action, count]) => ({
      action,
      count,
    })),
    top_denied_callers: top(inWindow.map((b) => b.deniedCallers)).map(([subject, count]) => ({
      subject,
      count,
    })),
    log_size: size,
  };
}

/** The caller's own counts from each minute's buckets (minutes it has none in left out). */
function ownBuckets(all: Map<number, Bucket>, subject: string): Map<number, Bucket> {
  const out = new Map<number, Bucket>();
  for (const [m, b] of all) {
    const own = b.bySubject.get(subject);
    if (own) out.set(m, own);
  }
  return out;
}

/** The decisions room (`runtime.decisions`): reading the sealed decisions back. */
export function decisionsService(core: RuntimeCore, tally: DecisionTally) {
  return {
    /** Sealed decisions matching `filter`, newest first. */
    list: (
      caller: Caller,
      opts: DecisionFilter & { before?: number; limit?: number },
    ): Promise<DecisionPage> => listDecisions(core, caller, opts),
    /** Per-minute allowed/denied counts over the last `minutes`, from the log. */
    stats: (caller: Caller, minutes: number): Promise<DecisionStats> =>
      decisionStats(core, tally, caller, minutes),
  };
}
export type DecisionsService = ReturnType<typeof decisionsService>;
