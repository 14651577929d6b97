/**
 * Per-request views served from memory the log keeps current. Two kinds of namespace:
 * - kept rows (tokens): a row read once through the MAC-checking reader is kept;
 * - whole namespaces (consent, roles, the breaker): every row is loaded through that reader.
 *
 * Keeping them current follows the log, never a scan of the namespace:
 * - a record this instance seals re-reads (or drops) the rows it writes before its append returns;
 * - every TAIL_MS the mirror reads the records of the kinds that write its namespaces sealed since
 *   the last seq it saw (by any instance on the store), and re-reads through the MAC-checking
 *   reader only the rows those records write (a kept row is dropped, and read again at its next
 *   use).
 * A value served is exactly what an authenticated row held, so nothing here is an authority of
 * its own.
 *
 * A row of a whole namespace that is missing or older than the record that last wrote it (deleted
 * or rolled back in the database) is never served: a read of that row is refused ('state_invalid')
 * and every other row is served as before.
 *
 * Fail closed: a read that fails (a row that fails its MAC or shape, a row a record wrote that is
 * missing, the store unreachable) empties memory, and nothing is served from memory while the last
 * good catch-up began more than STALE_MS ago: every read then goes to the store, which refuses a
 * forged row at use as before. Every AUDIT_MS the rows in memory are compared with the store's
 * (through the same reader), so an edit made in the database without a record, which the log
 * never shows, is found too: memory is emptied and the store refuses the row.
 */
import type { LogReader } from '../canon/log.ts';
import type { RecordKind } from '../canon/record.ts';
import { projectRecord, type Parsed, type ViewEntry, type ViewReader } from '../canon/views.ts';
import type { JsonValue } from '../core/canonical.ts';
import { SigilError } from '../core/errors.ts';
import type { RequestViews, RowRefusal } from './core.ts';

/** How often the log is read for what other instances sealed. */
export const TAIL_MS = 100;
/** Past this since the last good catch-up began, memory is not trusted to be current. */
export const STALE_MS = 500;
/** How often memory is compared with the store's rows (edits that no record made). */
export const AUDIT_MS = 2000;
/** Rows kept at most (the oldest leaves first). */
const MAX_ROWS = 16_384;
const PAGE = 1000;

/** A namespace served from memory, and the record kind whose records write it. */
export interface MirroredNamespace {
  ns: string;
  kind: RecordKind;
  /** Load every row (read by listing), or keep the rows read (read by key). */
  whole: boolean;
  /**
   * Judges a whole namespace as loaded, or as read from the store while memory is not served
   * (every row, or only `only`): the rows missing although a record made them (deleted) or older
   * than the record that last wrote them (rolled back), by key. Those are never served: a read of
   * one of them is refused, and only such a read (a deleted role row of one subject leaves every
   * other decision, Root's `sigil state rebuild` among them, to go on).
   */
  refuse?: (
    rows: ReadonlyMap<string, ViewEntry>,
    only?: string,
  ) => Promise<ReadonlyMap<string, RowRefusal>>;
  /**
   * Judges a row of a kept namespace as read from the store by key (when it is first kept, and
   * on every read while memory is not served): throws when it is older than the record that
   * last wrote it (rolled back); returns nothing when that is known without waiting.
   */
  judge?: (key: string, row: { seq: number } | undefined) => Promise<void> | undefined;
  /**
   * The namespace's parser (view-ns.ts): a row of a whole namespace that it refuses fails the
   * load or re-read, so memory never holds a row of the wrong shape.
   */
  parse?: (value: JsonValue, key: string) => unknown;
}

interface Kept {
  entry: ViewEntry;
  /** The row's value as JSON text, to see an edit that kept its seq and hash. */
  text: string;
  parse?: (value: JsonValue, key: string) => unknown;
  parsed?: Parsed<unknown>;
}

interface Whole {
  spec: MirroredNamespace;
  /** The rows served (none refused). */
  rows: Map<string, Kept>;
  /** The rows refused at load, by key, with the row as the store held it then. */
  refused: ReadonlyMap<string, RowRefusal>;
  /** The rows by key, as `listed` returns them; rebuilt after a change. */
  listed: Listed | undefined;
}

interface Listed {
  rows: ViewEntry[];
  refused: ReadonlyMap<string, RowRefusal>;
}

const NONE_REFUSED: ReadonlyMap<string, RowRefusal> = new Map();

/** A row of a whole namespace as memory holds it: frozen, so no reader can change it. */
function kept(entry: ViewEntry): Kept {
  return { entry: deepFreeze({ ...entry }), text: JSON.stringify(entry.value) };
}

/** A kept row as `parse` makes it: parsed before it is kept, so a value `parse` refuses is refused again on the next read. */
function parsedOf<T>(
  kept: Kept,
  key: string,
  parse: (value: JsonValue, key: string) => T,
): Parsed<T> {
  if (kept.parse !== parse) {
    const value = parse(kept.entry.value, key);
    kept.parse = parse;
    kept.parsed = { value, seq: kept.entry.seq };
  }
  return kept.parsed as Parsed<T>;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

export class ViewMirror implements RequestViews {
  readonly #inner: ViewReader;
  readonly #log: LogReader;
  readonly #specs: ReadonlyMap<string, MirroredNamespace>;
  readonly #kinds: readonly RecordKind[];
  /** Kept rows of the by-key namespaces, by `ns\0key`. */
  readonly #rows = new Map<string, Kept>();
  /** The whole namespaces, once loaded (absent: not loaded, read from the store). */
  #whole = new Map<string, Whole>();
  /** The seq of the last record read, per kind; undefined: not loaded (placed at the head). */
  #cursor: Map<RecordKind, number> | undefined;
  /** Bumped by every drop and reset: a read that began before one does not keep what it read. */
  #generation = 0;
  /** When the last good catch-up began (real clock, ms), or -Infinity. */
  #freshAt = Number.NEGATIVE_INFINITY;
  #auditedAt = Number.NEGATIVE_INFINITY;
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy: Promise<void> | undefined;

  // Freshness is judged on the real clock, never the runtime's (tests pin that one).
  constructor(inner: ViewReader, log: LogReader, namespaces: readonly MirroredNamespace[]) {
    this.#inner = inner;
    this.#log = log;
    this.#specs = new Map(namespaces.map((n) => [n.ns, n]));
    this.#kinds = [...new Set(namespaces.map((n) => n.kind))];
  }

  /** Catches up once, then every TAIL_MS until stop(). */
  async start(): Promise<void> {
    await this.catchUp().catch(() => undefined);
    this.#auditedAt = Date.now();
    this.#timer = setInterval(() => {
      if (this.#busy !== undefined) return;
      const audit = Date.now() - this.#auditedAt >= AUDIT_MS;
      void this.catchUp()
        .then(() => {
          if (audit) {
            this.#auditedAt = Date.now();
            return this.audit();
          }
        })
        .catch(() => undefined);
    }, TAIL_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /**
   * Applies every record sealed since the last one seen (loading the whole namespaces first when
   * they are not loaded). One at a time; a failure empties memory (fail closed) and rethrows.
   */
  catchUp(): Promise<void> {
    return this.#exclusive(async () => {
      const began = Date.now();
      try {
        if (this.#cursor === undefined) await this.#load();
        else await this.#follow();
        this.#freshAt = began;
      } catch (err) {
        this.#reset();
        throw err;
      }
    });
  }

  /**
   * Compares what memory holds with the store's rows: a row edited, inserted or deleted in the
   * database without a record empties memory (fail closed), and the store then refuses it.
   */
  audit(): Promise<void> {
    return this.#exclusive(async () => {
      try {
        for (const spec of this.#specs.values()) await this.#auditNamespace(spec);
      } catch (err) {
        this.#reset();
        throw err;
      }
    });
  }

  async #exclusive(run: () => Promise<void>): Promise<void> {
    while (this.#busy !== undefined) await this.#busy.catch(() => undefined);
    const busy = run();
    this.#busy = busy;
    try {
      await busy;
    } finally {
      this.#busy = undefined;
    }
  }

  async #load(): Promise<void> {
    // The head first: what is sealed after it is followed, what before it is in the rows listed.
    const cursor = (await this.#log.size()) - 1;
    const whole = new Map<string, Whole>();
    for (const spec of this.#specs.values()) {
      if (!spec.whole) continue;
      const rows = new Map<string, Kept>();
      const entries = new Map<string, ViewEntry>();
      for (const e of await this.#inner.list(spec.ns)) {
        spec.parse?.(e.value, e.key);
        entries.set(e.key, e);
        rows.set(e.key, kept(e));
      }
      const refused = (await spec.refuse?.(entries)) ?? NONE_REFUSED;
      for (const key of refused.keys()) rows.delete(key);
      whole.set(spec.ns, { spec, rows, refused, listed: undefined });
    }
    this.#whole = whole;
    this.#cursor = new Map(this.#kinds.map((k) => [k, cursor]));
  }

  async #follow(): Promise<void> {
    // A cursor per kind: each kind's records are read in log order to their end, so one sealed
    // while another kind is read is read on the next pass, never skipped.
    const cursors = this.#cursor!;
    for (const kind of this.#kinds) {
      for (;;) {
        const page = await this.#log.list({ kind, limit: PAGE, cursor: String(cursors.get(kind)) });
        for (const record of page.records) {
          await this.#written(projectRecord(record));
          cursors.set(kind, record.seq);
        }
        if (page.records.length < PAGE) break;
      }
    }
  }

  /**
   * The rows `writes` names (a record this instance sealed) are read again before the append
   * returns: a kept row is dropped at once, a row of a whole namespace re-read through the
   * MAC-checking reader. A failed read empties memory.
   */
  async written(writes: ReadonlyArray<{ ns: string; key: string }>): Promise<void> {
    const whole = writes.filter((w) => this.#specs.get(w.ns)?.whole === true);
    for (const w of writes)
      if (this.#specs.get(w.ns)?.whole === false) this.#drop(`${w.ns}\u0000${w.key}`);
    if (whole.length > 0) await this.#exclusive(() => this.#written(whole));
  }

  async #written(writes: ReadonlyArray<{ ns: string; key: string }>): Promise<void> {
    for (const w of writes) {
      const spec = this.#specs.get(w.ns);
      if (spec === undefined) continue;
      if (!spec.whole) {
        this.#drop(`${w.ns}\u0000${w.key}`);
        continue;
      }
      const whole = this.#whole.get(w.ns);
      if (whole === undefined) continue;
      try {
        if (whole.refused.has(w.key)) {
          // A record wrote a refused row: loaded again, the row is judged again.
          throw new SigilError(
            'state_invalid',
            `the refused view row ${w.ns}/${w.key} was written`,
          );
        }
        const entry = await this.#inner.entry(w.ns, w.key);
        if (entry === undefined) {
          throw new SigilError(
            'state_invalid',
            `the view row ${w.ns}/${w.key} is missing but a record made it: run \`sigil validate\``,
          );
        }
        spec.parse?.(entry.value, w.key);
        const held = whole.rows.get(w.key);
        // A row read again for a record already applied is the same or later: the later stands.
        if (held === undefined || entry.seq >= held.entry.seq) {
          whole.rows.set(w.key, kept(entry));
          whole.listed = undefined;
        }
      } catch (err) {
        this.#reset();
        throw err;
      }
    }
  }

  async #auditNamespace(spec: MirroredNamespace): Promise<void> {
    const stored = new Map<string, ViewEntry>();
    for (const e of await this.#inner.list(spec.ns)) stored.set(e.key, e);
    const tampered = (kept: Kept, row: ViewEntry | undefined): boolean => {
      // A row rewritten by a later record is the log's to bring (the catch-up re-reads it); an
      // earlier one is a row rolled back.
      if (row !== undefined && row.seq > kept.entry.seq) return false;
      return (
        row === undefined || row.hash !== kept.entry.hash || JSON.stringify(row.value) !== kept.text
      );
    };
    if (!spec.whole) {
      const prefix = `${spec.ns}\u0000`;
      for (const [id, kept] of this.#rows) {
        if (id.startsWith(prefix) && tampered(kept, stored.get(id.slice(prefix.length)))) {
          throw new SigilError('state_invalid', `the view row ${id} differs from memory`);
        }
      }
      return;
    }
    const whole = this.#whole.get(spec.ns);
    if (whole === undefined) return;
    for (const [key, kept] of whole.rows) {
      if (tampered(kept, stored.get(key))) {
        throw new SigilError('state_invalid', `the view row ${spec.ns}/${key} differs from memory`);
      }
    }
    // A refused row put back or rebuilt: loaded again, it is judged again.
    for (const [key, { entry }] of whole.refused) {
      const row = stored.get(key);
      if (row?.seq !== entry?.seq || row?.hash !== entry?.hash) {
        throw new SigilError('state_invalid', `the refused view row ${spec.ns}/${key} changed`);
      }
    }
    // A row no record of the followed log made (sealed at or before the cursor, not in memory).
    for (const [key, row] of stored) {
      if (
        !whole.rows.has(key) &&
        !whole.refused.has(key) &&
        row.seq <= (this.#cursor?.get(spec.kind) ?? -1)
      ) {
        throw new SigilError('state_invalid', `the view row ${spec.ns}/${key} is not in memory`);
      }
    }
  }

  #drop(id: string): void {
    this.#generation += 1;
    this.#rows.delete(id);
  }

  /** Empties memory; the next catch-up loads again from the store. */
  #reset(): void {
    this.#freshAt = Number.NEGATIVE_INFINITY;
    this.#generation += 1;
    this.#rows.clear();
    this.#whole = new Map();
    this.#cursor = undefined;
  }

  #fresh(): boolean {
    return Date.now() - this.#freshAt < STALE_MS;
  }

  /** The loaded whole namespace `ns`, while memory is current; else undefined (read the store). */
  #served(ns: string): Whole | undefined {
    return this.#fresh() ? this.#whole.get(ns) : undefined;
  }

  async parsed<T>(
    ns: string,
    key: string,
    parse: (value: JsonValue, key: string) => T,
  ): Promise<Parsed<T> | undefined> {
    const spec = this.#specs.get(ns);
    if (spec === undefined) return this.#inner.parsed(ns, key, parse);
    if (spec.whole) {
      const whole = this.#served(ns);
      if (whole === undefined) {
        if (spec.refuse === undefined) return this.#inner.parsed(ns, key, parse);
        const entry = await this.#storeEntry(spec, key);
        return entry && { value: parse(entry.value, key), seq: entry.seq };
      }
      const kept = whole.rows.get(key);
      if (kept === undefined) {
        const refusal = whole.refused.get(key);
        if (refusal !== undefined) throw refusal.error;
        return undefined;
      }
      return parsedOf(kept, key, parse);
    }
    // Memory not current: the store's row, through the reader (which keeps a verified row's
    // parse, so a hot row is not parsed again on every read until memory catches up), judged.
    if (!this.#fresh()) {
      const read = await this.#inner.parsed(ns, key, parse);
      const judged = spec.judge?.(key, read);
      if (judged !== undefined) await judged;
      return read;
    }
    const id = `${ns}\u0000${key}`;
    const kept = this.#rows.get(id);
    if (kept !== undefined && kept.parse === parse) return kept.parsed as Parsed<T>;
    const generation = this.#generation;
    const entry = await this.#inner.entry(ns, key);
    if (entry === undefined) return undefined;
    // Judged once, when first read: kept, it is dropped by the next record that writes it.
    const judged = spec.judge?.(key, entry);
    if (judged !== undefined) await judged;
    const read: Parsed<T> = { value: parse(entry.value, key), seq: entry.seq };
    // Only a present row is kept (unknown keys sprayed at the server must not fill memory),
    // and only if nothing was dropped while it was read.
    if (generation === this.#generation && this.#fresh()) {
      this.#rows.delete(id);
      if (this.#rows.size >= MAX_ROWS) this.#rows.delete(this.#rows.keys().next().value!);
      this.#rows.set(id, { entry, text: JSON.stringify(entry.value), parse, parsed: read });
    }
    return read;
  }

  knownAbsent(ns: string, key: string): boolean {
    const whole = this.#specs.get(ns)?.whole === true ? this.#served(ns) : undefined;
    return whole !== undefined && !whole.rows.has(key) && !whole.refused.has(key);
  }

  async get(ns: string, key: string): Promise<JsonValue | undefined> {
    const spec = this.#specs.get(ns);
    const whole = spec?.whole === true ? this.#served(ns) : undefined;
    if (whole === undefined) {
      if (spec?.whole !== true || spec.refuse === undefined) return this.#inner.get(ns, key);
      return (await this.#storeEntry(spec, key))?.value;
    }
    const kept = whole.rows.get(key);
    if (kept === undefined) {
      const refusal = whole.refused.get(key);
      if (refusal !== undefined) throw refusal.error;
    }
    return kept?.entry.value;
  }

  /** Row `key` of a whole namespace from the store (memory not served), judged as a load is. */
  async #storeEntry(spec: MirroredNamespace, key: string): Promise<ViewEntry | undefined> {
    const entry = await this.#inner.entry(spec.ns, key);
    const refused = await spec.refuse?.(new Map(entry === undefined ? [] : [[key, entry]]), key);
    const refusal = refused?.get(key);
    if (refusal !== undefined) throw refusal.error;
    return entry;
  }

  // `entry` feeds an append's compare-and-set, which must see the row as committed: the store.
  entry(ns: string, key: string): Promise<ViewEntry | undefined> {
    return this.#inner.entry(ns, key);
  }

  async list(ns: string): Promise<ViewEntry[]> {
    const { rows, refused } = await this.listed(ns);
    for (const { error } of refused.values()) throw error;
    return rows;
  }

  async listed(ns: string): Promise<Listed> {
    const spec = this.#specs.get(ns);
    const whole = spec?.whole === true ? this.#served(ns) : undefined;
    if (whole === undefined) {
      const rows = await this.#inner.list(ns);
      // From the store, judged as a load is: a row deleted there is refused, not just absent.
      const refused = (await spec?.refuse?.(new Map(rows.map((e) => [e.key, e])))) ?? NONE_REFUSED;
      return { rows: refused.size === 0 ? rows : rows.filter((e) => !refused.has(e.key)), refused };
    }
    whole.listed ??= {
      rows: [...whole.rows.keys()].sort().map((k) => whole.rows.get(k)!.entry),
      refused: whole.refused,
    };
    return whole.listed;
  }
}
