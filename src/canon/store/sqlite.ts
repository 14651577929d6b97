/**
 * The embedded backend: one SQLite file (better-sqlite3) in WAL mode with synchronous=FULL, so a
 * commit returns only after its WAL frames are fsynced. Writers from several processes serialise
 * on SQLite's write lock (BEGIN IMMEDIATE, waiting up to busy_timeout), and the head row is read
 * inside that lock, so the chain never forks.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import type { JsonValue } from '../../core/canonical.ts';
import { SigilError } from '../../core/errors.ts';
import type { WrappedKey } from '../envelope.ts';
import type { RecordKind } from '../record.ts';
import { metaFromEntries, metaToEntries, storeError } from './meta.ts';
import type {
  BatchSealer,
  CanonStore,
  ListQuery,
  LogHead,
  StateTable,
  StoreMeta,
  StoredCheckpoint,
  StoredRow,
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
CREATE TABLE IF NOT EXISTS state (ns TEXT NOT NULL, k TEXT NOT NULL, v TEXT NOT NULL, PRIMARY KEY (ns, k));
`;

const ROW_COLUMNS = 'seq, id, kind, ts, leaf_hash, hash, prev, body';

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

interface RawCheckpoint {
  size: number;
  root: Buffer;
  note: string;
  ts: string;
}

const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

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
export class SqliteStore implements CanonStore {
  readonly backend = 'sqlite' as const;
  readonly state: StateTable;
  readonly #db: Database.Database;
  readonly #stmt;

  constructor(file: string, opts: { create: boolean }) {
    if (!opts.create && !existsSync(file)) {
      throw new SigilError('store_missing', `no canon store at ${file}; run \`sigil init\` first`);
    }
    try {
      this.#db = new Database(file);
      // 8 KiB pages hold several ~1.6 KiB records each: fewer WAL frames per commit. It only
      // takes effect on a new file (before the schema exists).
      this.#db.pragma('page_size = 8192');
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = FULL');
      this.#db.pragma('busy_timeout = 10000');
      this.#db.exec(SCHEMA);
    } catch (err) {
      throw storeError(err);
    }
    const db = this.#db;
    this.#stmt = {
      head: db.prepare<[], { size: number; hash: string | null }>(
        'SELECT size, hash FROM head WHERE one = 1',
      ),
      setHead: db.prepare<[number, string | null]>(
        'UPDATE head SET size = ?, hash = ? WHERE one = 1',
      ),
      insert: db.prepare(`INSERT INTO records (${ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      byId: db.prepare<[string], RawRow>(`SELECT ${ROW_COLUMNS} FROM records WHERE id = ?`),
      bySeq: db.prepare<[number], RawRow>(`SELECT ${ROW_COLUMNS} FROM records WHERE seq = ?`),
      range: db.prepare<[number, number], RawRow>(
        `SELECT ${ROW_COLUMNS} FROM records WHERE seq >= ? ORDER BY seq LIMIT ?`,
      ),
      leaves: db.prepare<[number, number], { seq: number; leaf_hash: Buffer }>(
        'SELECT seq, leaf_hash FROM records WHERE seq >= ? ORDER BY seq LIMIT ?',
      ),
      meta: db.prepare<[], { k: string; v: string }>('SELECT k, v FROM meta'),
      putCheckpoint: db.prepare(
        'INSERT INTO checkpoints (size, root, note, ts) VALUES (?, ?, ?, ?) ON CONFLICT (size) DO NOTHING',
      ),
      checkpointAt: db.prepare<[number], RawCheckpoint>(
        'SELECT size, root, note, ts FROM checkpoints WHERE size = ?',
      ),
      latestCheckpoint: db.prepare<[], RawCheckpoint>(
        'SELECT size, root, note, ts FROM checkpoints ORDER BY size DESC LIMIT 1',
      ),
      checkpoints: db.prepare<[], RawCheckpoint>(
        'SELECT size, root, note, ts FROM checkpoints ORDER BY size',
      ),
      stateGet: db.prepare<[string, string], { v: string }>(
        'SELECT v FROM state WHERE ns = ? AND k = ?',
      ),
      statePut: db.prepare(
        'INSERT INTO state (ns, k, v) VALUES (?, ?, ?) ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v',
      ),
      stateDelete: db.prepare('DELETE FROM state WHERE ns = ? AND k = ?'),
      stateList: db.prepare<[string], { k: string; v: string }>(
        'SELECT k, v FROM state WHERE ns = ? ORDER BY k',
      ),
    };
    this.state = this.#stateTable();
  }

  #stateTable(): StateTable {
    const s = this.#stmt;
    return {
      get: async (ns, key) => {
        const row = s.stateGet.get(ns, key);
        return row === undefined ? undefined : (JSON.parse(row.v) as JsonValue);
      },
      put: async (ns, key, value) => {
        s.statePut.run(ns, key, JSON.stringify(value));
      },
      delete: async (ns, key) => s.stateDelete.run(ns, key).changes > 0,
      list: async (ns) =>
        s.stateList.all(ns).map((r) => ({ key: r.k, value: JSON.parse(r.v) as JsonValue })),
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

  async appendBatch(seal: BatchSealer): Promise<StoredRow[]> {
    const s = this.#stmt;
    const run = this.#db.transaction((): StoredRow[] => {
      const head = s.head.get();
      if (head === undefined) throw new SigilError('store_missing', 'the canon store has no head');
      const rows = seal(head);
      for (const r of rows)
        s.insert.run(r.seq, r.id, r.kind, r.ts, r.leaf_hash, r.hash, r.prev, r.body);
      const last = rows[rows.length - 1];
      if (last !== undefined) s.setHead.run(last.seq + 1, last.hash);
      return rows;
    });
    try {
      return run.immediate();
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new SigilError('record_exists', 'a record with this id already exists');
      }
      throw storeError(err);
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
    return this.#db
      .prepare<typeof params, RawRow>(sql)
      .all(...params)
      .map(toRow);
  }

  async readRange(fromSeq: number, limit: number): Promise<StoredRow[]> {
    return this.#stmt.range.all(fromSeq, limit).map(toRow);
  }

  async leafHashes(
    fromSeq: number,
    limit: number,
  ): Promise<Array<{ seq: number; leafHash: Uint8Array }>> {
    return this.#stmt.leaves
      .all(fromSeq, limit)
      .map((r) => ({ seq: r.seq, leafHash: bytes(r.leaf_hash) }));
  }

  async putCheckpoint(cp: StoredCheckpoint): Promise<StoredCheckpoint> {
    this.#stmt.putCheckpoint.run(cp.size, cp.root, cp.note, cp.ts);
    return toCheckpoint(this.#stmt.checkpointAt.get(cp.size)!);
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const r = this.#stmt.latestCheckpoint.get();
    return r && toCheckpoint(r);
  }

  async checkpoints(): Promise<StoredCheckpoint[]> {
    return this.#stmt.checkpoints.all().map(toCheckpoint);
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
