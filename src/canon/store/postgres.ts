/**
 * The scale-out backend: several Sigil processes share one PostgreSQL database. Every append
 * batch is chained onto a ticketed tail and sealed with no lock held (appendChained), then
 * written in one transaction that takes the single head row FOR UPDATE, so writers queue on the
 * head and the log stays one chain: no gaps, no forks, no duplicate seq (seq is the primary
 * key, id is UNIQUE). Tables carry a `sigil_` prefix so they can share a database.
 */
import pg from 'pg';
import { SigilError } from '../../core/errors.ts';
import type { WrappedKey } from '../envelope.ts';
import type { RecordKind } from '../record.ts';
import {
  coverage,
  edgeTiles,
  FULL_TILE_BYTES,
  fullTilesEnd,
  storedTiles,
  TileEdge,
  type TileRow,
} from '../tile-tree.ts';
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
  AsyncBatchSealer,
  SharedStore,
  ChainedBatch,
  FormatMigration,
  ListQuery,
  LogHead,
  RateBuckets,
  SealedBatch,
  StoreMeta,
  StoredCheckpoint,
  StoredCosigned,
  StoredRow,
  ViewExpectation,
  ViewRow,
  ViewTable,
} from './types.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sigil_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sigil_head (one INTEGER PRIMARY KEY CHECK (one = 1), size BIGINT NOT NULL, hash TEXT);
CREATE TABLE IF NOT EXISTS sigil_records (
  seq BIGINT PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  ts TEXT NOT NULL,
  leaf_hash BYTEA NOT NULL,
  hash TEXT NOT NULL,
  prev TEXT,
  body BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS sigil_records_kind_seq ON sigil_records (kind, seq);
CREATE TABLE IF NOT EXISTS sigil_checkpoints (size BIGINT PRIMARY KEY, root BYTEA NOT NULL, note TEXT NOT NULL, ts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sigil_views (
  ns TEXT NOT NULL,
  k TEXT NOT NULL,
  v TEXT NOT NULL,
  seq BIGINT NOT NULL,
  hash TEXT NOT NULL,
  mac BYTEA NOT NULL,
  PRIMARY KEY (ns, k)
);
`;
/** Stores made before tiles lack the table: it is created at first use (FirstUse). */
const TILES_SCHEMA =
  'CREATE TABLE IF NOT EXISTS sigil_tiles (level INTEGER NOT NULL, idx BIGINT NOT NULL, nodes BYTEA NOT NULL, PRIMARY KEY (level, idx))';

/**
 * Shared rate-limit buckets (created at first use): transient state, never a record. `full_at` is
 * when the bucket will have refilled to its burst: from then on it equals an absent one, so the
 * prune may delete it (indexed, so a pass reads only what it deletes). Tables made before pruning
 * get the column; their rows are pruned once taken again.
 */
const BUCKETS_SCHEMA = `
CREATE TABLE IF NOT EXISTS sigil_rate_buckets (k TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, taken BOOLEAN NOT NULL, at TIMESTAMPTZ NOT NULL, full_at TIMESTAMPTZ);
ALTER TABLE sigil_rate_buckets ADD COLUMN IF NOT EXISTS full_at TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS sigil_rate_buckets_full_at ON sigil_rate_buckets (full_at);
`;

/**
 * One statement, so one row lock: refill by the database's now() since the bucket's last take
 * (never backwards: a statement that started earlier but locks later refills nothing), cap at
 * the burst, take a token when at least one is there. A new caller starts full, minus this take.
 */
const TAKE_BUCKET = `
INSERT INTO sigil_rate_buckets AS b (k, tokens, taken, at, full_at)
VALUES ($1, $3::float8 - 1, true, now(), now() + interval '1 second' / $2::float8)
ON CONFLICT (k) DO UPDATE SET (tokens, taken, at, full_at) = (
  SELECT t.v, t.took, t.at, t.at + interval '1 second' * (($3::float8 - t.v) / $2::float8)
  FROM (SELECT CASE WHEN r.v >= 1 THEN r.v - 1 ELSE r.v END AS v, r.v >= 1 AS took,
          GREATEST(b.at, now()) AS at
        FROM (SELECT LEAST($3::float8,
          b.tokens + GREATEST(0, EXTRACT(EPOCH FROM now() - b.at)::float8) * $2::float8) AS v) r) t)
RETURNING tokens, taken`;

/**
 * Deletes at most $1 buckets that are full again. The rows are locked (others' passes skip them)
 * and fullness is checked again on the locked row, so a take that lands meanwhile either waits
 * and then inserts a full bucket, the same thing, or keeps its row.
 */
const PRUNE_BUCKETS = `
DELETE FROM sigil_rate_buckets WHERE k IN (
  SELECT k FROM sigil_rate_buckets WHERE full_at <= now() ORDER BY full_at LIMIT $1
  FOR UPDATE SKIP LOCKED)
AND full_at <= now()`;

/** Any constant: serialises concurrent `init`s on one database. */
const INIT_LOCK = 0x5_1_6_1_1;
/** Any constant: the class of the append tickets' advisory locks (two-int form). */
const TICKET_LOCK = 0x5_1_6_1_2;
/**
 * Where the next reserved batch chains from: the head plus the batches reserved and not yet
 * committed. A prediction, never authority (appendChained); made from the head at first use.
 */
const TAIL_SCHEMA = `
CREATE TABLE IF NOT EXISTS sigil_tail (one INTEGER PRIMARY KEY CHECK (one = 1), size BIGINT NOT NULL, hash TEXT, ticket BIGINT NOT NULL);
INSERT INTO sigil_tail (one, size, hash, ticket) SELECT 1, size, hash, 0 FROM sigil_head ON CONFLICT (one) DO NOTHING`;
const ROW_COLUMNS = 'seq, id, kind, ts, leaf_hash, hash, prev, body';
const VIEW_COLUMNS = 'ns, k, v, seq, hash, mac';
/** How long an append whose COMMIT was cut off asks whether it landed (#settle). */
const SETTLE_MS = 10_000;
/**
 * How long the server keeps a session idle inside a transaction (default; the connection URL's
 * `idle_in_transaction_session_timeout` overrides it). Sigil's own transactions wait between
 * statements only for its sealing threads, milliseconds; a writer stopped mid-commit (a frozen
 * process, a partitioned host) would otherwise hold the head lock, and stall every instance,
 * until TCP gives up on it, hours later.
 */
const IDLE_IN_TRANSACTION_MS = 10_000;
/**
 * How long a batch waits for the ticket before its own: the batches ahead commit in far less.
 * A ticket held longer belongs to a writer that stopped outside a transaction, where the idle
 * timeout above does not reach; the order is only a prediction, so the batch goes on to the head.
 */
const TICKET_WAIT_MS = 5_000;

/** Rows per INSERT statement; bounds the size of one bind message. */
const INSERT_CHUNK = 2000;

interface RawRow {
  seq: string;
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
  seq: string;
  hash: string;
  mac: Buffer;
}

interface RawCheckpoint {
  size: string;
  root: Buffer;
  note: string;
  ts: string;
}

const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const buffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

function toRow(r: RawRow): StoredRow {
  return {
    seq: Number(r.seq),
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
  return { ns: r.ns, key: r.k, value: r.v, seq: Number(r.seq), hash: r.hash, mac: bytes(r.mac) };
}

/** Upserts view rows; of several rows for one key the last wins, as in the log. */
async function putViews(client: pg.PoolClient, rows: readonly ViewRow[]): Promise<void> {
  if (rows.length === 0) return;
  // One INSERT … ON CONFLICT may touch a key once only, so keep each key's last row.
  const last = [...new Map(rows.map((v) => [`${v.ns}\u0000${v.key}`, v])).values()];
  for (let i = 0; i < last.length; i += INSERT_CHUNK) {
    const chunk = last.slice(i, i + INSERT_CHUNK);
    await client.query(
      `INSERT INTO sigil_views (${VIEW_COLUMNS})
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bytea[])
       ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v, seq = excluded.seq, hash = excluded.hash, mac = excluded.mac`,
      [
        chunk.map((v) => v.ns),
        chunk.map((v) => v.key),
        chunk.map((v) => v.value),
        chunk.map((v) => v.seq),
        chunk.map((v) => v.hash),
        chunk.map((v) => buffer(v.mac)),
      ],
    );
  }
}

/** The tile upsert: a partial tile's row grows in place until it is full. */
const TILES_UPSERT = (p: number) => `INSERT INTO sigil_tiles (level, idx, nodes)
       SELECT * FROM unnest($${p}::int[], $${p + 1}::bigint[], $${p + 2}::bytea[])
       ON CONFLICT (level, idx) DO UPDATE SET nodes = excluded.nodes`;

/** The stored rows of `all` as TILES_UPSERT's parameters; of several rows for one tile the last. */
function tileParams(all: readonly TileRow[]): [number[], number[], Buffer[]] {
  // One upsert may touch a row once only; a later row of a tile holds the earlier one's nodes.
  const rows = [...new Map(storedTiles(all).map((t) => [`${t.level}/${t.index}`, t])).values()];
  return [rows.map((t) => t.level), rows.map((t) => t.index), rows.map((t) => buffer(t.nodes))];
}

/** Upserts tiles. */
async function putTiles(client: pg.PoolClient, all: readonly TileRow[]): Promise<void> {
  for (let i = 0; i < all.length; i += INSERT_CHUNK) {
    await client.query(TILES_UPSERT(1), tileParams(all.slice(i, i + INSERT_CHUNK)));
  }
}

/** Where the stored full level-0 tiles end (a multiple of 256). */
async function fullEndOf(client: pg.Pool | pg.PoolClient): Promise<number> {
  const last = await client.query<{ idx: string; n: number }>(
    'SELECT idx, length(nodes) AS n FROM sigil_tiles WHERE level = 0 ORDER BY idx DESC LIMIT 1',
  );
  const t = last.rows[0];
  return t === undefined ? 0 : fullTilesEnd(Number(t.idx) * 256 + t.n / 32);
}

function toCheckpoint(r: RawCheckpoint): StoredCheckpoint {
  return { size: Number(r.size), root: bytes(r.root), note: r.note, ts: r.ts };
}

function isUniqueIdViolation(err: unknown): boolean {
  const e = err as { code?: string; constraint?: string };
  return e.code === '23505' && e.constraint === 'sigil_records_id_key';
}

/** lock_not_available: a lock wait ran past lock_timeout. */
function isLockTimeout(err: unknown): boolean {
  return (err as { code?: string }).code === '55P03';
}

function appendError(err: unknown): unknown {
  return isUniqueIdViolation(err)
    ? new SigilError('record_exists', 'a record with this id already exists')
    : storeError(err);
}

/** Locks the head row for this transaction and reads it. */
async function lockHead(client: pg.PoolClient): Promise<LogHead> {
  const locked = await client.query<{ size: string; hash: string | null }>(
    'SELECT size, hash FROM sigil_head WHERE one = 1 FOR UPDATE',
  );
  const h = locked.rows[0];
  if (h === undefined) throw new SigilError('store_missing', 'the canon store has no head');
  return { size: Number(h.size), hash: h.hash };
}

/** Every view write holds the head lock, so the rows read here cannot move before commit. */
async function checkExpected(
  client: pg.PoolClient,
  expect: readonly ViewExpectation[],
): Promise<void> {
  for (const e of expect) {
    const row = await client.query<{ seq: string }>(
      'SELECT seq FROM sigil_views WHERE ns = $1 AND k = $2',
      [e.ns, e.key],
    );
    if (Number(row.rows[0]?.seq ?? -1) !== e.seq) throw viewMoved(e);
  }
}

/** A ticket's advisory lock key (the int4 form): tickets wrap only after 2^31 of them. */
const ticketKey = (ticket: number): number => ticket % 0x7fff_ffff;

/**
 * A table made at first use. Two instances creating it at once can fail one CREATE IF NOT EXISTS
 * (a catalog race): the retry finds the table. A failure is retried by the next call.
 */
class FirstUse {
  readonly #create: () => Promise<unknown>;
  #ready: Promise<void> | undefined;

  constructor(create: () => Promise<unknown>) {
    this.#create = create;
  }

  ready(): Promise<void> {
    this.#ready ??= this.#create()
      .catch(() => this.#create())
      .then(
        () => undefined,
        (err: unknown) => {
          this.#ready = undefined;
          throw err;
        },
      );
    return this.#ready;
  }

  reset(): void {
    this.#ready = undefined;
  }
}

/** A store in a PostgreSQL database reached through a connection pool. */
export class PostgresStore implements SharedStore {
  readonly backend = 'postgres' as const;
  readonly views: ViewTable;
  readonly #pool: pg.Pool;
  #cosignedReady: Promise<void> | undefined;
  readonly #tilesReady = new FirstUse(() => this.#query(TILES_SCHEMA));
  readonly #tailReady = new FirstUse(() => this.#query(TAIL_SCHEMA));
  readonly #bucketsReady = new FirstUse(() => this.#query(BUCKETS_SCHEMA));
  readonly rateBuckets: RateBuckets;
  /** The tree's right edge as of this store's last write; reloaded when another writer moved the head. */
  #edge: TileEdge | undefined;

  constructor(databaseUrl: string) {
    this.#pool = new pg.Pool({
      connectionString: databaseUrl,
      max: 4,
      idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
    });
    // A client losing its connection (a restart, pg_terminate_backend) must not crash the
    // process: pg emits 'error' on the client, and between or after queries nobody else may be
    // listening. The query in flight still fails, and the pool drops the client on release.
    this.#pool.on('error', () => {});
    this.#pool.on('connect', (client) => client.on('error', () => {}));
    this.views = this.#viewTable();
    this.rateBuckets = {
      take: async (key, rate, burst) => {
        await this.#bucketsReady.ready();
        const [row] = await this.#query<{ tokens: number; taken: boolean }>(TAKE_BUCKET, [
          key,
          rate,
          burst,
        ]).catch((err: unknown) => {
          // The table may be gone (dropped, a restore): the next take creates it again.
          this.#bucketsReady.reset();
          throw err;
        });
        if (row === undefined)
          throw new SigilError('store_error', 'rate bucket take returned no row');
        return { tokens: Number(row.tokens), taken: row.taken };
      },
      prune: async (max) => {
        await this.#bucketsReady.ready();
        const res = await this.#pool.query(PRUNE_BUCKETS, [max]).catch((err: unknown) => {
          this.#bucketsReady.reset();
          throw storeError(err);
        });
        return res.rowCount ?? 0;
      },
    };
  }

  async #query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.#pool.query<R>(sql, params)).rows;
    } catch (err) {
      throw storeError(err);
    }
  }

  /** Runs `fn` in one transaction on one pooled connection; rolls back on any error. */
  async #transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw storeError(err);
    }
    let broken: Error | undefined;
    // The server may end the connection between two queries (a restart): without a listener
    // that 'error' event would crash the process.
    const onError = (err: Error) => {
      broken = err;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      // A database fault (the server restarted, the connection dropped) may leave this
      // connection unusable: drop it rather than hand it to the next transaction.
      if (!(err instanceof SigilError))
        broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  /**
   * The right edge at `size` (inside the transaction holding the head, size ≤ head): a copy of
   * this store's own when current (extended by another instance's records: `tiles` are the rows
   * that extension changes, for the caller to write with its own), else loaded from the stored
   * tiles where the full level-0 tiles end and extended with the leaf hashes after them, writing
   * the tiles they complete.
   */
  async #edgeAt(
    client: pg.PoolClient,
    size: number,
    /** The leaf hashes from this store's own edge on, read with the head (appendChained). */
    read?: { from: number; leaves: Buffer[] },
  ): Promise<{ edge: TileEdge; tiles: TileRow[] }> {
    const own = this.#edge;
    if (own?.size === size) return { edge: own.clone(), tiles: [] };
    if (own !== undefined && read?.from === own.size && own.size + read.leaves.length === size) {
      const edge = own.clone();
      return { edge, tiles: edge.extend(read.leaves.map(bytes)) };
    }
    // Another instance appended since this one's last write (with 4 writers, nearly every
    // batch): its records, committed under the head lock and never changed, extend this
    // instance's own edge, one round trip under the lock instead of three. The tiles they
    // complete were stored by their writer; the caller writes them again, the same bytes, with
    // its own records.
    if (own !== undefined && own.size < size && size - own.size <= INSERT_CHUNK * 32) {
      const leaves = await client.query<{ leaf_hash: Buffer }>(
        'SELECT leaf_hash FROM sigil_records WHERE seq >= $1 AND seq < $2 ORDER BY seq',
        [own.size, size],
      );
      if (leaves.rows.length === size - own.size) {
        const edge = own.clone();
        return { edge, tiles: edge.extend(leaves.rows.map((r) => bytes(r.leaf_hash))) };
      }
    }
    // From where the full level-0 tiles end: the partial level-0 tile is not stored (storedTiles).
    const tiled = Math.min(await fullEndOf(client), fullTilesEnd(size));
    const want = edgeTiles(tiled);
    const stored = await client.query<{ level: number; idx: string; nodes: Buffer }>(
      `SELECT level, idx, nodes FROM sigil_tiles
       WHERE (level, idx) IN (SELECT * FROM unnest($1::int[], $2::bigint[]))`,
      [want.map((t) => t.level), want.map((t) => t.index)],
    );
    const byKey = new Map(stored.rows.map((t) => [`${t.level}/${t.idx}`, bytes(t.nodes)]));
    const edge = TileEdge.load(tiled, (level, index) => byKey.get(`${level}/${index}`));
    for (let from = tiled; from < size;) {
      const leaves = await client.query<{ leaf_hash: Buffer }>(
        'SELECT leaf_hash FROM sigil_records WHERE seq >= $1 AND seq < $2 ORDER BY seq LIMIT $3',
        [from, size, INSERT_CHUNK * 32],
      );
      if (leaves.rows.length === 0) {
        throw new SigilError('store_error', `records ${from}..${size - 1} are missing`);
      }
      await putTiles(client, edge.extend(leaves.rows.map((r) => bytes(r.leaf_hash))));
      from += leaves.rows.length;
    }
    return { edge, tiles: [] };
  }

  #viewTable(): ViewTable {
    return {
      get: async (ns, key) => {
        const [row] = await this.#query<RawView>(
          `SELECT ${VIEW_COLUMNS} FROM sigil_views WHERE ns = $1 AND k = $2`,
          [ns, key],
        );
        return row && toView(row);
      },
      list: async (ns) =>
        (
          await this.#query<RawView>(
            `SELECT ${VIEW_COLUMNS} FROM sigil_views WHERE ns = $1 ORDER BY k`,
            [ns],
          )
        ).map(toView),
      all: async () =>
        (await this.#query<RawView>(`SELECT ${VIEW_COLUMNS} FROM sigil_views ORDER BY ns, k`)).map(
          toView,
        ),
      replaceAll: async (head, rows) => {
        try {
          await this.#transaction(async (client) => {
            const h = await lockHead(client);
            if (h.size !== head.size || h.hash !== head.hash) {
              throw new SigilError('conflict', 'the log grew while its views were being rebuilt');
            }
            await client.query('DELETE FROM sigil_views');
            await putViews(client, rows);
          });
        } catch (err) {
          throw storeError(err);
        }
      },
    };
  }

  async initialise(meta: StoreMeta): Promise<void> {
    try {
      await this.#transaction(async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1)', [INIT_LOCK]);
        await client.query(SCHEMA);
        await client.query(TILES_SCHEMA);
        const existing = await client.query('SELECT 1 FROM sigil_meta LIMIT 1');
        if (existing.rowCount !== 0) {
          throw new SigilError('store_exists', 'the canon store is already initialised');
        }
        for (const [k, v] of metaToEntries(meta)) {
          await client.query('INSERT INTO sigil_meta (k, v) VALUES ($1, $2)', [k, v]);
        }
        await client.query('INSERT INTO sigil_head (one, size, hash) VALUES (1, 0, NULL)');
      });
    } catch (err) {
      throw storeError(err);
    }
  }

  async readMeta(): Promise<StoreMeta | undefined> {
    const [exists] = await this.#query<{ t: string | null }>(
      "SELECT to_regclass('sigil_meta')::text AS t",
    );
    if (exists?.t == null) return undefined;
    const rows = await this.#query<{ k: string; v: string }>('SELECT k, v FROM sigil_meta');
    return metaFromEntries(rows.map((r) => [r.k, r.v]));
  }

  async replaceWrappedKey(expected: WrappedKey, next: WrappedKey): Promise<void> {
    const rows = await this.#query(
      "UPDATE sigil_meta SET v = $1 WHERE k = 'wrapped_key' AND v = $2 RETURNING k",
      [JSON.stringify(next), JSON.stringify(expected)],
    );
    if (rows.length !== 1) {
      throw new SigilError('store_error', 'the wrapped data key changed underneath the rotation');
    }
  }

  /**
   * The head lock serialises writers; sealing under it left every other instance waiting for
   * one instance's sign and encrypt. So a batch is first chained onto the tail (the head plus
   * the batches reserved ahead of it, a short transaction of its own), sealed with no lock held
   * while the batches before it commit, and committed in reservation order: each reservation
   * holds a session advisory lock (its ticket) until its commit, and the next waits for it
   * before it takes the head (at most TICKET_WAIT_MS: a writer stopped holding its ticket
   * does not stop the log). The tail is only a prediction: the commit checks the head under its
   * lock, and a batch chained onto anything else (a reservation that failed or was waited out,
   * a writer that does not reserve) is sealed again there onto the real head, and puts the tail
   * right if no one reserved after it. A connection that fails is dropped, so its advisory
   * locks go with it.
   */
  async appendChained(
    chain: (head: LogHead) => ChainedBatch,
    seal: AsyncBatchSealer,
    expect: readonly ViewExpectation[] = [],
  ): Promise<StoredRow[]> {
    let client: pg.PoolClient;
    try {
      await this.#tilesReady.ready();
      await this.#tailReady.ready();
      client = await this.#pool.connect();
    } catch (err) {
      throw storeError(err);
    }
    let broken: Error | undefined;
    const onError = (err: Error) => {
      broken = err;
    };
    client.on('error', onError);
    let committing: StoredRow[] | undefined;
    try {
      const reserved = await this.#reserve(client, chain);
      const sealed = reserved && (await reserved.sealed.catch(() => undefined));
      // One round trip: wait (bounded) for the reservation before, lock the head, read the
      // leaves the other writers added since this store's own edge (each statement sees what
      // committed before it).
      const from = this.#edge?.size;
      const lockHead = `SELECT size, hash FROM sigil_head WHERE one = 1 FOR UPDATE;
         ${from === undefined ? '' : `SELECT leaf_hash FROM sigil_records WHERE seq >= ${from} AND seq < (SELECT size FROM sigil_head WHERE one = 1) ORDER BY seq LIMIT ${INSERT_CHUNK * 32}`}`;
      let results: pg.QueryResult[];
      try {
        results = (await client.query(
          reserved === undefined
            ? `BEGIN; ${lockHead}`
            : `BEGIN; SET LOCAL lock_timeout = ${TICKET_WAIT_MS}; SAVEPOINT ticket;
               SELECT pg_advisory_lock_shared(${TICKET_LOCK}, ${ticketKey(reserved.ticket - 1)});
               RELEASE SAVEPOINT ticket; SET LOCAL lock_timeout = 0; ${lockHead}`,
        )) as unknown as pg.QueryResult[];
      } catch (err) {
        if (reserved === undefined || !isLockTimeout(err)) throw err;
        // The writer ahead stopped holding its ticket: take the head without it. The head is
        // checked under its lock below, so this batch is sealed again onto the real head.
        results = (await client.query(
          `ROLLBACK TO SAVEPOINT ticket; SET LOCAL lock_timeout = 0; ${lockHead}`,
        )) as unknown as pg.QueryResult[];
      }
      const leaves = from === undefined ? undefined : results[results.length - 1]!.rows;
      const h = results[results.length - (from === undefined ? 1 : 2)]!.rows[0] as
        { size: string; hash: string | null } | undefined;
      if (h === undefined) throw new SigilError('store_missing', 'the canon store has no head');
      const head = { size: Number(h.size), hash: h.hash };
      await checkExpected(client, expect);
      const fresh =
        sealed !== undefined &&
        reserved!.start.size === head.size &&
        reserved!.start.hash === head.hash;
      const batch = fresh ? sealed : await seal(head);
      const { rows, edge } = await this.#writeLocked(
        client,
        head,
        batch,
        leaves && {
          from: from!,
          leaves: leaves.map((r) => (r as { leaf_hash: Buffer }).leaf_hash),
        },
      );
      const last = rows[rows.length - 1];
      if (!fresh && reserved !== undefined && last !== undefined) {
        await client.query(
          'UPDATE sigil_tail SET size = $1, hash = $2 WHERE one = 1 AND ticket = $3',
          [last.seq + 1, last.hash, reserved.ticket],
        );
      }
      // Durable (synchronous commit) before the next reservation may take the head.
      committing = rows;
      await client.query('COMMIT; SELECT pg_advisory_unlock_all()');
      this.#edge = edge;
      return rows;
    } catch (err) {
      this.#edge = undefined;
      await client.query('ROLLBACK').catch(() => {});
      // Dropped, not reused: a session advisory lock must not outlive its reservation.
      broken ??= err instanceof Error ? err : new Error(String(err));
      if (committing !== undefined) return this.#settle(committing, err);
      throw appendError(err);
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  /**
   * A COMMIT whose answer was lost (the connection ended under it) may have committed: the
   * batch is acknowledged if its last row is in the log, refused if another row or none holds
   * its seq, never guessed. The head is locked FOR SHARE first, so a transaction still
   * finishing on a server that outlived the socket is waited for, not read around. The
   * database is asked again, within a bound, while it does not answer.
   */
  async #settle(rows: StoredRow[], cause: unknown): Promise<StoredRow[]> {
    const last = rows[rows.length - 1];
    if (last === undefined) throw appendError(cause);
    const deadline = Date.now() + SETTLE_MS;
    for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
      let landed: string | undefined;
      try {
        const results = (await this.#pool.query(
          `BEGIN; SELECT 1 FROM sigil_head WHERE one = 1 FOR SHARE;
           SELECT hash FROM sigil_records WHERE seq = ${last.seq}; COMMIT`,
        )) as unknown as pg.QueryResult<{ hash: string }>[];
        landed = results[2]!.rows[0]?.hash;
      } catch {
        if (Date.now() + wait > deadline) {
          throw new SigilError(
            'store_error',
            `canon store: the commit of records ${rows[0]!.seq}..${last.seq} was cut off and the database did not answer whether it landed`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, wait));
        continue;
      }
      if (landed === last.hash) return rows;
      throw appendError(cause);
    }
  }

  /**
   * Takes the next ticket and chains the batch onto the tail, in one short transaction holding
   * the tail row (committed without waiting for the disk: a lost tail is only a wrong guess);
   * undefined, with nothing chained, when the tail row is gone (created again next time).
   */
  async #reserve(
    client: pg.PoolClient,
    chain: (head: LogHead) => ChainedBatch,
  ): Promise<
    { ticket: number; start: LogHead; sealed: Promise<SealedBatch | undefined> } | undefined
  > {
    const results = (await client.query(
      `BEGIN; SET LOCAL synchronous_commit = off;
       SELECT size, hash, ticket FROM sigil_tail WHERE one = 1 FOR UPDATE`,
    )) as unknown as pg.QueryResult<{ size: string; hash: string | null; ticket: string }>[];
    const t = results[results.length - 1]!.rows[0];
    const start = t && { size: Number(t.size), hash: t.hash };
    const ticket = t && Number(t.ticket) + 1;
    if (start === undefined || !Number.isSafeInteger(ticket) || !Number.isSafeInteger(start.size)) {
      await client.query('ROLLBACK');
      this.#tailReady.reset();
      return undefined;
    }
    const { end, sealed } = chain(start);
    // Inlined into SQL below: only this log's own numbers and hex hash, checked.
    if (
      !Number.isSafeInteger(end.size) ||
      (end.hash === null ? end.size !== 0 : !/^[0-9a-f]{64}$/.test(end.hash))
    ) {
      throw new SigilError('internal_error', 'a chained batch ends at no valid head');
    }
    await client.query(
      `SELECT pg_advisory_lock(${TICKET_LOCK}, ${ticketKey(ticket!)});
       UPDATE sigil_tail SET size = ${end.size}, hash = ${end.hash === null ? 'NULL' : `'${end.hash}'`}, ticket = ${ticket} WHERE one = 1;
       COMMIT`,
    );
    return { ticket: ticket!, start, sealed };
  }

  /** Writes a batch sealed for `head` (locked by this transaction): views, tiles, rows, head. */
  async #writeLocked(
    client: pg.PoolClient,
    head: LogHead,
    { rows, views }: SealedBatch,
    read?: { from: number; leaves: Buffer[] },
  ): Promise<{ rows: StoredRow[]; edge: TileEdge }> {
    await putViews(client, views);
    const at = await this.#edgeAt(client, head.size, read);
    const edge = at.edge;
    const tiles = [...at.tiles, ...edge.extend(rows.map((r) => r.leaf_hash))];
    if (rows.length === 0 || tiles.length > INSERT_CHUNK) await putTiles(client, tiles);
    const last = rows[rows.length - 1];
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const chunk = rows.slice(i, i + INSERT_CHUNK);
      const params = [
        chunk.map((r) => r.seq),
        chunk.map((r) => r.id),
        chunk.map((r) => r.kind),
        chunk.map((r) => r.ts),
        chunk.map((r) => buffer(r.leaf_hash)),
        chunk.map((r) => r.hash),
        chunk.map((r) => r.prev),
        chunk.map((r) => buffer(r.body)),
      ];
      const insert = `INSERT INTO sigil_records (${ROW_COLUMNS})
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[], $7::text[], $8::bytea[])`;
      // The last chunk writes the tiles and advances the head in the same statement: two
      // round trips fewer while every other writer waits for the lock.
      await (i + INSERT_CHUNK < rows.length || last === undefined
        ? client.query(insert, params)
        : tiles.length > INSERT_CHUNK
          ? client.query(
              `WITH ins AS (${insert}) UPDATE sigil_head SET size = $9, hash = $10 WHERE one = 1`,
              [...params, last.seq + 1, last.hash],
            )
          : client.query(
              `WITH ins AS (${insert}), t AS (${TILES_UPSERT(11)})
               UPDATE sigil_head SET size = $9, hash = $10 WHERE one = 1`,
              [...params, last.seq + 1, last.hash, ...tileParams(tiles)],
            ));
    }
    return { rows, edge };
  }

  async head(): Promise<LogHead> {
    const [h] = await this.#query<{ size: string; hash: string | null }>(
      'SELECT size, hash FROM sigil_head WHERE one = 1',
    );
    if (h === undefined) throw new SigilError('store_missing', 'the canon store has no head');
    return { size: Number(h.size), hash: h.hash };
  }

  async getById(id: string): Promise<StoredRow | undefined> {
    const [r] = await this.#query<RawRow>(
      `SELECT ${ROW_COLUMNS} FROM sigil_records WHERE id = $1`,
      [id],
    );
    return r && toRow(r);
  }

  async getBySeq(seq: number): Promise<StoredRow | undefined> {
    const [r] = await this.#query<RawRow>(
      `SELECT ${ROW_COLUMNS} FROM sigil_records WHERE seq = $1`,
      [seq],
    );
    return r && toRow(r);
  }

  async list(q: ListQuery): Promise<StoredRow[]> {
    const params: unknown[] = [q.afterSeq ?? -1];
    const where = ['seq > $1'];
    if (q.kind !== undefined) {
      params.push(q.kind);
      where.push(`kind = $${params.length}`);
    }
    if (q.since !== undefined) {
      params.push(q.since);
      where.push(`ts >= $${params.length}`);
    }
    params.push(q.limit);
    const rows = await this.#query<RawRow>(
      `SELECT ${ROW_COLUMNS} FROM sigil_records WHERE ${where.join(' AND ')} ORDER BY seq LIMIT $${params.length}`,
      params,
    );
    return rows.map(toRow);
  }

  async readRange(fromSeq: number, limit: number): Promise<StoredRow[]> {
    const rows = await this.#query<RawRow>(
      `SELECT ${ROW_COLUMNS} FROM sigil_records WHERE seq >= $1 ORDER BY seq LIMIT $2`,
      [fromSeq, limit],
    );
    return rows.map(toRow);
  }

  /** A stored tile; the partial level-0 one is the records' last leaf hashes (storedTiles). */
  async readTile(level: number, index: number): Promise<Uint8Array | undefined> {
    await this.#tilesReady.ready();
    const [t] = await this.#query<{ nodes: Buffer }>(
      'SELECT nodes FROM sigil_tiles WHERE level = $1 AND idx = $2',
      [level, index],
    );
    if (t !== undefined && (level > 0 || t.nodes.length === FULL_TILE_BYTES)) return bytes(t.nodes);
    if (level > 0) return undefined;
    const { size } = await this.head();
    if ((index + 1) * 256 <= size) return undefined;
    const leaves = await this.#query<{ seq: string; leaf_hash: Buffer }>(
      'SELECT seq, leaf_hash FROM sigil_records WHERE seq >= $1 AND seq < $2 ORDER BY seq',
      [index * 256, size],
    );
    if (leaves.length === 0 || leaves.some((r, i) => Number(r.seq) !== index * 256 + i)) {
      return undefined;
    }
    return bytes(Buffer.concat(leaves.map((r) => r.leaf_hash)));
  }

  async unusedTile(size: number): Promise<{ level: number; index: number } | undefined> {
    await this.#tilesReady.ready();
    const { where, params } = unusedTilesWhere(size, (i) => `$${i}`);
    const [row] = await this.#query<{ level: number; idx: string }>(
      `SELECT level, idx FROM sigil_tiles WHERE ${where} ORDER BY level, idx LIMIT 1`,
      params,
    );
    return row && { level: row.level, index: Number(row.idx) };
  }

  async tiledSize(): Promise<number> {
    await this.#tilesReady.ready();
    try {
      return coverage((await this.head()).size, await fullEndOf(this.#pool));
    } catch (err) {
      throw storeError(err);
    }
  }

  async buildTiles(limit: number): Promise<number> {
    try {
      await this.#tilesReady.ready();
      return await this.#transaction(async (client) => {
        const locked = await client.query<{ size: string }>(
          'SELECT size FROM sigil_head WHERE one = 1 FOR UPDATE',
        );
        if (locked.rows[0] === undefined) {
          throw new SigilError('store_missing', 'the canon store has no head');
        }
        const size = Number(locked.rows[0].size);
        const { edge, tiles } = await this.#edgeAt(
          client,
          Math.min(size, (await fullEndOf(client)) + limit),
        );
        await putTiles(client, tiles);
        return edge.size;
      });
    } catch (err) {
      this.#edge = undefined;
      throw storeError(err);
    }
  }

  async migrateFormat(m: FormatMigration): Promise<{ records: number; checkpoints: number }> {
    try {
      return await this.#transaction(async (client) => {
        await client.query('SELECT size FROM sigil_head WHERE one = 1 FOR UPDATE');
        const meta = await client.query<{ k: string; v: string }>('SELECT k, v FROM sigil_meta');
        checkMigrationStart(metaFromEntries(meta.rows.map((r) => [r.k, r.v])), m.from);
        let records = 0;
        for (let from = 0; ;) {
          const chunk = (
            await client.query<RawRow>(
              `SELECT ${ROW_COLUMNS} FROM sigil_records WHERE seq >= $1 ORDER BY seq LIMIT $2`,
              [from, INSERT_CHUNK],
            )
          ).rows.map(toRow);
          if (chunk.length > 0) {
            await client.query(
              `UPDATE sigil_records r SET leaf_hash = u.leaf
               FROM unnest($1::bigint[], $2::bytea[]) AS u(seq, leaf) WHERE r.seq = u.seq`,
              [chunk.map((r) => r.seq), chunk.map((r) => buffer(m.leafOf(r)))],
            );
          }
          records += chunk.length;
          if (chunk.length < INSERT_CHUNK) break;
          from = chunk[chunk.length - 1]!.seq + 1;
        }
        const retired = (
          await client.query<RawCheckpoint>(
            'SELECT size, root, note, ts FROM sigil_checkpoints ORDER BY size',
          )
        ).rows.map(toCheckpoint);
        await client.query('INSERT INTO sigil_meta (k, v) VALUES ($1, $2)', [
          retiredCheckpointsKey(m.from),
          JSON.stringify(retired.map((c) => ({ size: c.size, note: c.note, ts: c.ts }))),
        ]);
        await client.query('DELETE FROM sigil_checkpoints');
        // Tiles hash the old leaves; the next open builds them again.
        await client.query(TILES_SCHEMA);
        await client.query('DELETE FROM sigil_tiles');
        this.#edge = undefined;
        await client.query(
          "INSERT INTO sigil_meta (k, v) VALUES ('log_format', $1) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
          [String(m.to)],
        );
        return { records, checkpoints: retired.length };
      });
    } catch (err) {
      throw storeError(err);
    }
  }

  async putCheckpoint(cp: StoredCheckpoint): Promise<StoredCheckpoint> {
    await this.#query(
      'INSERT INTO sigil_checkpoints (size, root, note, ts) VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING',
      [cp.size, buffer(cp.root), cp.note, cp.ts],
    );
    const [r] = await this.#query<RawCheckpoint>(
      'SELECT size, root, note, ts FROM sigil_checkpoints WHERE size = $1',
      [cp.size],
    );
    return toCheckpoint(r!);
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const [r] = await this.#query<RawCheckpoint>(
      'SELECT size, root, note, ts FROM sigil_checkpoints ORDER BY size DESC LIMIT 1',
    );
    return r && toCheckpoint(r);
  }

  async checkpoints(): Promise<StoredCheckpoint[]> {
    const rows = await this.#query<RawCheckpoint>(
      'SELECT size, root, note, ts FROM sigil_checkpoints ORDER BY size',
    );
    return rows.map(toCheckpoint);
  }

  /** Stores made before cosignatures existed lack the table: it is created on first use. */
  async #cosignedTable(): Promise<void> {
    this.#cosignedReady ??= this.#query(
      'CREATE TABLE IF NOT EXISTS sigil_cosigned (cosigner TEXT PRIMARY KEY, size BIGINT NOT NULL, note TEXT NOT NULL)',
    ).then(
      () => undefined,
      (err: unknown) => {
        this.#cosignedReady = undefined;
        throw err;
      },
    );
    return this.#cosignedReady;
  }

  async putCosigned(c: StoredCosigned): Promise<void> {
    await this.#cosignedTable();
    await this.#query(
      `INSERT INTO sigil_cosigned (cosigner, size, note) VALUES ($1, $2, $3)
       ON CONFLICT (cosigner) DO UPDATE SET size = excluded.size, note = excluded.note
       WHERE excluded.size >= sigil_cosigned.size`,
      [c.cosigner, c.size, c.note],
    );
  }

  async cosigned(): Promise<StoredCosigned[]> {
    await this.#cosignedTable();
    const rows = await this.#query<{ cosigner: string; size: string; note: string }>(
      'SELECT cosigner, size, note FROM sigil_cosigned ORDER BY cosigner',
    );
    return rows.map((r) => ({ cosigner: r.cosigner, size: Number(r.size), note: r.note }));
  }

  async close(): Promise<void> {
    if (!this.#pool.ended) await this.#pool.end();
  }
}
