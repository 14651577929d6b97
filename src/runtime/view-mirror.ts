/**
 * Per-request views served from memory. The rows a request reads on every call (a token by
 * its hash) are kept in memory once read through the MAC-checking reader, and the log keeps
 * them current:
 * - a record this instance seals drops the rows it writes before its append returns;
 * - a sweep, a few times a second, lists the namespace through the MAC-checking reader and
 *   drops every kept row whose row in the store was rewritten (another instance sealed a record
 *   that writes it, or the row was edited) or removed; the next read takes it from the store.
 * A kept value is exactly what an authenticated row held, so nothing here is an authority of
 * its own.
 *
 * Fail closed: a sweep that fails (a row that fails its MAC or shape, the store unreachable)
 * empties memory and stops serving from it, and so does a sweep older than STALE_MS: every read
 * then goes to the store, which refuses a forged row at use as before.
 */
import { type ViewEntry, type ViewReader } from '../canon/views.ts';
import type { JsonValue } from '../core/canonical.ts';

/** How often the sweep reads what other instances sealed. */
export const SWEEP_MS = 100;
/** Past this since the last good sweep began, memory is not trusted to be current. */
export const STALE_MS = 500;
/** Rows kept at most (the oldest leaves first). */
const MAX_ROWS = 16_384;

interface Kept {
  parse: (value: JsonValue, key: string) => unknown;
  value: unknown;
  seq: number;
  hash: string;
  /** The row's value as JSON text, to see a rewrite that kept its seq and hash. */
  text: string;
}

export class ViewMirror implements ViewReader {
  readonly #inner: ViewReader;
  readonly #namespaces: ReadonlySet<string>;
  readonly #rows = new Map<string, Kept>();
  /** Bumped by every drop: a read that began before one does not keep what it read. */
  #generation = 0;
  /** When the last good sweep began (real clock, ms), or -Infinity. */
  #sweptAt = Number.NEGATIVE_INFINITY;
  #timer: ReturnType<typeof setInterval> | undefined;
  #sweeping = false;

  // Freshness is judged on the real clock, never the runtime's (tests pin that one).
  constructor(inner: ViewReader, namespaces: readonly string[]) {
    this.#inner = inner;
    this.#namespaces = new Set(namespaces);
  }

  /** Sweeps once, then every SWEEP_MS until stop(). */
  async start(): Promise<void> {
    await this.sweep().catch(() => undefined);
    this.#timer = setInterval(() => {
      if (!this.#sweeping) void this.sweep().catch(() => undefined);
    }, SWEEP_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Compares every kept row with its row in the store; a failure empties memory (fail closed). */
  async sweep(): Promise<void> {
    this.#sweeping = true;
    const began = Date.now();
    try {
      for (const ns of this.#namespaces) {
        const now = new Map<string, ViewEntry>();
        for (const e of await this.#inner.list(ns)) now.set(e.key, e);
        for (const [id, kept] of this.#rows) {
          const [keptNs, key] = splitId(id);
          if (keptNs !== ns) continue;
          const row = now.get(key);
          if (
            row === undefined ||
            row.seq !== kept.seq ||
            row.hash !== kept.hash ||
            JSON.stringify(row.value) !== kept.text
          ) {
            this.#drop(id);
          }
        }
      }
      this.#sweptAt = began;
    } catch (err) {
      this.#sweptAt = Number.NEGATIVE_INFINITY;
      this.#generation += 1;
      this.#rows.clear();
      throw err;
    } finally {
      this.#sweeping = false;
    }
  }

  /** Drops every kept row `writes` names (a record this instance sealed). */
  drop(writes: ReadonlyArray<{ ns: string; key: string }>): void {
    for (const w of writes) if (this.#namespaces.has(w.ns)) this.#drop(`${w.ns}\u0000${w.key}`);
  }

  #drop(id: string): void {
    this.#generation += 1;
    this.#rows.delete(id);
  }

  #fresh(): boolean {
    return Date.now() - this.#sweptAt < STALE_MS;
  }

  async parsed<T>(
    ns: string,
    key: string,
    parse: (value: JsonValue, key: string) => T,
  ): Promise<T | undefined> {
    if (!this.#namespaces.has(ns)) return this.#inner.parsed(ns, key, parse);
    const id = `${ns}\u0000${key}`;
    const kept = this.#rows.get(id);
    if (kept !== undefined && kept.parse === parse && this.#fresh()) return kept.value as T;
    const generation = this.#generation;
    const entry = await this.#inner.entry(ns, key);
    if (entry === undefined) return undefined;
    const value = parse(entry.value, key);
    // Only a present row is kept (unknown keys sprayed at the server must not fill memory),
    // and only if nothing was dropped while it was read.
    if (generation === this.#generation && this.#fresh()) {
      this.#rows.delete(id);
      if (this.#rows.size >= MAX_ROWS) this.#rows.delete(this.#rows.keys().next().value!);
      this.#rows.set(id, {
        parse,
        value,
        seq: entry.seq,
        hash: entry.hash,
        text: JSON.stringify(entry.value),
      });
    }
    return value;
  }

  // Reads that are not per-request go to the store (`entry` feeds an append's compare-and-set,
  // which must see the row as committed).
  get(ns: string, key: string): Promise<JsonValue | undefined> {
    return this.#inner.get(ns, key);
  }

  entry(ns: string, key: string): Promise<ViewEntry | undefined> {
    return this.#inner.entry(ns, key);
  }

  list(ns: string): Promise<ViewEntry[]> {
    return this.#inner.list(ns);
  }
}

function splitId(id: string): [string, string] {
  const at = id.indexOf('\u0000');
  return [id.slice(0, at), id.slice(at + 1)];
}
