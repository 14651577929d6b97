/**
 * The storage interface of the canon log. Two backends implement it (sqlite, postgres) and
 * share one test suite. A store knows rows, checkpoints, meta and the views projected from the
 * rows; it never sees a key: rows arrive sealed and encrypted, view rows arrive with their MAC,
 * and both leave the same way.
 */
import type { WrappedKey } from '../envelope.ts';
import type { RecordKind } from '../record.ts';

export type BackendName = 'sqlite' | 'postgres';

/** One record as stored: the clear columns plus the encrypted canonical record. */
export interface StoredRow {
  seq: number;
  id: string;
  kind: RecordKind;
  ts: string;
  leaf_hash: Uint8Array;
  hash: string;
  prev: string | null;
  /** encryptBody(dataKey, seq, id, canonical record bytes) */
  body: Uint8Array;
}

/** A signed tree head as stored: every checkpoint is kept. */
export interface StoredCheckpoint {
  size: number;
  root: Uint8Array;
  note: string;
  ts: string;
}

/**
 * A checkpoint as one witness cosigned it: the log's note with that witness's cosignature
 * line(s) appended. Kept as received and verified on every read (cosignatures verify on their
 * own, so the store need not be trusted with them).
 */
export interface StoredCosigned {
  cosigner: string;
  size: number;
  note: string;
}

/** The log head: the number of records and the hash of the last one. */
export interface LogHead {
  size: number;
  hash: string | null;
}

/** What `init` writes once; every instance on a shared database checks its keys against it. */
export interface StoreMeta {
  logId: string;
  /** The log's Ed25519 public key, base64url raw. */
  publicKey: string;
  /** The data key wrapped by the master key. */
  wrappedKey: WrappedKey;
  createdAt: string;
  /** What each Merkle leaf commits to (record.ts LOG_FORMAT); 1 when the meta names none. */
  logFormat: number;
}

/** How a store moves to another log format: each row's new leaf hash, in one transaction. */
export interface FormatMigration {
  from: number;
  to: number;
  /** The row's leaf hash under format `to`. */
  leafOf(row: StoredRow): Uint8Array;
}

/** Filters for listing rows in log order. */
export interface ListQuery {
  kind?: RecordKind;
  /** Only rows with ts ≥ since (RFC 3339 UTC). */
  since?: string;
  /** Only rows with seq > afterSeq (the pagination cursor). */
  afterSeq?: number;
  limit: number;
}

/**
 * One row of a view: state projected from the record at `seq` (whose hash is `hash`), with a
 * MAC binding namespace, key, value, seq and hash under the view key (see canon/views.ts).
 */
export interface ViewRow {
  ns: string;
  key: string;
  /** The value as JSON text. */
  value: string;
  seq: number;
  hash: string;
  mac: Uint8Array;
}

/** The view rows of the store: written only with their records, or all at once by a rebuild. */
export interface ViewTable {
  get(ns: string, key: string): Promise<ViewRow | undefined>;
  /** Every row of a namespace, ordered by key. */
  list(ns: string): Promise<ViewRow[]>;
  /** Every row, ordered by namespace then key. */
  all(): Promise<ViewRow[]>;
  /**
   * Replaces every row in one transaction, only while the log head still equals `head` (the
   * log the rows were projected from); 'conflict' when another writer appended meanwhile.
   */
  replaceAll(head: LogHead, rows: readonly ViewRow[]): Promise<void>;
}

/** What a sealer returns: the rows of the batch and the view rows they project to. */
export interface SealedBatch {
  rows: StoredRow[];
  views: ViewRow[];
}

/**
 * Seals a batch for the given head. Runs inside the store's transaction while the head is
 * locked, so concurrent writers (threads or processes) can never fork the chain; the view rows
 * commit in the same transaction as their records.
 */
export type BatchSealer = (head: LogHead) => SealedBatch;

/**
 * A compare-and-set on a view row: the append commits only while the row (ns, key) is still the
 * one projected from the record at `seq`; checked inside the transaction holding the head, so it
 * holds across instances on one database. Otherwise the append fails with 'conflict'.
 * `seq` -1 expects the row to be absent.
 */
export interface ViewExpectation {
  ns: string;
  key: string;
  seq: number;
}

/** A sealer that may wait (on worker threads) while the head is locked. */
export type AsyncBatchSealer = (head: LogHead) => Promise<SealedBatch>;

/**
 * A batch chained onto a head: `end` (the head once it is written) at once, the sealed rows and
 * views when the threads have signed and encrypted them (undefined if that failed).
 */
export interface ChainedBatch {
  end: LogHead;
  sealed: Promise<SealedBatch | undefined>;
}

/** What one take from a shared token bucket left: the tokens after it, and whether it took one. */
export interface BucketTake {
  tokens: number;
  taken: boolean;
}

/**
 * Token buckets shared by every instance on one database (rate limits as one system). Not
 * authority, so not in the log: a bucket is transient, and a full bucket equals an absent one.
 */
export interface RateBuckets {
  /**
   * Refills `key`'s bucket at `rate` tokens/s (by the database's clock, so the instances' clocks
   * do not matter), caps it at `burst`, and takes one token if there is one: atomically.
   */
  take(key: string, rate: number, burst: number): Promise<BucketTake>;
  /** Deletes at most `max` buckets that have refilled to their burst; how many it deleted. */
  prune(max: number): Promise<number>;
}

interface StoreReads {
  readonly backend: BackendName;
  readonly views: ViewTable;
  /** Shared rate-limit buckets: a backend several instances share has them (postgres). */
  readonly rateBuckets?: RateBuckets;
  /** Creates the schema if absent and writes the meta; 'store_exists' when already initialised. */
  initialise(meta: StoreMeta): Promise<void>;
  /** The meta, or undefined when the store has not been initialised. */
  readMeta(): Promise<StoreMeta | undefined>;
  /** Replaces the wrapped data key, only if the stored one still equals `expected`. */
  replaceWrappedKey(expected: WrappedKey, next: WrappedKey): Promise<void>;
  head(): Promise<LogHead>;
  getById(id: string): Promise<StoredRow | undefined>;
  getBySeq(seq: number): Promise<StoredRow | undefined>;
  list(query: ListQuery): Promise<StoredRow[]>;
  /** Up to `limit` rows with seq ≥ fromSeq, in seq order. */
  readRange(fromSeq: number, limit: number): Promise<StoredRow[]>;
  /**
   * The stored hashes of tile (level, index) of the Merkle tree (tile-tree.ts), as far as the tile
   * has grown (32 bytes each, 256 when full); undefined when absent. Tiles are written in the
   * append transaction with their records.
   */
  readTile(level: number, index: number): Promise<Uint8Array | undefined>;
  /**
   * The first stored tile row (by level, then index) that a tree of `size` does not use: one a
   * reader never asks for, so only validation names it; undefined when there is none.
   */
  unusedTile(size: number): Promise<{ level: number; index: number } | undefined>;
  /** How many leaves the stored tiles cover: where the last level-0 tile ends. */
  tiledSize(): Promise<number>;
  /**
   * Builds the tiles of up to `limit` records past tiledSize() from their leaf hashes, in one
   * transaction holding the head (stores made before tiles, or after a format migration);
   * returns tiledSize() after it.
   */
  buildTiles(limit: number): Promise<number>;
  /**
   * One transaction holding the head: replaces every leaf hash, moves the checkpoints (signed
   * over the old leaves) into the meta as `format<from>_checkpoints`, sets the log format, drops the tiles
   * (rebuilt at the next open). 'conflict' when the store is not at format `from`.
   */
  migrateFormat(m: FormatMigration): Promise<{ records: number; checkpoints: number }>;
  /** Stores a checkpoint unless one of that size exists; returns the stored one. */
  putCheckpoint(cp: StoredCheckpoint): Promise<StoredCheckpoint>;
  latestCheckpoint(): Promise<StoredCheckpoint | undefined>;
  /** Every checkpoint, by ascending size. */
  checkpoints(): Promise<StoredCheckpoint[]>;
  /** Keeps `c` as its cosigner's newest cosigned checkpoint unless a larger one is kept. */
  putCosigned(c: StoredCosigned): Promise<void>;
  /** Each cosigner's newest cosigned checkpoint. */
  cosigned(): Promise<StoredCosigned[]>;
  close(): Promise<void>;
}

/** A store one writer at a time commits to (SQLite): it seals and writes in one transaction. */
export interface LocalStore extends StoreReads {
  /**
   * One transaction: lock the head, seal, insert every row, upsert its view rows, advance the
   * head, commit durably. Aborts ('conflict') when a view row differs from its `expect`.
   */
  appendBatch(seal: BatchSealer, expect?: readonly ViewExpectation[]): Promise<StoredRow[]>;
  /**
   * A batch already sealed for `head`, committed as appendBatch would (the head and the
   * expectations checked inside the transaction holding it) without this thread waiting on the
   * commit. Resolves once durable; undefined, with nothing written, when the head is no longer
   * `head` or the backend cannot take it now (the caller then uses appendBatch).
   */
  appendSealed?(
    head: LogHead,
    batch: SealedBatch,
    expect?: readonly ViewExpectation[],
  ): Promise<StoredRow[] | undefined>;
  readonly appendChained?: undefined;
}

/** A store several writers share (PostgreSQL): a batch is sealed with no lock held. */
export interface SharedStore extends StoreReads {
  /**
   * `chain` chains the batch onto where the writers before this one will have left the head,
   * and it is sealed while they commit, with no lock held; the transaction holding the head
   * uses it only if the head is that one, and otherwise seals with `seal` there. The sealed
   * batch is awaited before `seal` is called. One transaction writes the rows, their view rows
   * and the head and commits durably; 'conflict' when a view row differs from its `expect`.
   */
  appendChained(
    chain: (head: LogHead) => ChainedBatch,
    seal: AsyncBatchSealer,
    expect?: readonly ViewExpectation[],
  ): Promise<StoredRow[]>;
  readonly appendSealed?: undefined;
}

export type CanonStore = LocalStore | SharedStore;
