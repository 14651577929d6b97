/**
 * Following the log: a state derived from the records of one kind, brought up to date by reading
 * only what was sealed since the last look (by this instance or any other on the store). This is
 * how an instance keeps what it derives from the log current without a full scan per request.
 *
 * A tail told what this instance sealed (`sealed`, from CanonLog.onSealed) reads nothing back
 * while the log holds only that past its cursor: it reads the head, and when every record up to
 * it is one this instance sealed, applies what it kept of those. Any other record there (another
 * instance's, or one sealed before the tail was told) means the store is read as before.
 */
import type { LogReader, SealedRecord } from '../canon/log.ts';
import type { RecordKind } from '../canon/record.ts';

/**
 * Records read and applied at a time, the event loop let run in between: each costs a row read,
 * a decryption and a parse (tens of µs), so a page of 1,000 held every request back for tens of
 * milliseconds, once a second, on a busy log.
 */
const PAGE = 128;
/** Records of the kind kept from what this instance sealed; past it, the store is read again. */
const MAX_KEPT = 65_536;
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** What this instance sealed past the cursor: its seqs as [from, to) spans, and its items. */
interface SealedHere<T> {
  spans: Array<[number, number]>;
  items: Array<{ seq: number; item: T }>;
}

export class LogTail<T = SealedRecord> {
  readonly #kind: RecordKind;
  readonly #apply: (item: T) => void;
  /** What a record becomes for `apply`; set when the tail is told what this instance seals. */
  readonly #of: ((record: SealedRecord) => T) | undefined;
  /** The seq of the last record applied, or of the last record the tail is known to cover. */
  #cursor: string | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #queued: Promise<boolean> | undefined;
  #here: SealedHere<T> = { spans: [], items: [] };

  /**
   * `cursor`: the seq of the last record already applied (a saved state's), if any. `of`: what
   * `apply` gets of a record (the record itself by default); a tail given it is fed `sealed`.
   */
  constructor(
    kind: RecordKind,
    apply: (item: T) => void,
    cursor?: string,
    of?: (record: SealedRecord) => T,
  ) {
    this.#kind = kind;
    this.#apply = apply;
    this.#cursor = cursor;
    this.#of = of;
  }

  /**
   * Records this instance sealed (any kind, once durable): what the tail keeps of those of its
   * kind is applied later without reading them back. `of` runs now, so later changes to the
   * records do not reach the tail; if it throws, the store is read instead.
   */
  sealed(records: readonly SealedRecord[]): void {
    if (this.#of === undefined) return;
    const here = this.#here;
    const covered = this.#cursor === undefined ? -1 : Number(this.#cursor);
    try {
      for (const r of records) {
        if (r.seq <= covered) continue;
        addSeq(here.spans, r.seq);
        if (r.kind !== this.#kind) continue;
        const kept = { seq: r.seq, item: this.#of(r) };
        const at = here.items.length;
        if (at === 0 || here.items[at - 1]!.seq < r.seq) here.items.push(kept);
        else here.items.splice(sortedIndex(here.items, r.seq), 0, kept);
      }
      if (here.items.length > MAX_KEPT) throw new Error('too many kept');
    } catch {
      // Forget it all: spans must never claim a seq whose item is not kept.
      this.#here = { spans: [], items: [] };
    }
  }

  /**
   * Applies, in log order, every record of the kind sealed since the last call; true when there
   * was one. Reads run one at a time, and a call never joins a read that started before it, so
   * what it applies covers every record sealed before the call.
   */
  catchUp(log: LogReader): Promise<boolean> {
    if (this.#queued) return this.#queued;
    // The read starts once the event loop has run what is pending (setImmediate), so every
    // call made meanwhile — each request parsed in this turn — shares one query of the store.
    const run = this.#running.then(yieldToLoop).then(() => {
      this.#queued = undefined;
      return this.#of === undefined ? this.#read(log) : this.#readKnowing(log);
    });
    this.#queued = run;
    this.#running = run.catch(() => undefined);
    return run;
  }

  /** Applies what this instance sealed up to the head, or reads the store when that is not all. */
  async #readKnowing(log: LogReader): Promise<boolean> {
    // Every record below the head is committed, so a read after this covers it all.
    const size = await log.size();
    const from = this.#cursor === undefined ? 0 : Number(this.#cursor) + 1;
    if (from >= size) return false;
    const here = this.#here;
    let applied: boolean;
    if (here.spans[0] !== undefined && here.spans[0][0] <= from && here.spans[0][1] >= size) {
      // As a read does, the cursor passes each item only once it is applied.
      let done = 0;
      try {
        for (const { seq, item } of here.items) {
          if (seq >= size) break;
          this.#apply(item);
          this.#cursor = String(seq);
          done += 1;
        }
      } finally {
        here.items.splice(0, done);
      }
      applied = done > 0;
      this.#cursor = String(size - 1);
    } else {
      applied = await this.#read(log);
      if (size > 0 && (this.#cursor === undefined || Number(this.#cursor) < size - 1)) {
        this.#cursor = String(size - 1);
      }
    }
    this.#forgetThrough(this.#cursor === undefined ? -1 : Number(this.#cursor));
    return applied;
  }

  /** Drops what was kept of seqs up to `seq` (applied, read from the store, or covered). */
  #forgetThrough(seq: number): void {
    const here = this.#here;
    const keep = here.items.findIndex((k) => k.seq > seq);
    here.items.splice(0, keep === -1 ? here.items.length : keep);
    while (here.spans[0] !== undefined && here.spans[0][1] <= seq + 1) here.spans.shift();
    if (here.spans[0] !== undefined && here.spans[0][0] <= seq) here.spans[0][0] = seq + 1;
  }

  async #read(log: LogReader): Promise<boolean> {
    let applied = false;
    for (;;) {
      const page = await log.list({
        kind: this.#kind,
        limit: PAGE,
        ...(this.#cursor !== undefined && { cursor: this.#cursor }),
      });
      for (const record of page.records) {
        this.#apply(this.#of === undefined ? (record as T) : this.#of(record));
        this.#cursor = String(record.seq);
        applied = true;
      }
      if (page.records.length < PAGE) return applied;
      await yieldToLoop();
    }
  }
}

/** Adds `seq` to sorted, disjoint [from, to) spans, merging neighbours. */
function addSeq(spans: Array<[number, number]>, seq: number): void {
  const last = spans[spans.length - 1];
  if (last !== undefined && last[1] === seq) {
    last[1] = seq + 1;
    return;
  }
  if (last === undefined || last[1] < seq) {
    spans.push([seq, seq + 1]);
    return;
  }
  // Out of order (batches acknowledged out of turn): rare, so a plain insert and merge.
  spans.push([seq, seq + 1]);
  spans.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const s of spans) {
    const prev = merged[merged.length - 1];
    if (prev !== undefined && s[0] <= prev[1]) prev[1] = Math.max(prev[1], s[1]);
    else merged.push(s);
  }
  spans.splice(0, spans.length, ...merged);
}

/** Where `seq` goes in items sorted by seq. */
function sortedIndex<T>(items: ReadonlyArray<{ seq: number; item: T }>, seq: number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (items[mid]!.seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
