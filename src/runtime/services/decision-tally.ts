/**
 * The decision tally: counts of every sealed `decision` record (by verdict and mode, for
 * `trust status`) and per-minute counters over the last day (allowed, denied by code, denied
 * actions and callers, for the overview). Derived from the log alone, whichever instance sealed
 * the records, and kept current as records are appended: the runtime follows the log's tail
 * each second, reading only the decisions sealed since the last look.
 *
 * So that a restart does not recount the log, the tally is saved (0600, HMAC-SHA256 under a key
 * derived from the log's data key) with the seq and hash of the last decision it covers. On
 * load it is used only when its MAC holds, it names this log, and the log still holds that
 * record with that hash; anything else (an edited file, another or a rolled-back log) is
 * discarded and the tally is counted again from the log. A saved tally is a prefix of an
 * append-only log, so whatever instance saved it, catching up from its cursor gives the counts
 * of the whole log.
 */
import { createHmac } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { canonicalJson, type JsonValue } from '../../core/canonical.ts';
import { constantTimeEqual, fromHex } from '../../core/encoding.ts';
import type { LogReader, SealedRecord } from '../../canon/log.ts';
import { LogTail } from '../log-tail.ts';
import { decisionPayloadOf } from '../decision-record.ts';

export interface DecisionCountsView {
  allow: number;
  deny: number;
  by_mode: Record<string, number>;
}

/** Counts for one minute. */
export interface Bucket {
  allow: number;
  deny: Map<string, number>;
  deniedActions: Map<string, number>;
  deniedCallers: Map<string, number>;
  /**
   * The same counts for each caller's own decisions, so a caller who may not read everyone's
   * decisions is shown its own figures without a scan of the log (nested buckets have none).
   */
  bySubject: Map<string, Bucket>;
}

/** What the tally counts of a decision record. */
interface Counted {
  seq: number;
  hash: string;
  ts: string;
  verdict: 'allow' | 'deny';
  mode: string;
  code: string | null;
  subject: string;
  action: string;
}

/** What the tally counts of a sealed decision ('state_invalid' when it is not one). */
function counted(record: SealedRecord): Counted {
  const p = decisionPayloadOf(record);
  return {
    seq: record.seq,
    hash: record.hash,
    ts: record.ts,
    verdict: p.decision.verdict,
    mode: p.decision.mode,
    code: p.decision.code,
    subject: p.caller.subject,
    action: p.request.action,
  };
}

export const MINUTE_MS = 60_000;
export const MAX_STATS_MINUTES = 24 * 60;
/**
 * Distinct actions or callers kept per minute; the rest count as "(other)". A caller past this
 * many in one minute has no own bucket for it, so its own figures undercount, never show others'.
 */
const MAX_KEYS_PER_MINUTE = 500;
const FORMAT = 2;

function emptyBucket(): Bucket {
  return {
    allow: 0,
    deny: new Map(),
    deniedActions: new Map(),
    deniedCallers: new Map(),
    bySubject: new Map(),
  };
}

function bump(map: Map<string, number>, key: string): void {
  const k = map.has(key) || map.size < MAX_KEYS_PER_MINUTE ? key : '(other)';
  map.set(k, (map.get(k) ?? 0) + 1);
}

type SavedCounts = [number, Record<string, number>, Record<string, number>, Record<string, number>];
type Saved = {
  v: number;
  log_id: string;
  cursor: string | null;
  hash: string | null;
  totals: DecisionCountsView;
  /** Per minute: the minute, its counts, and each caller's own counts. */
  buckets: Array<[number, ...SavedCounts, Record<string, SavedCounts>]>;
};

function savedCounts(b: Bucket): SavedCounts {
  return [
    b.allow,
    Object.fromEntries(b.deny),
    Object.fromEntries(b.deniedActions),
    Object.fromEntries(b.deniedCallers),
  ];
}

function mac(key: Uint8Array, saved: Saved): string {
  return createHmac('sha256', key)
    .update(canonicalJson(saved as unknown as JsonValue))
    .digest('hex');
}

function counts(v: unknown): Map<string, number> {
  const out = new Map<string, number>();
  if (v === null || typeof v !== 'object') throw new Error('not counts');
  for (const [k, n] of Object.entries(v)) {
    if (!Number.isSafeInteger(n) || (n as number) < 0) throw new Error('not a count');
    out.set(k, n as number);
  }
  return out;
}

export class DecisionTally {
  readonly #file: string | undefined;
  readonly #key: Uint8Array;
  readonly #logId: string;
  #totals: DecisionCountsView = { allow: 0, deny: 0, by_mode: {} };
  readonly #buckets = new Map<number, Bucket>();
  #tail: LogTail<Counted>;
  #last: { seq: number; hash: string } | undefined;
  #loaded: Promise<void> | undefined;
  #saved: number | undefined;

  /** `file`: where the tally is saved between runs (none: counted from the log each run). */
  constructor(opts: { file?: string; key: Uint8Array; logId: string }) {
    this.#file = opts.file;
    this.#key = opts.key;
    this.#logId = opts.logId;
    this.#tail = this.#newTail(undefined);
  }

  #newTail(cursor: string | undefined): LogTail<Counted> {
    return new LogTail('decision', (c) => this.#apply(c), cursor, counted);
  }

  /**
   * Decisions this instance sealed (from CanonLog.onSealed, with the other records sealed with
   * them): counted at the next catch-up without reading them back from the store.
   */
  sealed(records: readonly SealedRecord[]): void {
    this.#tail.sealed(records);
  }

  #apply(d: Counted): void {
    const { verdict, mode } = d;
    this.#totals[verdict] += 1;
    this.#totals.by_mode[mode] = (this.#totals.by_mode[mode] ?? 0) + 1;
    this.#last = { seq: d.seq, hash: d.hash };
    const minute = Math.floor(Date.parse(d.ts) / MINUTE_MS);
    if (!Number.isFinite(minute)) return;
    let b = this.#buckets.get(minute);
    if (!b) {
      b = emptyBucket();
      this.#buckets.set(minute, b);
    }
    const subject = d.subject;
    let own = b.bySubject.get(subject);
    if (!own && b.bySubject.size < MAX_KEYS_PER_MINUTE) {
      own = emptyBucket();
      b.bySubject.set(subject, own);
    }
    for (const c of own ? [b, own] : [b]) {
      if (verdict === 'allow') {
        c.allow += 1;
        continue;
      }
      bump(c.deny, d.code ?? 'denied');
      bump(c.deniedActions, d.action);
      bump(c.deniedCallers, subject);
    }
  }

  /** Brings the tally up to every decision sealed before the call (loading the saved one first). */
  async catchUp(log: LogReader): Promise<void> {
    this.#loaded ??= this.#load(log);
    await this.#loaded;
    await this.#tail.catchUp(log);
  }

  /** The all-time counts, current. */
  async totals(log: LogReader): Promise<DecisionCountsView> {
    await this.catchUp(log);
    return { ...this.#totals, by_mode: { ...this.#totals.by_mode } };
  }

  /** The minute buckets from `first` to `last` (epoch minutes), current; missing minutes absent. */
  async minutes(log: LogReader, first: number, last: number): Promise<Map<number, Bucket>> {
    await this.catchUp(log);
    const out = new Map<number, Bucket>();
    for (const [m, b] of this.#buckets) if (m >= first && m <= last) out.set(m, b);
    return out;
  }

  async #load(log: LogReader): Promise<void> {
    if (this.#file === undefined) return;
    let saved: Saved & { mac?: string };
    try {
      saved = JSON.parse(await readFile(this.#file, 'utf8')) as Saved & { mac?: string };
    } catch {
      return; // none yet, or unreadable: counted from the log
    }
    try {
      const { mac: given, ...rest } = saved;
      if (
        typeof given !== 'string' ||
        !constantTimeEqual(fromHex(given), fromHex(mac(this.#key, rest))) ||
        rest.v !== FORMAT ||
        rest.log_id !== this.#logId
      ) {
        return;
      }
      if (rest.cursor !== null) {
        // The log must still hold the last decision counted, unchanged.
        const seq = Number(rest.cursor);
        const page = await log.list({
          kind: 'decision',
          limit: 1,
          ...(seq > 0 ? { cursor: String(seq - 1) } : {}),
        });
        const held = page.records[0];
        if (held === undefined || held.seq !== seq || held.hash !== rest.hash) return;
        this.#last = { seq, hash: held.hash };
      }
      const totals = rest.totals;
      this.#totals = {
        allow: totals.allow,
        deny: totals.deny,
        by_mode: Object.fromEntries(counts(totals.by_mode)),
      };
      const loadCounts = ([allow, deny, actions, callers]: SavedCounts): Bucket => {
        if (!Number.isSafeInteger(allow) || allow < 0) throw new Error('not a count');
        return {
          allow,
          deny: counts(deny),
          deniedActions: counts(actions),
          deniedCallers: counts(callers),
          bySubject: new Map(),
        };
      };
      for (const [m, allow, deny, actions, callers, subjects] of rest.buckets) {
        const b = loadCounts([allow, deny, actions, callers]);
        if (subjects === null || typeof subjects !== 'object') throw new Error('not subjects');
        for (const [subject, own] of Object.entries(subjects)) {
          if (!Array.isArray(own) || own.length !== 4) throw new Error('not counts');
          b.bySubject.set(subject, loadCounts(own));
        }
        this.#buckets.set(m, b);
      }
      this.#tail = this.#newTail(rest.cursor ?? undefined);
      this.#saved = this.#last?.seq;
    } catch {
      // a malformed file: start again from the log
      this.#totals = { allow: 0, deny: 0, by_mode: {} };
      this.#buckets.clear();
      this.#last = undefined;
    }
  }

  /** At close: when the tally was read this run, catches up and saves it. */
  async flush(log: LogReader, now: number): Promise<void> {
    if (this.#loaded === undefined) return;
    await this.catchUp(log);
    await this.save(now);
  }

  /**
   * Saves the tally when it covers more than the last save, keeping the last day's minutes
   * (relative to `now`). Written beside and renamed, so a reader sees a whole file.
   */
  async save(now: number): Promise<void> {
    if (this.#file === undefined || this.#loaded === undefined) return;
    await this.#loaded;
    if (this.#last?.seq === this.#saved) return;
    const horizon = Math.floor(now / MINUTE_MS) - MAX_STATS_MINUTES + 1;
    for (const m of this.#buckets.keys()) if (m < horizon) this.#buckets.delete(m);
    const last = this.#last;
    const saved: Saved = {
      v: FORMAT,
      log_id: this.#logId,
      cursor: last === undefined ? null : String(last.seq),
      hash: last?.hash ?? null,
      totals: this.#totals,
      buckets: [...this.#buckets].map(([m, b]) => [
        m,
        ...savedCounts(b),
        Object.fromEntries([...b.bySubject].map(([s, own]) => [s, savedCounts(own)])),
      ]),
    };
    const tmp = `${this.#file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ ...saved, mac: mac(this.#key, saved) }), {
      mode: 0o600,
    });
    await rename(tmp, this.#file);
    this.#saved = last?.seq;
  }
}
