/**
 * CanonLog: the append-only, signed, encrypted, Merkle-proven log over a storage backend.
 *
 * - `init` creates the store meta (log id, log public key, wrapped data key) and the log's
 *   Ed25519 key in the key store at <dataDir>/keys (key id 'log').
 * - `open` resolves the master key, unwraps the data key ('master_key_invalid' on a wrong key,
 *   nothing written), loads the log key and checks it is the one the store was created with.
 * - Appends are group-committed (see append.ts); sealing happens inside the store transaction
 *   holding the head, so several processes on one database never fork the chain. Batches are
 *   chained ahead against the head this log last wrote (each after the batch staged before it)
 *   and, from POOL_MIN_BATCH records, sealed on worker threads (seal-pool.ts), pipelined with
 *   the previous batch's write; the transaction uses them only if the head is still that one,
 *   and otherwise seals in-line. When that proves stale (another writer moved the head), the
 *   next STALE_BACKOFF batches are sealed in their transaction only. A store that can commit a
 *   sealed batch without blocking this thread (SQLite's writer thread: appendSealed) gets it
 *   there; appendBatch remains SQLite's path for everything else. A store several writers share
 *   (PostgreSQL) takes every batch through appendChained instead.
 * - The Merkle tree is stored as C2SP tlog-tiles (tile-tree.ts), written by the store in the
 *   append transaction; the store keeps only the tree's right edge in memory, reloaded when
 *   another writer moved the head. Roots, proofs and the tile API read stored tiles, so an
 *   instance holds O(log n) of the tree and sees every writer's records. Stores made before tiles
 *   get theirs built at open.
 * - Checkpoints are signed on demand, every `checkpointEvery.appends` appends and every
 *   `checkpointEvery.ms` while appends are pending a checkpoint; each one is stored.
 * - Views (views.ts) are projected from each record while it is sealed and commit with it;
 *   `views` reads them back, authenticated. `checkViews` and `rebuildViews` re-project the log.
 */
import type { KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPair, publicKeyToRaw, type Ed25519KeyPair } from '../core/ed25519.ts';
import {
  constantTimeEqual,
  fromHex,
  toBase64Url,
  toHex,
  utf8Decode,
  utf8Encode,
} from '../core/encoding.ts';
import { hkdfSha256 } from '../core/kdf.ts';
import { SigilError } from '../core/errors.ts';
import { randomBytes } from '../core/random.ts';
import { availableParallelism } from 'node:os';
import {
  assertPoolMatchesRecordModule,
  assertSealerMatchesRecordModule,
  GroupCommit,
  presealBatch,
  readyDrafts,
  sealBatch,
  type PresealedBatch,
  type ReadyDraft,
  type Sealed,
  type SealedRecord,
  type SealKeys,
} from './append.ts';
import { checkpointOrigin, signCheckpoint, verifierKey } from './checkpoint.ts';
import { decryptBody, generateDataKey, unwrapDataKey, wrapDataKey } from './envelope.ts';
import { KeyStore } from './keystore.ts';
import { assertPrivateDir, resolveMasterKey, type MasterKey } from './masterkey.ts';
import { leafHash } from './merkle.ts';
import { buildConsistencyProof, buildInclusionProof } from './proof.ts';
import type { ConsistencyProof, InclusionProof } from './proof.ts';
import { RECORD_DOMAIN } from './record-json.ts';
import { LOG_FORMAT, leafEntry } from './record.ts';
import { SealPool } from './seal-pool.ts';
import type { CanonicalRecord, RecordDraft, RecordKind } from './record.ts';
import { encodeEntryBundle, TILE_WIDTH, tileWidthAt } from './tiles.ts';
import { TiledTree } from './tile-tree.ts';
import { openStore, resolveBackend, type StoreOptions } from './store/index.ts';
import type {
  BackendName,
  CanonStore,
  LogHead,
  RateBuckets,
  SealedBatch,
  StoredRow,
  ViewExpectation,
  ViewRow,
} from './store/types.ts';
import { WitnessPusher, type WitnessEndpoint, type WitnessStatus } from './witnesses.ts';
import { validateStore, type ValidateOptions, type ValidationResult } from './validate.ts';
import {
  deriveViewKey,
  PROJECTED_KINDS,
  projectRecord,
  sealViewRow,
  viewReader,
  viewRowAuthentic,
  type ViewReader,
} from './views.ts';

export type { SealedRecord } from './append.ts';

/**
 * A batch sealed ahead and, where the store has a writer of its own (appendSealed), handed to
 * it as soon as it is sealed and the batch before it was handed over: `written` is what
 * appendSealed answered (undefined: not written, commit it in its transaction). `handed`
 * settles once the batch went to the writer or will not, so the next one goes after it.
 */
type AheadBatch = PresealedBatch & {
  written?: Promise<StoredRow[] | undefined>;
  handed: Promise<void>;
};

/**
 * Smallest batch sealed on worker threads: below it the round trip costs more than signing
 * in-line, and a log that only ever appends alone (most tests, the CLI) never starts a thread.
 */
const POOL_MIN_BATCH = 8;
/** Batches sealed in their transaction, not ahead, after one sealed ahead proved stale. */
const STALE_BACKOFF = 16;
/**
 * Sealing threads: one per core beside the log's own thread (which chains, answers and hands
 * batches to the writer), at least one, at most four. On two cores, two sealing threads beside
 * the log's thread sealed fewer records a second than one: more thread switches, not more cores.
 */
const POOL_THREADS = Math.max(1, Math.min(4, availableParallelism() - 1));

/** How to reach a log: the data dir, the backend, and when to checkpoint. */
export interface CanonLogOptions extends StoreOptions {
  /** Checkpoint at least every `appends` appends and every `ms` milliseconds (default 1000 / 60 s). */
  checkpointEvery?: { appends: number; ms: number };
  /** Largest canonical payload accepted by append (default record.ts's 1 MiB). */
  maxPayloadBytes?: number;
  /**
   * Witnesses to push checkpoints to (C2SP tlog-witness), at most once a second. With any, open
   * asks them for their view first, and a tree that does not extend what they cosigned refuses
   * writes ('log_rolled_back').
   */
  witnesses?: readonly WitnessEndpoint[];
  /**
   * How many witnesses must cosign a served checkpoint, and how many unproven claims roll the
   * log back (default: a majority). One witness's proof always does.
   */
  witnessQuorum?: number;
  /** Where witness problems and the rollback alarm are written (default: stderr). */
  warn?: (line: string) => void;
}

/** How an append commits: `expect` makes it a compare-and-set on view rows. */
export interface AppendOptions {
  expect?: readonly ViewExpectation[];
}

/** What `init` created. */
export interface InitResult {
  dataDir: string;
  backend: BackendName;
  logId: string;
  origin: string;
  /** base64url raw Ed25519 public key of the log */
  publicKey: string;
  /** C2SP verifier key string: what a verifier needs to check checkpoints */
  verifierKey: string;
  masterKeySource: MasterKey['source'];
  /** Set when init created <dataDir>/master.key (the development fallback). */
  masterKeyWarning?: string;
}

/** A page of records in log order; `cursor` continues after the last one. */
export interface RecordPage {
  records: SealedRecord[];
  cursor?: string;
}

/** A view row that is not the projection of the log. */
export interface ViewProblem {
  ns: string;
  key: string;
  /**
   * unauthenticated: the row fails its MAC; no_record: no record projects to this key;
   * differs: the row is not what its record projects; missing: a record's row is absent.
   */
  problem: 'unauthenticated' | 'no_record' | 'differs' | 'missing';
  /** The record the row should come from (or, for a row with no record, the one it claims). */
  seq: number;
  record_id?: string;
}

export interface ListOptions {
  kind?: RecordKind;
  since?: string;
  limit?: number;
  cursor?: string;
}

/** The key store directory inside a data dir, and the log key's id. */
export const KEYS_DIR = 'keys';
export const LOG_KEY_ID = 'log';
const DEFAULT_CHECKPOINT_EVERY = { appends: 1000, ms: 60_000 };
const DEFAULT_LIST_LIMIT = 100;
/** tlog-witness: a log sends witnesses a checkpoint at most once a second. */
const WITNESS_PUSH_MS = 1000;
/** Records whose tiles one transaction builds at open (stores made before tiles). */
const TILE_BUILD_CHUNK = 65_536;
const MAX_LIST_LIMIT = 1000;

function closedError(): SigilError {
  return new SigilError('log_closed', 'the canon log is closed');
}

function checkSize(n: unknown, name: string): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new SigilError('bad_request', `${name} must be a non-negative integer`);
  }
  return n;
}

function parseCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(cursor)) {
    throw new SigilError('bad_request', 'cursor is not one this log issued');
  }
  return Number(cursor);
}

/** Builds the tiles a store lacks (one made before tiles, or just migrated), a chunk at a time. */
async function buildMissingTiles(store: CanonStore): Promise<void> {
  const size = (await store.head()).size;
  for (let tiled = await store.tiledSize(); tiled < size;) {
    const next = await store.buildTiles(TILE_BUILD_CHUNK);
    if (next <= tiled) break;
    tiled = next;
  }
}

/**
 * The log as the surfaces (HTTP, CLI, gateway, dashboard) hold it: reads, proofs, checkpoints of
 * what is already sealed, validation. It has no append, no view write and no signing key, so a
 * surface cannot seal a record or touch the state the runtime acts on; only the runtime's
 * services, through an adjudicated decision, do.
 */
export type LogReader = Omit<
  CanonLog,
  'append' | 'appendMany' | 'onSealed' | 'rebuildViews' | 'close' | 'signer' | 'rateBuckets'
>;

export class CanonLog {
  readonly dataDir: string;
  readonly backend: BackendName;
  readonly logId: string;
  /** The checkpoint origin, `sigil/<log-id>`; also the signed-note key name. */
  readonly origin: string;
  readonly keyName: string;
  readonly publicKey: KeyObject;
  /** The log's Ed25519 key pair, used to seal records and sign checkpoints. */
  readonly signer: Ed25519KeyPair;
  /** C2SP verifier key string for the checkpoints. */
  readonly verifierKey: string;
  /** The views projected from the log, authenticated on every read. */
  readonly views: ViewReader;

  readonly #store: CanonStore;
  readonly #keys: SealKeys;
  readonly #viewKey: Uint8Array;
  readonly #tree: TiledTree;
  readonly #writer: GroupCommit<AheadBatch>;
  /** The sealing threads, started and checked on the first batch big enough to use them. */
  #pool: Promise<SealPool | undefined> | undefined;
  /** The pool once started and checked. */
  #poolReady: SealPool | undefined;
  /** Batches still to seal in their transaction since one sealed ahead proved stale. */
  #sealInTransaction = 0;
  /** The head this log last wrote: where the next batch sealed ahead chains from. */
  #lastHead: LogHead | undefined;
  readonly #every: { appends: number; ms: number };
  readonly #maxPayloadBytes: number | undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #appendObservers = new Set<(seconds: number) => void>();
  readonly #sealObservers = new Set<(records: readonly SealedRecord[]) => void>();
  readonly #witnesses: WitnessPusher | undefined;
  readonly #witnessTimer: NodeJS.Timeout | undefined;
  #sinceCheckpoint = 0;
  #closed = false;

  private constructor(
    opts: CanonLogOptions,
    store: CanonStore,
    logId: string,
    signer: Ed25519KeyPair,
    dataKey: Uint8Array,
  ) {
    this.dataDir = opts.dataDir;
    this.backend = store.backend;
    this.logId = logId;
    this.origin = checkpointOrigin(logId);
    this.keyName = this.origin;
    this.signer = signer;
    this.publicKey = signer.publicKey;
    this.verifierKey = verifierKey(this.keyName, signer.publicKey);
    this.#store = store;
    this.#keys = { signer, pubKey: toBase64Url(publicKeyToRaw(signer.publicKey)), dataKey };
    this.#viewKey = deriveViewKey(dataKey, logId);
    this.views = viewReader(store.views, this.#viewKey);
    this.#tree = new TiledTree((level, index) => store.readTile(level, index));
    this.#every = opts.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
    this.#maxPayloadBytes = opts.maxPayloadBytes;
    this.#writer = new GroupCommit<AheadBatch>(
      (drafts, pre, expect) => this.#commit(drafts, pre, expect),
      () => this.#checkpointIfDue(this.#every.appends),
      (drafts, after, expect) => this.#preseal(drafts, after, expect),
      () =>
        this.#lastHead !== undefined &&
        !this.#closed &&
        this.#sealInTransaction === 0 &&
        store.appendChained === undefined,
    );
    this.#timer = setInterval(() => void this.#checkpointIfDue(1).catch(() => {}), this.#every.ms);
    this.#timer.unref();
    if (opts.witnesses !== undefined && opts.witnesses.length > 0) {
      this.#witnesses = new WitnessPusher(
        {
          origin: this.origin,
          keyName: this.keyName,
          publicKey: this.publicKey,
          store,
          treeSize: () => this.size(),
          rootAt: (size) => this.#tree.root(size),
          consistency: async (from, to) =>
            (await this.proveConsistency(from, to)).hashes.map((h) => fromHex(h)),
          latestNote: () => this.latestCheckpoint(),
          sign: () => this.#checkpoint(),
        },
        opts.witnesses,
        {
          ...(opts.warn !== undefined && { warn: opts.warn }),
          ...(opts.witnessQuorum !== undefined && { quorum: opts.witnessQuorum }),
        },
      );
      const pusher = this.#witnesses;
      this.#witnessTimer = setInterval(() => {
        if (!this.#closed) void pusher.tick().catch(() => {});
      }, WITNESS_PUSH_MS);
      this.#witnessTimer.unref();
    }
  }

  /**
   * Creates a new log: store meta, wrapped data key and the log key. Refuses ('store_exists')
   * when the store is already initialised or the data dir already holds a log key.
   */
  static async init(opts: CanonLogOptions): Promise<InitResult> {
    const env = opts.env ?? process.env;
    const { backend } = resolveBackend(opts);
    // A data dir made before init (by hand, or for postgres) must already be private.
    if (existsSync(opts.dataDir)) assertPrivateDir(opts.dataDir);
    const store = await openStore(opts, { create: true });
    try {
      if ((await store.readMeta()) !== undefined) {
        throw new SigilError('store_exists', 'the canon store is already initialised');
      }
      const hadKeyFile = existsSync(join(opts.dataDir, 'master.key'));
      const master = resolveMasterKey({ dataDir: opts.dataDir, env, create: true });
      const keystore = new KeyStore(join(opts.dataDir, KEYS_DIR), master.kek);
      if (keystore.has(LOG_KEY_ID)) {
        throw new SigilError('store_exists', `${keystore.dir} already holds a log key`);
      }
      const logId = toHex(randomBytes(16));
      const signer = generateKeyPair();
      const publicKey = toBase64Url(publicKeyToRaw(signer.publicKey));
      keystore.save(LOG_KEY_ID, signer);
      await store.initialise({
        logId,
        publicKey,
        wrappedKey: wrapDataKey(generateDataKey(), master.kek),
        createdAt: new Date().toISOString(),
        logFormat: LOG_FORMAT,
      });
      const origin = checkpointOrigin(logId);
      const result: InitResult = {
        dataDir: opts.dataDir,
        backend,
        logId,
        origin,
        publicKey,
        verifierKey: verifierKey(origin, signer.publicKey),
        masterKeySource: master.source,
      };
      if (master.source === 'file' && !hadKeyFile && master.warning) {
        result.masterKeyWarning = master.warning;
      }
      return result;
    } finally {
      await store.close();
    }
  }

  /** Opens an initialised log ('store_missing', 'master_key_invalid', 'key_mismatch'). */
  static async open(opts: CanonLogOptions): Promise<CanonLog> {
    const store = await openStore(opts, { create: false });
    let log: CanonLog;
    try {
      const meta = await store.readMeta();
      if (meta === undefined) {
        throw new SigilError(
          'store_missing',
          'the canon store is not initialised; run `sigil init`',
        );
      }
      const master = resolveMasterKey({
        dataDir: opts.dataDir,
        env: opts.env ?? process.env,
        create: false,
      });
      const dataKey = unwrapDataKey(meta.wrappedKey, master.kek);
      if (meta.logFormat !== LOG_FORMAT) {
        throw new SigilError(
          'store_format_old',
          `the canon store is at log format ${meta.logFormat}; this Sigil writes format ` +
            `${LOG_FORMAT}: stop every instance and run \`sigil migrate\``,
        );
      }
      assertPrivateDir(opts.dataDir);
      assertPrivateDir(join(opts.dataDir, KEYS_DIR));
      const signer = new KeyStore(join(opts.dataDir, KEYS_DIR), master.kek).load(LOG_KEY_ID);
      if (toBase64Url(publicKeyToRaw(signer.publicKey)) !== meta.publicKey) {
        throw new SigilError(
          'key_mismatch',
          'the log key in this data dir is not the key the store was created with; ' +
            'every instance must share the same keys directory',
        );
      }
      assertSealerMatchesRecordModule({ signer, pubKey: meta.publicKey, dataKey });
      await buildMissingTiles(store);
      log = new CanonLog(opts, store, meta.logId, signer, dataKey);
    } catch (err) {
      await store.close();
      throw err;
    }
    // Before any write: what the witnesses cosigned (a rolled-back tree refuses writes).
    try {
      await log.#witnesses?.start();
    } catch (err) {
      await log.close();
      throw err;
    }
    return log;
  }

  /**
   * Moves a store to the current log format: every leaf hash is recomputed from its record's log
   * entry (each body decrypted and checked against its row), and the checkpoints signed over the
   * old leaves are retired into the meta, kept but no longer served. Every instance must be
   * stopped. Returns undefined when the store is already current.
   */
  static async migrate(
    opts: CanonLogOptions,
  ): Promise<{ from: number; to: number; records: number; checkpoints: number } | undefined> {
    const store = await openStore(opts, { create: false });
    try {
      const meta = await store.readMeta();
      if (meta === undefined) {
        throw new SigilError(
          'store_missing',
          'the canon store is not initialised; run `sigil init`',
        );
      }
      if (meta.logFormat === LOG_FORMAT) return undefined;
      if (meta.logFormat > LOG_FORMAT) {
        throw new SigilError(
          'store_format_old',
          `the canon store is at log format ${meta.logFormat}, newer than this Sigil's ${LOG_FORMAT}`,
        );
      }
      const master = resolveMasterKey({
        dataDir: opts.dataDir,
        env: opts.env ?? process.env,
        create: false,
      });
      const dataKey = unwrapDataKey(meta.wrappedKey, master.kek);
      const from = meta.logFormat;
      const done = await store.migrateFormat({
        from,
        to: LOG_FORMAT,
        leafOf: (row) => {
          const plain = decryptBody(dataKey, row.seq, row.id, row.body);
          const record = JSON.parse(utf8Decode(plain)) as CanonicalRecord;
          if (record.id !== row.id || record.hash !== row.hash) {
            throw new SigilError(
              'decrypt_failed',
              `record at seq ${row.seq} does not match its row`,
            );
          }
          return leafHash(leafEntry(record));
        },
      });
      return { from, to: LOG_FORMAT, ...done };
    } finally {
      await store.close();
    }
  }

  /** Appends one record; resolves once its batch is durable. */
  async append(draft: RecordDraft, opts: AppendOptions = {}): Promise<SealedRecord> {
    const [record] = await this.appendMany([draft], opts);
    return record!;
  }

  /**
   * Appends records atomically (all in one transaction, consecutive seqs) once durable; with
   * `expect`, only while those view rows are unchanged ('conflict' otherwise).
   */
  async appendMany(
    drafts: readonly RecordDraft[],
    opts: AppendOptions = {},
  ): Promise<SealedRecord[]> {
    if (this.#closed) throw closedError();
    if (this.#witnesses?.rolledBack) throw this.#witnesses.rolledBack;
    if (!Array.isArray(drafts)) throw new SigilError('bad_request', 'drafts must be an array');
    const ready = readyDrafts(drafts, this.#maxPayloadBytes);
    if (ready.length === 0) return [];
    const expect = opts.expect ?? [];
    const start = this.#appendObservers.size === 0 ? undefined : performance.now();
    try {
      const records = await this.#writer.submit(ready, expect);
      for (const fn of this.#sealObservers) fn(records);
      return records;
    } finally {
      if (start !== undefined) {
        const seconds = (performance.now() - start) / 1000;
        for (const fn of this.#appendObservers) fn(seconds);
      }
    }
  }

  /**
   * Observes the records this log sealed, once durable and before the appender gets them, so
   * what follows the log need not read back what this instance sealed; returns the unsubscribe.
   * `fn` must not throw, and must copy what it keeps (the records are the appender's too).
   */
  onSealed(fn: (records: readonly SealedRecord[]) => void): () => void {
    this.#sealObservers.add(fn);
    return () => this.#sealObservers.delete(fn);
  }

  /** Observes how long each durable append took, in seconds (metrics); returns the unsubscribe. */
  onAppend(fn: (seconds: number) => void): () => void {
    this.#appendObservers.add(fn);
    return () => this.#appendObservers.delete(fn);
  }

  /**
   * Chains a batch ahead, after `after` or the head this log last wrote, and seals it on the
   * pool (in-line below POOL_MIN_BATCH, or while the pool is starting).
   */
  #preseal(
    drafts: ReadyDraft[],
    after: AheadBatch | undefined,
    expect: readonly ViewExpectation[],
  ): AheadBatch | undefined {
    const head = after?.end ?? this.#lastHead;
    // A store that chains each batch onto the writers ahead of it (appendChained) seals it then,
    // once: sealed ahead onto this log's own last head, it would be sealed twice.
    if (head === undefined || this.#closed || this.#store.appendChained !== undefined) {
      return undefined;
    }
    if (after === undefined && this.#sealInTransaction > 0) {
      this.#sealInTransaction -= 1;
      return undefined;
    }
    const pool = drafts.length >= POOL_MIN_BATCH ? this.#poolNow() : undefined;
    let pre: PresealedBatch;
    if (pool !== undefined) pre = presealBatch(pool, this.#keys, drafts, head);
    else {
      const sealed = sealBatch(this.#keys, drafts, head);
      const last = sealed.records[sealed.records.length - 1]!;
      pre = { head, end: { size: last.seq + 1, hash: last.hash }, sealed: Promise.resolve(sealed) };
    }
    return this.#writeAhead(pre, after, expect);
  }

  /**
   * Hands the batch to the store's writer once sealed and once the batch before it went there,
   * so the writer commits one batch right after the other while this thread answers the first
   * and chains the next. The writer checks in its transaction that the head is still the one
   * the batch was sealed for (it is not if the batch before failed), and acknowledges only once
   * durable; the batch's submissions still settle in order, in `#commit`.
   */
  #writeAhead(
    pre: PresealedBatch,
    after: AheadBatch | undefined,
    expect: readonly ViewExpectation[],
  ): AheadBatch {
    const store = this.#store;
    if (store.appendSealed === undefined) return { ...pre, handed: Promise.resolve() };
    let handed!: () => void;
    const batch: AheadBatch = { ...pre, handed: new Promise((resolve) => (handed = resolve)) };
    batch.written = (async () => {
      try {
        const [ready] = await Promise.all([pre.sealed, after?.handed]);
        if (ready === undefined || this.#closed || this.#witnesses?.rolledBack) return undefined;
        // appendSealed hands the batch over before it first waits: the next one goes after it.
        const written = store.appendSealed!(pre.head, this.#withViews(ready), expect);
        handed();
        return await written;
      } finally {
        handed();
      }
    })();
    // Awaited in #commit, in turn; a failure settles there, not before it.
    batch.written.catch(() => {});
    return batch;
  }

  /** A sealed batch's rows and the view rows its records project to. */
  #withViews(sealed: Sealed): SealedBatch {
    const views = sealed.records.flatMap((r) =>
      projectRecord(r).map((w) => sealViewRow(this.#viewKey, w, r.seq, r.hash)),
    );
    return { rows: sealed.rows, views };
  }

  /** The pool, started and checked on first use; undefined if that failed. */
  #startedPool(): Promise<SealPool | undefined> {
    return (this.#pool ??= this.#startPool().then((pool) => (this.#poolReady = pool)));
  }

  /** The pool if it is started and checked; otherwise starts it and says undefined for now. */
  #poolNow(): SealPool | undefined {
    void this.#startedPool();
    return this.#poolReady;
  }

  /** Starts the pool and checks a probe sealed through it; undefined (seal in-line) if it fails. */
  async #startPool(): Promise<SealPool | undefined> {
    const pool = new SealPool(
      POOL_THREADS,
      this.#keys.signer.privateKey,
      this.#keys.dataKey,
      RECORD_DOMAIN,
    );
    try {
      await assertPoolMatchesRecordModule(pool, this.#keys);
      return pool;
    } catch {
      await pool.close();
      return undefined;
    }
  }

  async #commit(
    drafts: ReadyDraft[],
    pre: AheadBatch | undefined,
    expect: readonly ViewExpectation[],
  ): Promise<SealedRecord[]> {
    // Handed to the writer before a rollback was known (the writer checks nothing of it), as a
    // write already in flight then: it commits, and is acknowledged once durable.
    const sealedAhead = await pre?.written;
    if (sealedAhead === undefined && this.#witnesses?.rolledBack) throw this.#witnesses.rolledBack;
    const ready = await pre?.sealed;
    let records: SealedRecord[] = [];
    let stale = pre !== undefined;
    const fresh = (head: LogHead): boolean => {
      const is =
        ready !== undefined && pre!.head.size === head.size && pre!.head.hash === head.hash;
      if (is) stale = false;
      return is;
    };
    const withViews = (sealed: Sealed): SealedBatch => {
      records = sealed.records;
      return this.#withViews(sealed);
    };
    if (sealedAhead !== undefined) records = ready!.records;
    // Where the transaction may wait (postgres), a stale batch is sealed again on the pool.
    const sealAsync = async (head: LogHead): Promise<SealedBatch> => {
      if (fresh(head)) return withViews(ready!);
      const pool =
        drafts.length >= POOL_MIN_BATCH && !this.#closed ? await this.#startedPool() : undefined;
      const sealed = pool && (await presealBatch(pool, this.#keys, drafts, head).sealed);
      return withViews(sealed ?? sealBatch(this.#keys, drafts, head));
    };
    const store = this.#store;
    const rows =
      sealedAhead ??
      (store.appendChained !== undefined
        ? // Chained onto the writers ahead and sealed while they commit. The store awaits
          // `sealed` before it calls sealAsync, so `records` ends as the batch it wrote.
          await store.appendChained(
            (head) => {
              if (fresh(head)) return { end: pre!.end, sealed: Promise.resolve(withViews(ready!)) };
              const pool = drafts.length >= POOL_MIN_BATCH ? this.#poolNow() : undefined;
              const ahead =
                pool === undefined ? undefined : presealBatch(pool, this.#keys, drafts, head);
              if (ahead !== undefined) {
                return { end: ahead.end, sealed: ahead.sealed.then((s) => s && withViews(s)) };
              }
              const sealed = sealBatch(this.#keys, drafts, head);
              const last = sealed.records[sealed.records.length - 1];
              return {
                end: last === undefined ? head : { size: last.seq + 1, hash: last.hash },
                sealed: Promise.resolve(withViews(sealed)),
              };
            },
            sealAsync,
            expect,
          )
        : await store.appendBatch(
            // Sealed ahead for this very head, or (another writer moved it) sealed here and now.
            (head) => withViews(fresh(head) ? ready! : sealBatch(this.#keys, drafts, head)),
            expect,
          ));
    if (sealedAhead !== undefined) stale = false;
    // Another writer moved the head: while it keeps doing so, sealing ahead only wastes cores.
    if (stale) this.#sealInTransaction = STALE_BACKOFF;
    const last = rows[rows.length - 1];
    if (last !== undefined) this.#lastHead = { size: last.seq + 1, hash: last.hash };
    this.#sinceCheckpoint += rows.length;
    return records;
  }

  /** The record with this id, or undefined. */
  async get(id: string): Promise<SealedRecord | undefined> {
    if (typeof id !== 'string' || id.length === 0) {
      throw new SigilError('bad_request', 'id must be a non-empty string');
    }
    const row = await this.#store.getById(id);
    return row && this.#open(row);
  }

  /** The record at this seq, or undefined. */
  async getBySeq(seq: number): Promise<SealedRecord | undefined> {
    const row = await this.#store.getBySeq(checkSize(seq, 'seq'));
    return row && this.#open(row);
  }

  /** Records in log order, filtered by kind and/or ts ≥ since, a page at a time. */
  async list(opts: ListOptions = {}): Promise<RecordPage> {
    const limit = opts.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new SigilError('bad_request', `limit must be 1..${MAX_LIST_LIMIT}`);
    }
    const afterSeq = parseCursor(opts.cursor);
    const rows = await this.#store.list({
      limit,
      ...(opts.kind !== undefined && { kind: opts.kind }),
      ...(opts.since !== undefined && { since: opts.since }),
      ...(afterSeq !== undefined && { afterSeq }),
    });
    const records = rows.map((r) => this.#open(r));
    const last = rows[rows.length - 1];
    return rows.length === limit && last ? { records, cursor: String(last.seq) } : { records };
  }

  /** Decrypts a row and checks it is the record its clear columns name. */
  #open(row: StoredRow): SealedRecord {
    const plain = decryptBody(this.#keys.dataKey, row.seq, row.id, row.body);
    const record = JSON.parse(utf8Decode(plain)) as CanonicalRecord;
    if (record.id !== row.id || record.hash !== row.hash) {
      throw new SigilError('decrypt_failed', `record at seq ${row.seq} does not match its row`);
    }
    return { ...record, seq: row.seq };
  }

  /** Number of records in the log (across every writer). */
  async size(): Promise<number> {
    return (await this.#store.head()).size;
  }

  /** Signs and stores a checkpoint of the whole log now; returns the note. */
  async checkpoint(): Promise<string> {
    if (this.#closed) throw closedError();
    return this.#checkpoint();
  }

  async #checkpoint(): Promise<string> {
    const size = await this.size();
    this.#witnesses?.assertExtends(size);
    const root = await this.#tree.root(size);
    const ts = new Date().toISOString();
    const note = signCheckpoint(
      { origin: this.origin, size, rootHash: root, timestamp: ts },
      this.keyName,
      this.signer.privateKey,
    );
    this.#sinceCheckpoint = 0;
    return (await this.#store.putCheckpoint({ size, root, note, ts })).note;
  }

  async #checkpointIfDue(threshold: number): Promise<void> {
    if (!this.#closed && this.#sinceCheckpoint >= threshold) await this.#checkpoint();
  }

  /** The newest stored checkpoint note, if any. */
  async latestCheckpoint(): Promise<string | undefined> {
    return (await this.#store.latestCheckpoint())?.note;
  }

  /**
   * The store's shared rate-limit buckets (a backend several instances share); undefined when
   * the store is one instance's own, which keeps its buckets in memory.
   */
  get rateBuckets(): RateBuckets | undefined {
    return this.#store.rateBuckets;
  }

  /** True when this log pushes its checkpoints to witnesses. */
  get witnessed(): boolean {
    return this.#witnesses !== undefined;
  }

  /**
   * The newest checkpoint the configured witnesses cosigned, with their verified cosignature
   * lines appended (signed-note format); undefined with no witnesses or none cosigned yet.
   */
  async cosignedCheckpoint(): Promise<string | undefined> {
    return this.#witnesses?.cosignedNote();
  }

  /** `[log] witness_quorum` in force; undefined without witnesses. */
  get witnessQuorum(): number | undefined {
    return this.#witnesses?.quorum;
  }

  /** What this instance knows of each witness (the size it cosigned, the last problem). */
  witnessStatus(): WitnessStatus[] {
    return this.#witnesses?.status() ?? [];
  }

  /** The 'log_rolled_back' error when a witness showed the tree does not extend its view. */
  get rolledBack(): SigilError | undefined {
    return this.#witnesses?.rolledBack;
  }

  /** Every stored checkpoint (size, root, note, ts), oldest first. */
  async checkpoints(): Promise<Array<{ size: number; root: string; note: string; ts: string }>> {
    return (await this.#store.checkpoints()).map((c) => ({ ...c, root: toHex(c.root) }));
  }

  /** Inclusion proof of the record at `seq` in the tree of `size` records (default: all). */
  async proveInclusion(seq: number, size?: number): Promise<InclusionProof> {
    const head = await this.size();
    const n = size === undefined ? head : checkSize(size, 'size');
    return buildInclusionProof(this.#tree, checkSize(seq, 'seq'), n, head);
  }

  /** Consistency proof between the trees of `size1` and `size2` records. */
  async proveConsistency(size1: number, size2: number): Promise<ConsistencyProof> {
    return buildConsistencyProof(
      this.#tree,
      checkSize(size1, 'size1'),
      checkSize(size2, 'size2'),
      await this.size(),
    );
  }

  /**
   * A tlog tile: `width` hashes of level `level` from index `index` (see tiles.ts); undefined
   * while the tree does not hold them all.
   */
  async tile(level: number, index: number, width: number): Promise<Uint8Array | undefined> {
    const nodes = await this.#store.readTile(level, index);
    // Hashes past the head are not yet committed to by anything the log signs.
    const size = await this.size();
    const have = Math.min(
      nodes === undefined ? 0 : nodes.length / 32,
      tileWidthAt(level, index, size),
    );
    return nodes !== undefined && width <= have ? nodes.slice(0, width * 32) : undefined;
  }

  /**
   * A tlog entry bundle: the log entries (public envelopes, no payloads) of `width` records from
   * seq `index` * 256; undefined while the log does not hold them all. Each entry is checked
   * against its stored leaf hash, so a bundle never disagrees with the tiles.
   */
  async entryBundle(index: number, width: number): Promise<Uint8Array | undefined> {
    const first = index * TILE_WIDTH;
    if (first + width > (await this.size())) return undefined;
    const rows = await this.#store.readRange(first, width);
    const leaves = await this.#tree.nodes(0, first, width);
    const entries = rows.map((row, i) => {
      const entry = leafEntry(this.#open(row));
      const leaf = leaves.subarray(i * 32, (i + 1) * 32);
      if (row.seq !== first + i || !constantTimeEqual(leafHash(entry), leaf)) {
        throw new SigilError('internal_error', `record at seq ${row.seq} does not match its leaf`);
      }
      return entry;
    });
    if (entries.length !== width) {
      throw new SigilError('internal_error', `records ${first}..${first + width - 1} are missing`);
    }
    return encodeEntryBundle(entries);
  }

  /** Checks the whole log: every record, link, leaf and checkpoint (see validate.ts). */
  async validate(opts: ValidateOptions = {}): Promise<ValidationResult> {
    if (this.#closed) throw closedError();
    return validateStore(
      {
        store: this.#store,
        dataKey: this.#keys.dataKey,
        publicKey: this.publicKey,
        keyName: this.keyName,
        origin: this.origin,
      },
      opts,
    );
  }

  /** The views the records up to the head project to, keyed `ns\0key`, with their record ids. */
  async #projectViews(): Promise<{ head: LogHead; rows: Map<string, ViewRow & { id: string }> }> {
    const head = await this.#store.head();
    const rows = new Map<string, ViewRow & { id: string }>();
    for (let from = 0; from < head.size;) {
      const chunk = await this.#store.readRange(from, 1024);
      if (chunk.length === 0) break;
      for (const row of chunk) {
        if (row.seq >= head.size || !PROJECTED_KINDS.has(row.kind)) continue;
        const record = this.#open(row);
        for (const w of projectRecord(record)) {
          const view = sealViewRow(this.#viewKey, w, record.seq, record.hash);
          rows.set(`${w.ns}\u0000${w.key}`, { ...view, id: record.id });
        }
      }
      from = chunk[chunk.length - 1]!.seq + 1;
    }
    return { head, rows };
  }

  /** Re-projects the log and compares every stored view row with it; [] when they agree. */
  async checkViews(): Promise<ViewProblem[]> {
    if (this.#closed) throw closedError();
    const { rows: expected } = await this.#projectViews();
    const problems: ViewProblem[] = [];
    for (const row of await this.#store.views.all()) {
      const id = `${row.ns}\u0000${row.key}`;
      const want = expected.get(id);
      expected.delete(id);
      const at = { ns: row.ns, key: row.key };
      if (!viewRowAuthentic(this.#viewKey, row)) {
        problems.push({ ...at, problem: 'unauthenticated', seq: row.seq });
      } else if (want === undefined) {
        problems.push({ ...at, problem: 'no_record', seq: row.seq });
      } else if (want.seq !== row.seq || want.hash !== row.hash || want.value !== row.value) {
        problems.push({ ...at, problem: 'differs', seq: want.seq, record_id: want.id });
      }
    }
    for (const want of expected.values()) {
      problems.push({
        ns: want.ns,
        key: want.key,
        problem: 'missing',
        seq: want.seq,
        record_id: want.id,
      });
    }
    return problems;
  }

  /**
   * Replaces every view row with the projection of the log (after restoring a backup, or to
   * repair rows `checkViews` names). Retries when another writer appends meanwhile.
   */
  async rebuildViews(): Promise<{ rows: number; size: number }> {
    if (this.#closed) throw closedError();
    for (let attempt = 0; ; attempt += 1) {
      const { head, rows } = await this.#projectViews();
      try {
        await this.#store.views.replaceAll(
          head,
          [...rows.values()].map(({ id: _id, ...row }) => row),
        );
        return { rows: rows.size, size: head.size };
      } catch (err) {
        if (!(err instanceof SigilError && err.code === 'conflict') || attempt >= 4) throw err;
      }
    }
  }

  /**
   * A 32-byte key for `purpose` (HKDF-SHA256 of the data key, salted with the log id), to MAC
   * what the runtime derives from this log and keeps outside it.
   */
  derivedKey(purpose: string): Uint8Array {
    return hkdfSha256(
      this.#keys.dataKey,
      utf8Encode(this.logId),
      utf8Encode(`sigil/${purpose}`),
      32,
    );
  }

  /** Waits for in-flight appends, checkpoints what this instance appended, closes the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    clearInterval(this.#witnessTimer);
    try {
      await this.#witnesses?.idle();
      await this.#writer.flush();
      if (this.#sinceCheckpoint > 0 && !this.rolledBack) await this.#checkpoint();
    } finally {
      await (await this.#pool)?.close();
      await this.#store.close();
    }
  }
}
