/**
 * Following the log: a state derived from the records of one kind, brought up to date by reading
 * only what was sealed since the last look (by this instance or any other on the store). This is
 * how an instance keeps what it derives from the log current without a full scan per request.
 */
import type { LogReader, SealedRecord } from '../canon/log.ts';
import type { RecordKind } from '../canon/record.ts';

/**
 * Records read and applied at a time, the event loop let run in between: each costs a row read,
 * a decryption and a parse (tens of µs), so a page of 1,000 held every request back for tens of
 * milliseconds, once a second, on a busy log.
 */
const PAGE = 128;
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class LogTail {
  readonly #kind: RecordKind;
  readonly #apply: (record: SealedRecord) => void;
  /** The seq of the last record applied. */
  #cursor: string | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #queued: Promise<boolean> | undefined;

  /** `cursor`: the seq of the last record already applied (a saved state's), if any. */
  constructor(kind: RecordKind, apply: (record: SealedRecord) => void, cursor?: string) {
    this.#kind = kind;
    this.#apply = apply;
    this.#cursor = cursor;
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
      return this.#read(log);
    });
    this.#queued = run;
    this.#running = run.catch(() => undefined);
    return run;
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
        this.#apply(record);
        this.#cursor = String(record.seq);
        applied = true;
      }
      if (page.records.length < PAGE) return applied;
      await yieldToLoop();
    }
  }
}
