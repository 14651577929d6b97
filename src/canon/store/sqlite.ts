/**
 * The embedded backend: one SQLite file (better-sqlite3) in WAL mode with synchronous=FULL, so a
 * commit returns only after its WAL frames are fsynced. Writers from several processes serialise
 * on SQLite's write lock (BEGIN IMMEDIATE, waiting up to busy_timeout), and the head row is read
 * inside that lock, so the chain never forks.
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { SigilError } from '../../core/errors.ts';
import type { WrappedKey } from '../envelope.ts';
import type { RecordKind } from '../record.ts';
import { coverage, fullTilesEnd, storedTiles, TileEdge, type TileRow } from '../tile-tree.ts';
import { SqliteWriter, writeBatch, type WriteFailures, type WriterSql } from './sqlite-writer.ts';
import {
  checkMigrationStart,
  metaFromEntries,
  metaToEntries,
  retiredCheckpointsKey,
  storeError,
  unusedTilesWhere,
  viewMoved,
} from './meta.ts';
import type {
  BatchSealer,
  LocalStore,
  SealedBatch,
  FormatMigration,
  ListQuery,
  LogHead,
  StoreMeta,
  StoredCheckpoint,
  StoredCosigned,
  StoredRow,
  ViewExpectation,
  ViewRow,
  ViewTable,
} from './types.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS head (one INTEGER PRIMARY KEY CHECK (one = 1), size INTEGER NOT NULL, hash TEXT);
CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  ts TEXT NOT NULL,
  leaf_hash BLOB NOT NULL,
  hash TEXT NOT NULL,
  prev TEXT,
  body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS records_kind_seq ON records (kind, seq);
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL, ts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cosigned (cosigner TEXT PRIMARY KEY, size INTEGER NOT NULL, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS views (
  ns TEXT NOT NULL,
  k TEXT NOT NULL,
  v TEXT NOT NULL,
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL,
  mac BLOB NOT NULL,
  PRIMARY KEY (ns, k)
);
CREATE TABLE IF NOT EXISTS tiles (level INTEGER NOT NULL, idx INTEGER NOT NULL, nodes BLOB NOT NULL, PRIMARY KEY (level, idx));
`;

const ROW_COLUMNS = 'seq, id, kind, ts, leaf_hash, hash, prev, body';
/** Rows read at a time while migrating. */
const MIGRATE_CHUNK = 1024;
const VIEW_COLUMNS = 'ns, k, v, seq, hash, mac';

/** What both connections (this one and the writer thread's) run to append. */
const WRITE_SQL: WriterSql = {
  // 8 KiB pages hold several ~1.6 KiB records each: fewer WAL frames per commit. It only
  // takes effect on a new file (before the schema exists).
  pragmas: ['page_size = 8192', 'journal_mode = WAL', 'synchronous = FULL', 'busy_timeout = 10000'],
  head: 'SELECT size, hash FROM head WHERE one = 1',
  setHead: 'UPDATE head SET size = ?, hash = ? WHERE one = 1',
  insert: `INSERT INTO records (${ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  viewGet: `SELECT ${VIEW_COLUMNS} FROM views WHERE ns = ? AND k = ?`,
  viewPut: `INSERT INTO views (${VIEW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v, seq = excluded.seq, hash = excluded.hash, mac = excluded.mac`,
  putTile: `INSERT INTO tiles (level, idx, nodes) VALUES (?, ?, ?)
         ON CONFLICT (level, idx) DO UPDATE SET nodes = excluded.nodes`,
  putCheckpoint:
    'INSERT INTO checkpoints (size, root, note, ts) VALUES (?, ?, ?, ?) ON CONFLICT (size) DO NOTHING',
};

/** What appendBatch's transaction throws (the writer thread's answers map to the same). */
const WRITE_FAILURES: WriteFailures = {
  missing: () => new SigilError('store_missing', 'the canon store has no head'),
  moved: viewMoved,
};

/** Where the writer thread loads the driver from (the one this module loaded). */
const DRIVER = createRequire(import.meta.url).resolve('better-sqlite3');

interface RawRow {
  seq: number;
  id: string;
  kind: string;
  ts: string;
  leaf_hash: Buffer;
  hash: string;
  prev: string | null;
  body: Buffer;
}

interface RawView {
  ns: string;
  k: string;
  v: string;
  seq: number;
  hash: string;
  mac: Buffer;
}

interface RawCheckpoint {
  size: number;
  root: Buffer;
  note: string;
  ts: string;
}

const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** A row of ROW_COLUMNS as the driver returns it in raw mode, in the columns' order. */
type RawRowValues = [number, string, string, string, Buffer, string, string | null, Buffer];

function valuesToRow([seq, id, kind, ts, leaf, hash, prev, body]: RawRowValues): StoredRow {
  return {
    seq,
    id,
    kind: kind as RecordKind,
    ts,
    leaf_hash: bytes(leaf),
    hash,
    prev,
    body: bytes(body),
  };
}

function toRow(r: RawRow): StoredRow {
  return {
    seq: r.seq,
    id: r.id,
    kind: r.kind as RecordKind,
    ts: r.ts,
    leaf_hash: bytes(r.leaf_hash),
    hash: r.hash,
    prev: r.prev,
    body: bytes(r.body),
  };
}

function toView(r: RawView): ViewRow {
  return { ns: r.ns, key: r.k, value: r.v, seq: r.seq, hash: r.hash, mac: bytes(r.mac) };
}

function toCheckpoint(r: RawCheckpoint): StoredCheckpoint {
  return { size: r.size, root: bytes(r.root), note: r.note, ts: r.ts };
}

function isUniqueViolation(err: unknown): boolean {
  return (
    err instanceof Error &&
    (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' &&
    err.message.includes('records.id')
  );
}

/** A store in one SQLite file; `create` allows creating the file (only `init` does). */
export class SqliteStore implements LocalStore {
  readonly backend = 'sqlite' as const;
  readonly views: ViewTable;
  readonly #db: Database.Database;
  readonly #stmt;
  /** The tree's right edge as of this store's last write; reloaded when another writer moved the head. */
  #edge: TileEdge | undefined;
  /** list()'s statements, by their SQL (one per combination of filters). */
  readonly #lists = new Map<string, Database.Statement<Array<string | number>, RawRow>>();
  readonly #file: string;
  /** The writer thread (sqlite-writer.ts), started by the first batch sealed ahead. */
  #writer: SqliteWriter | undefined;
  /** Writes handed to the writer thread and not yet answered. */
  #inFlight = 0;
  /** The tree's edge once every write in flight commits; undefined once one did not. */
  #ahead: TileEdge | undefined;

  constructor(file: string, opts: { create: boolean }) {
    this.#file = file;
    if (!opts.create && !existsSync(file)) {
      throw new SigilError('store_missing', `no canon store at ${file}; run \`sigil init\` first`);
    }
    try {
      // Created 0600 before SQLite opens it; SQLite gives its -wal and -shm files the same mode.
      if (!existsSync(file)) closeSync(openSync(file, 'wx', 0o600));
      this.#db = new Database(file);
      for (const p of WRITE_SQL.pragmas) this.#db.pragma(p);
      this.#db.exec(SCHEMA);
    } catch (err) {
      throw storeError(err);
    }
    const db = this.#db;
    this.#stmt = {
      head: db.prepare<[], { size: number; hash: string | null }>(WRITE_SQL.head),
      setHead: db.prepare<[number, string | null]>(WRITE_SQL.setHead),
      insert: db.prepare(WRITE_SQL.insert),
      byId: db.prepare<[string], RawRow>(`SELECT ${ROW_COLUMNS} FROM records WHERE id = ?`),
      bySeq: db.prepare<[number], RawRow>(`SELECT ${ROW_COLUMNS} FROM records WHERE seq = ?`),
      // Arrays, not an object per row built by the driver: validate reads every row this way.
      range: db
        .prepare<[number, number], RawRowValues>(
          `SELECT ${ROW_COLUMNS} FROM records WHERE seq >= ? ORDER BY seq LIMIT ?`,
        )
        .raw(true),
      leaves: db.prepare<[number, number], { seq: number; leaf_hash: Buffer }>(
        'SELECT seq, leaf_hash FROM records WHERE seq >= ? ORDER BY seq LIMIT ?',
      ),
      meta: db.prepare<[], { k: string; v: string }>('SELECT k, v FROM meta'),
      putCheckpoint: db.prepare(WRITE_SQL.putCheckpoint),
      checkpointAt: db.prepare<[number], RawCheckpoint>(
        'SELECT size, root, note, ts FROM checkpoints WHERE size = ?',
      ),
      latestCheckpoint: db.prepare<[], RawCheckpoint>(
        'SELECT size, root, note, ts FROM checkpoints ORDER BY size DESC LIMIT 1',
      ),
      checkpoints: db.prepare<[], RawCheckpoint>(
        'SELECT size, root, note, ts FROM checkpoints ORDER BY size',
      ),
      putCosigned: db.prepare<[string, number, string]>(
        `INSERT INTO cosigned (cosigner, size, note) VALUES (?, ?, ?)
         ON CONFLICT (cosigner) DO UPDATE SET size = excluded.size, note = excluded.note
         WHERE excluded.size >= cosigned.size`,
      ),
      cosigned: db.prepare<[], StoredCosigned>(
        'SELECT cosigner, size, note FROM cosigned ORDER BY cosigner',
      ),
      viewGet: db.prepare<[string, string], RawView>(WRITE_SQL.viewGet),
      viewPut: db.prepare(WRITE_SQL.viewPut),
      viewList: db.prepare<[string], RawView>(
        `SELECT ${VIEW_COLUMNS} FROM views WHERE ns = ? ORDER BY k`,
      ),
      viewAll: db.prepare<[], RawView>(`SELECT ${VIEW_COLUMNS} FROM views ORDER BY ns, k`),
      viewClear: db.prepare('DELETE FROM views'),
      tile: db.prepare<[number, number], { nodes: Buffer }>(
        'SELECT nodes FROM tiles WHERE level = ? AND idx = ?',
      ),
      putTile: db.prepare<[number, number, Uint8Array]>(WRITE_SQL.putTile),
      lastTile: db.prepare<[], { idx: number; n: number }>(
        'SELECT idx, length(nodes) AS n FROM tiles WHERE level = 0 ORDER BY idx DESC LIMIT 1',
      ),
    };
    this.views = this.#viewTable();
  }

  #putViews(rows: readonly ViewRow[]): void {
    for (const v of rows) this.#stmt.viewPut.run(v.ns, v.key, v.value, v.seq, v.hash, v.mac);
  }

  /** Where the stored full level-0 tiles end (a multiple of 256). */
  #fullEnd(): number {
    const last = this.#stmt.lastTile.get();
    return last === undefined ? 0 : fullTilesEnd(last.idx * 256 + last.n / 32);
  }

  #putTiles(rows: readonly TileRow[]): void {
    for (const t of storedTiles(rows)) this.#stmt.putTile.run(t.level, t.index, t.nodes);
  }

  /** A stored tile; the partial level-0 one is the records' last leaf hashes (storedTiles). */
  #tile(level: number, index: number): Uint8Array | undefined {
    const t = this.#stmt.tile.get(level, index);
    if (t !== undefined && (level > 0 || t.nodes.length === 8192)) return bytes(t.nodes);
    if (level > 0) return undefined;
    const head = this.#stmt.head.get();
    if (head === undefined || (index + 1) * 256 <= head.size) return undefined;
    const leaves = this.#stmt.leaves.all(index * 256, Math.min(256, head.size - index * 256));
    if (leaves.length === 0 || leaves.some((r, i) => r.seq !== index * 256 + i)) return undefined;
    return Buffer.concat(leaves.map((r) => r.leaf_hash));
  }

  /**
   * The right edge at `size` (inside the transaction holding the head, size ≤ head): a copy of
   * this store's own when current, else loaded from the stored tiles where the full level-0
   * tiles end and extended with the leaf hashes after them (writing the tiles they complete).
   */
  #edgeAt(size: number): TileEdge {
    if (this.#edge?.size === size) return this.#edge.clone();
    const from = Math.min(this.#fullEnd(), fullTilesEnd(size));
    const edge = TileEdge.load(from, (level, index) => this.#tile(level, index));
    if (from < size) {
      const leaves = this.#stmt.leaves.all(from, size - from).map((r) => bytes(r.leaf_hash));
      if (leaves.length !== size - from) {
        throw new SigilError('store_error', `records ${from}..${size - 1} are missing`);
      }
      this.#putTiles(edge.extend(leaves));
    }
    return edge;
  }

  #viewTable(): ViewTable {
    const s = this.#stmt;
    const replace = this.#db.transaction((head: LogHead, rows: readonly ViewRow[]) => {
      const now = s.head.get();
      if (now?.size !== head.size || now.hash !== head.hash) {
        throw new SigilError('conflict', 'the log grew while its views were being rebuilt');
      }
      s.viewClear.run();
      this.#putViews(rows);
    });
    return {
      get: async (ns, key) => {
        const row = s.viewGet.get(ns, key);
        return row && toView(row);
      },
      list: async (ns) => s.viewList.all(ns).map(toView),
      all: async () => s.viewAll.all().map(toView),
      replaceAll: async (head, rows) => {
        try {
          replace.immediate(head, rows);
        } catch (err) {
          throw storeError(err);
        }
      },
    };
  }

  async initialise(meta: StoreMeta): Promise<void> {
    const insertMeta = this.#db.prepare('INSERT INTO meta (k, v) VALUES (?, ?)');
    this.#db
      .transaction(() => {
        if (this.#stmt.meta.all().length > 0) {
          throw new SigilError('store_exists', 'the canon store is already initialised');
        }
        for (const [k, v] of metaToEntries(meta)) insertMeta.run(k, v);
        this.#db.prepare('INSERT INTO head (one, size, hash) VALUES (1, 0, NULL)').run();
      })
      .immediate();
  }

  async readMeta(): Promise<StoreMeta | undefined> {
    return metaFromEntries(this.#stmt.meta.all().map((r) => [r.k, r.v]));
  }

  async replaceWrappedKey(expected: WrappedKey, next: WrappedKey): Promise<void> {
    const changes = this.#db
      .prepare("UPDATE meta SET v = ? WHERE k = 'wrapped_key' AND v = ?")
      .run(JSON.stringify(next), JSON.stringify(expected)).changes;
    if (changes !== 1) {
      throw new SigilError('store_error', 'the wrapped data key changed underneath the rotation');
    }
  }

  async appendBatch(
    seal: BatchSealer,
    expect: readonly ViewExpectation[] = [],
  ): Promise<StoredRow[]> {
    const s = this.#stmt;
    let edge: TileEdge | undefined;
    let rows: StoredRow[] = [];
    const run = this.#db.transaction(() =>
      writeBatch(
        s,
        expect,
        (head) => {
          const sealed = seal(head);
          rows = sealed.rows;
          edge = this.#edgeAt(head.size);
          const tiles = storedTiles(edge.extend(rows.map((r) => r.leaf_hash)));
          return { rows, views: sealed.views, tiles };
        },
        WRITE_FAILURES,
      ),
    );
    try {
      run.immediate();
      this.#edge = edge;
      return rows;
    } catch (err) {
      this.#edge = undefined;
      if (isUniqueViolation(err)) {
        throw new SigilError('record_exists', 'a record with this id already exists');
      }
      throw storeError(err);
    }
  }

  /**
   * The batch committed on the writer thread, so this thread's event loop never waits for the
   * fsync. Batches may be handed over while earlier ones are still in flight, each sealed for
   * the head the one before it leaves: the thread commits them in turn, with no gap for this
   * thread to answer in between. Undefined, with nothing written, when the thread is not up (it
   * starts on the first call), when the tree's edge at `head` is not known here (neither this
   * store's, nor the one the writes in flight leave), or when the head moved: the caller then
   * uses appendBatch.
   */
  async appendSealed(
    head: LogHead,
    batch: SealedBatch,
    expect: readonly ViewExpectation[] = [],
  ): Promise<StoredRow[] | undefined> {
    if (!this.#db.open) return undefined;
    this.#writer ??= new SqliteWriter(this.#file, DRIVER, WRITE_SQL);
    const base = this.#inFlight > 0 ? this.#ahead : this.#edge;
    if (!this.#writer.usable || base?.size !== head.size || batch.rows.length === 0) {
      return undefined;
    }
    const edge = base.clone();
    const tiles = storedTiles(edge.extend(batch.rows.map((r) => r.leaf_hash)));
    // Until the writes in flight answer, nothing knows where the stored tree's edge is.
    this.#edge = undefined;
    this.#ahead = edge;
    this.#inFlight += 1;
    try {
      const outcome = await this.#writer.write({ head, ...batch, tiles, expect });
      if (outcome === 'stale') {
        this.#ahead = undefined;
        return undefined;
      }
      // The last write handed over, and none behind it: this edge is the stored tree's.
      if (this.#inFlight === 1 && this.#ahead === edge) this.#edge = edge;
      return batch.rows;
    } catch (err) {
      this.#ahead = undefined;
      throw err;
    } finally {
      this.#inFlight -= 1;
    }
  }

  async head(): Promise<LogHead> {
    const head = this.#stmt.head.get();
    if (head === undefined) throw new SigilError('store_missing', 'the canon store has no head');
    return head;
  }

  async getById(id: string): Promise<StoredRow | undefined> {
    const r = this.#stmt.byId.get(id);
    return r && toRow(r);
  }

  async getBySeq(seq: number): Promise<StoredRow | undefined> {
    const r = this.#stmt.bySeq.get(seq);
    return r && toRow(r);
  }

  async list(q: ListQuery): Promise<StoredRow[]> {
    const where: string[] = ['seq > ?'];
    const params: Array<string | number> = [q.afterSeq ?? -1];
    if (q.kind !== undefined) {
      where.push('kind = ?');
      params.push(q.kind);
    }
    if (q.since !== undefined) {
      where.push('ts >= ?');
      params.push(q.since);
    }
    params.push(q.limit);
    const sql = `SELECT ${ROW_COLUMNS} FROM records WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`;
    // Log tails list on every request (settings, missing rows): each shape is compiled once.
    let stmt = this.#lists.get(sql);
    if (stmt === undefined) {
      stmt = this.#db.prepare<Array<string | number>, RawRow>(sql);
      this.#lists.set(sql, stmt);
    }
    return stmt.all(...params).map(toRow);
  }

  async readRange(fromSeq: number, limit: number): Promise<StoredRow[]> {
    return this.#stmt.range.all(fromSeq, limit).map(valuesToRow);
  }

  async readTile(level: number, index: number): Promise<Uint8Array | undefined> {
    return this.#tile(level, index);
  }

  async unusedTile(size: number): Promise<{ level: number; index: number } | undefined> {
    const { where, params } = unusedTilesWhere(size, () => '?');
    // SQLite keeps a value of another type as it is (1.5, '7', a blob): never an index in use.
    const row = this.#db
      .prepare<number[], { level: number; idx: number }>(
        `SELECT level, idx FROM tiles WHERE typeof(level) <> 'integer' OR typeof(idx) <> 'integer' OR ${where}
         ORDER BY level, idx LIMIT 1`,
      )
      .get(...params);
    return row && { level: Number(row.level), index: Number(row.idx) };
  }

  async tiledSize(): Promise<number> {
    return coverage((await this.head()).size, this.#fullEnd());
  }

  async buildTiles(limit: number): Promise<number> {
    const run = this.#db.transaction((): number => {
      const head = this.#stmt.head.get();
      if (head === undefined) throw new SigilError('store_missing', 'the canon store has no head');
      const edge = this.#edgeAt(Math.min(head.size, this.#fullEnd() + limit));
      if (edge.size === head.size) this.#edge = edge;
      return edge.size;
    });
    try {
      return run.immediate();
    } catch (err) {
      this.#edge = undefined;
      throw storeError(err);
    }
  }

  async migrateFormat(m: FormatMigration): Promise<{ records: number; checkpoints: number }> {
    const s = this.#stmt;
    const db = this.#db;
    const run = db.transaction(() => {
      checkMigrationStart(metaFromEntries(s.meta.all().map((r) => [r.k, r.v])), m.from);
      const setLeaf = db.prepare('UPDATE records SET leaf_hash = ? WHERE seq = ?');
      let records = 0;
      for (let from = 0; ;) {
        const chunk = s.range.all(from, MIGRATE_CHUNK).map(valuesToRow);
        for (const row of chunk) setLeaf.run(m.leafOf(row), row.seq);
        records += chunk.length;
        if (chunk.length < MIGRATE_CHUNK) break;
        from = chunk[chunk.length - 1]!.seq + 1;
      }
      const retired = s.checkpoints.all().map(toCheckpoint);
      db.prepare('INSERT INTO meta (k, v) VALUES (?, ?)').run(
        retiredCheckpointsKey(m.from),
        JSON.stringify(retired.map((c) => ({ size: c.size, note: c.note, ts: c.ts }))),
      );
      db.prepare('DELETE FROM checkpoints').run();
      // Tiles hash the old leaves; the next open builds them again.
      db.prepare('DELETE FROM tiles').run();
      this.#edge = undefined;
      db.prepare(
        "INSERT INTO meta (k, v) VALUES ('log_format', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
      ).run(String(m.to));
      return { records, checkpoints: retired.length };
    });
    try {
      return run.immediate();
    } catch (err) {
      throw storeError(err);
    }
  }

  async putCheckpoint(cp: StoredCheckpoint): Promise<StoredCheckpoint> {
    // Through the writer thread while it is up: its commit (an fsync) would otherwise stop this
    // thread, and wait here for the writer's own transaction to end.
    if (this.#writer?.usable) await this.#writer.putCheckpoint(cp);
    else this.#stmt.putCheckpoint.run(cp.size, cp.root, cp.note, cp.ts);
    return toCheckpoint(this.#stmt.checkpointAt.get(cp.size)!);
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const r = this.#stmt.latestCheckpoint.get();
    return r && toCheckpoint(r);
  }

  async checkpoints(): Promise<StoredCheckpoint[]> {
    return this.#stmt.checkpoints.all().map(toCheckpoint);
  }

  async putCosigned(c: StoredCosigned): Promise<void> {
    try {
      this.#stmt.putCosigned.run(c.cosigner, c.size, c.note);
    } catch (err) {
      throw storeError(err);
    }
  }

  async cosigned(): Promise<StoredCosigned[]> {
    return this.#stmt.cosigned.all();
  }

  async close(): Promise<void> {
    await this.#writer?.close();
    if (this.#db.open) this.#db.close();
  }
}
