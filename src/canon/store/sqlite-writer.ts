/**
 * The SQLite append transaction on a thread of its own. better-sqlite3 is synchronous, so a
 * commit (and its fsync, synchronous=FULL) on the log's thread stops its event loop once a
 * batch; here a second connection to the same file commits batches already sealed (rows, view
 * rows, tiles) while the log's thread keeps chaining, sealing and answering. WAL lets the log's
 * own connection keep reading meanwhile.
 *
 * The transaction is the one sqlite.ts runs, the same steps (writeBatch, below), except that it
 * cannot seal: it commits only when the head is still the one the batch was sealed for, and
 * otherwise writes nothing and answers `stale` (the caller then seals in its own transaction). It answers only after COMMIT has
 * returned, so an answer means durable. If the thread dies, every write in flight and every
 * later one fails (`store_error`): the caller cannot know whether a write in flight committed,
 * so it never acknowledges one, and a retry of the same records finds their ids taken.
 *
 * Like seal-pool.ts, the worker is plain JavaScript; it gets the driver's path, the pragmas and
 * the statements from sqlite.ts, and writeBatch's source, so both connections run the same SQL
 * in the same steps.
 */
import { Worker } from 'node:worker_threads';
import { SigilError } from '../../core/errors.ts';
import type { TileRow } from '../tile-tree.ts';
import { viewMoved } from './meta.ts';
import type { LogHead, StoredCheckpoint, StoredRow, ViewExpectation, ViewRow } from './types.ts';

/** The statements the writer runs (sqlite.ts's own, by name). */
export interface WriterSql {
  pragmas: readonly string[];
  head: string;
  setHead: string;
  insert: string;
  viewGet: string;
  viewPut: string;
  putTile: string;
  putCheckpoint: string;
}

/** A batch's writes: its rows, the view rows they project to, the tiles they change. */
export interface BatchWrites {
  rows: readonly StoredRow[];
  views: readonly ViewRow[];
  tiles: readonly TileRow[];
}

/** One batch to commit, sealed for `head`. */
export interface PreparedWrite extends BatchWrites {
  head: LogHead;
  expect: readonly ViewExpectation[];
}

/** WriterSql's statements, prepared on a connection. */
export interface WriteStatements {
  head: { get(): LogHead | undefined };
  viewGet: { get(ns: string, key: string): { seq: number } | undefined };
  insert: { run(...row: unknown[]): unknown };
  viewPut: { run(...view: unknown[]): unknown };
  putTile: { run(level: number, index: number, nodes: Uint8Array): unknown };
  setHead: { run(size: number, hash: string | null): unknown };
}

/** What writeBatch throws: the store has no head; a view row is not the one expected. */
export interface WriteFailures {
  missing(): unknown;
  moved(e: ViewExpectation): unknown;
}

/**
 * The steps of an append transaction, for both connections (inside BEGIN IMMEDIATE): the head
 * read inside the write lock, the view expectations checked there, then what `writes` makes
 * for that head (it may seal, or refuse a head it was not sealed for) written, and the head
 * moved past the last row. Plain JavaScript that uses only its arguments, no inner functions:
 * the writer thread runs its source text.
 */
export function writeBatch(
  s: WriteStatements,
  expect: readonly ViewExpectation[],
  writes: (head: LogHead) => BatchWrites,
  fail: WriteFailures,
): void {
  const head = s.head.get();
  if (head === undefined) throw fail.missing();
  for (const e of expect) {
    if ((s.viewGet.get(e.ns, e.key)?.seq ?? -1) !== e.seq) throw fail.moved(e);
  }
  const { rows, views, tiles } = writes(head);
  for (const r of rows)
    s.insert.run(r.seq, r.id, r.kind, r.ts, r.leaf_hash, r.hash, r.prev, r.body);
  for (const v of views) s.viewPut.run(v.ns, v.key, v.value, v.seq, v.hash, v.mac);
  for (const t of tiles) s.putTile.run(t.level, t.index, t.nodes);
  const last = rows[rows.length - 1];
  if (last !== undefined) s.setHead.run(last.seq + 1, last.hash);
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const { file, sql } = workerData;
const db = new Database(file, { fileMustExist: true });
for (const p of sql.pragmas) db.pragma(p);
const s = {};
for (const k of ['head', 'setHead', 'insert', 'viewGet', 'viewPut', 'putTile', 'putCheckpoint']) {
  s[k] = db.prepare(sql[k]);
}
const STALE = new Error('stale');
const writeBatch = ${writeBatch.toString()};
const fail = { missing: () => STALE, moved: (e) => Object.assign(new Error('moved'), { moved: e }) };
const write = db.transaction((m) =>
  writeBatch(s, m.expect, (head) => {
    if (head.size !== m.head.size || head.hash !== m.head.hash) throw STALE;
    return m;
  }, fail),
);
parentPort.on('message', (m) => {
  if (m.close) {
    db.close();
    parentPort.close();
    return;
  }
  try {
    if (m.checkpoint) {
      const c = m.checkpoint;
      s.putCheckpoint.run(c.size, c.root, c.note, c.ts);
    } else write.immediate(m);
    parentPort.postMessage({ id: m.id, done: true });
  } catch (err) {
    if (err === STALE) parentPort.postMessage({ id: m.id, stale: true });
    else if (err && err.moved) parentPort.postMessage({ id: m.id, moved: err.moved });
    else parentPort.postMessage({ id: m.id, code: err && err.code, message: String(err && err.message) });
  }
});
parentPort.postMessage({ ready: true });
`;

interface Answer {
  id: number;
  ready?: boolean;
  done?: boolean;
  stale?: boolean;
  moved?: ViewExpectation;
  code?: string;
  message?: string;
}

/** What a failed write becomes: the same errors appendBatch throws. */
function writeError(a: Answer): SigilError {
  if (a.moved !== undefined) return viewMoved(a.moved);
  if (a.code === 'SQLITE_CONSTRAINT_UNIQUE' && a.message?.includes('records.id')) {
    return new SigilError('record_exists', 'a record with this id already exists');
  }
  return new SigilError('store_error', `canon store: ${a.message ?? 'the write failed'}`);
}

export class SqliteWriter {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, (a: Answer | Error) => void>();
  #next = 0;
  #ready = false;
  #broken: Error | undefined;
  #closed: Promise<void> | undefined;

  constructor(file: string, driver: string, sql: WriterSql) {
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver, sql } });
    this.#worker.on('message', (a: Answer) => {
      if (a.ready) this.#ready = true;
      else this.#settle(a.id, a);
    });
    this.#worker.on('error', (err) => this.#fail(err));
    this.#worker.on('exit', (code) => this.#fail(new Error(`the writer thread exited (${code})`)));
    // An idle writer must not keep the process alive; one with a write in flight must.
    this.#worker.unref();
  }

  /** True once the thread has opened the file, and until it dies or is closed. */
  get usable(): boolean {
    return this.#ready && this.#broken === undefined && this.#closed === undefined;
  }

  /**
   * Commits the batch if the head is still `w.head`: 'done' once durable, 'stale' (nothing
   * written) if another writer moved it. Rejects as appendBatch would ('conflict',
   * 'record_exists', 'store_error'), and with 'store_error' if the thread is or goes down.
   */
  async write(w: PreparedWrite): Promise<'done' | 'stale'> {
    return (await this.#send(w)).stale ? 'stale' : 'done';
  }

  /** Stores a checkpoint (as sqlite.ts's putCheckpoint), in turn with the writes. */
  async putCheckpoint(cp: StoredCheckpoint): Promise<void> {
    await this.#send({ checkpoint: cp });
  }

  #send(message: object): Promise<Answer> {
    return new Promise((resolve, reject) => {
      if (this.#broken !== undefined || this.#closed !== undefined) {
        reject(new SigilError('store_error', 'canon store: the writer thread is down'));
        return;
      }
      const id = this.#next++;
      this.#waiting.set(id, (a) => {
        if (a instanceof Error) {
          reject(new SigilError('store_error', `canon store: ${a.message}`));
        } else if (a.done || a.stale) resolve(a);
        else reject(writeError(a));
      });
      this.#worker.ref();
      this.#worker.postMessage({ id, ...message });
    });
  }

  /** Closes the connection after the writes already sent, and ends the thread. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      if (this.#broken !== undefined) {
        resolve();
        return;
      }
      this.#worker.once('exit', () => resolve());
      this.#worker.ref();
      this.#worker.postMessage({ close: true });
    });
    return this.#closed;
  }

  #settle(id: number, a: Answer | Error): void {
    const done = this.#waiting.get(id);
    this.#waiting.delete(id);
    if (this.#waiting.size === 0 && this.#closed === undefined) this.#worker.unref();
    done?.(a);
  }

  #fail(err: Error): void {
    this.#broken ??= err;
    for (const id of [...this.#waiting.keys()]) this.#settle(id, err);
  }
}
