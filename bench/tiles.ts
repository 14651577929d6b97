/**
 * Tiles at scale (issue 17, item 1): `sigil serve`, started as `npm start` starts it (node
 * bin/sigil, which runs the bundled CLI in dist/sigil), opens a store of 1,000,000 and of
 * 10,000,000 records and answers its first request, an inclusion proof of the newest record in
 * the whole tree (computed from the stored tiles, then checked here against the signed
 * checkpoint). The time from spawning the process to that answer, and the process's RSS after
 * it, are printed beside the goals (≤ 2 s, ≤ 200 MiB) and beside the same figures for the
 * bootstrapped store of a few records, measured just before and just after each (the mean):
 * what does not grow with the log. The CLI is bundled first (scripts/build-cli.mjs, as `npm
 * install` does), so the figure is never that of a stale build or of the sources under tsx.
 *
 * Then the same on PostgreSQL (a throwaway server, started with test/global-setup.ts's helpers;
 * skipped without the binaries): 10,000,000 records, built within SIGIL_BENCH_TILES_PG_SECONDS
 * (default 900) or reported as not built.
 *
 * `SIGIL_BENCH_TILES_RECORDS=N,N` picks other SQLite sizes (ascending; each store grows from the
 * one before), `SIGIL_BENCH_TILES_PG_RECORDS=N` another PostgreSQL size (0: none);
 * SIGIL_BENCH_TILES_KEEP=1 keeps the SQLite store.
 *
 * The stores are built in bulk, not through the append path (which would take hours at 10^7):
 * the records past the bootstrapped ones are synthetic rows written straight into the store's
 * tables, 65,536 a transaction (leaf hash SHA-256 of the seq, a placeholder body that does not
 * decrypt, a constant hash chain), with their tiles computed by the writer's own TileEdge and
 * kept as the stores keep them (storedTiles); then a few real records are appended through the
 * log on top, and a checkpoint is signed. Such a store does not validate: it exists to measure
 * open and the first request.
 */
import Database from 'better-sqlite3';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { parseVerifierKey } from '../src/canon/checkpoint.ts';
import { CanonLog } from '../src/canon/log.ts';
import {
  edgeTiles,
  fullTilesEnd,
  storedTiles,
  TileEdge,
  type TileRow,
} from '../src/canon/tile-tree.ts';
import { verifyInclusionProof, type InclusionProof } from '../src/canon/verify.ts';
import { loadConfig } from '../src/config/index.ts';
import { SigilRuntime } from '../src/runtime/index.ts';
import { PG_BIN, runPg, startCluster } from '../test/global-setup.ts';
import { benchEnvironment, recordCounts } from './child.ts';
import { figure, fmt, say } from './report.ts';

const CHUNK = 65_536;
const DEFAULT_SIZES = [1_000_000, 10_000_000];
const DEFAULT_PG_SIZE = 10_000_000;
const REAL_ON_TOP = 16;
const ROOT = join(fileURLToPath(import.meta.url), '../..');

interface Opened {
  /** ms from spawn until the server printed that it listens */
  listening_ms: number;
  /** ms from spawn until the first request was answered */
  first_ms: number;
  rss_mib: number;
  size: number;
}

/** The resident set of process `pid` in MiB (Linux /proc). */
function rssOf(pid: number): number {
  const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!kib) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kib[1]) / 1024;
}

/**
 * Starts `node bin/sigil serve` on the store of `env`, asks for the inclusion proof of its newest
 * record, checks the proof against /log/checkpoint, stops the server (SIGTERM) and reports.
 */
function serveFirst(dataDir: string, env: NodeJS.ProcessEnv): Promise<Opened> {
  const started = performance.now();
  const p = spawn(
    process.execPath,
    [join(ROOT, 'bin/sigil'), 'serve', '--port', '0', '--json', '--data-dir', dataDir],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  p.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) => p.on('close', resolve));
  const answered = new Promise<Opened>((resolve, reject) => {
    let out = '';
    p.on('error', reject);
    void exited.then((code) => reject(new Error(`sigil serve exited ${code}: ${err}`)));
    p.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const line = out.split('\n').find((l) => l.startsWith('{"event":"listening"'));
      if (line === undefined) return;
      out = '';
      const listening_ms = performance.now() - started;
      const { url, verifier_key } = JSON.parse(line) as { url: string; verifier_key: string };
      void (async () => {
        const note = await (await fetch(`${url}/log/checkpoint`)).text();
        const size = Number(note.split('\n')[1]);
        const res = await fetch(`${url}/api/log/proof/inclusion?seq=${size - 1}&size=${size}`);
        if (!res.ok) throw new Error(`first request failed: ${res.status} ${await res.text()}`);
        const proof = (await res.json()) as InclusionProof;
        const first_ms = performance.now() - started;
        const rss_mib = rssOf(p.pid!);
        const { keyName, publicKey } = parseVerifierKey(verifier_key);
        const check = verifyInclusionProof(proof, note, keyName, publicKey);
        if (!check.ok) throw new Error(`the proof does not verify: ${JSON.stringify(check)}`);
        resolve({ listening_ms, first_ms, rss_mib, size });
      })().catch(reject);
    });
  });
  return answered.finally(async () => {
    p.kill('SIGTERM');
    await exited;
  });
}

/** SHA-256 of the seq as 8 bytes big-endian: the synthetic leaf (PostgreSQL: sha256(int8send)). */
function syntheticLeaf(seq: number): Uint8Array {
  const be = Buffer.alloc(8);
  be.writeBigUInt64BE(BigInt(seq));
  return createHash('sha256').update(be).digest();
}

/** What bulkFill needs of a store's tables. */
interface BulkTables {
  head(): Promise<{ size: number; hash: string }>;
  tile(level: number, index: number): Promise<Uint8Array | undefined>;
  leavesFrom(seq: number): Promise<Uint8Array[]>;
  /** One transaction: rows from … from+n−1 (the first linking to `prev`), `tiles`, the head. */
  chunk(from: number, n: number, prev: string, tiles: readonly TileRow[]): Promise<void>;
}

const BULK_HASH = 'b'.repeat(64);
const BULK_TS = new Date().toISOString();

/** Synthetic rows and their tiles until the store holds `size` (within `deadline`, else false). */
async function bulkFill(t: BulkTables, size: number, deadline = Infinity): Promise<boolean> {
  const head = await t.head();
  // The stored edge where the full level-0 tiles end, then the leaves after it (storedTiles).
  const aligned = fullTilesEnd(head.size);
  const edgeRows = new Map<string, Uint8Array | undefined>();
  for (const e of edgeTiles(aligned))
    edgeRows.set(`${e.level}/${e.index}`, await t.tile(e.level, e.index));
  const edge = TileEdge.load(aligned, (level, index) => edgeRows.get(`${level}/${index}`));
  edge.extend(await t.leavesFrom(aligned));
  let prev = head.hash;
  for (let from = head.size; from < size - REAL_ON_TOP; from += CHUNK) {
    if (performance.now() > deadline) return false;
    const n = Math.min(CHUNK, size - REAL_ON_TOP - from);
    const leaves = Array.from({ length: n }, (_, i) => syntheticLeaf(from + i));
    await t.chunk(from, n, prev, storedTiles(edge.extend(leaves)));
    prev = BULK_HASH;
  }
  return true;
}

function sqliteTables(db: Database.Database): BulkTables {
  const tile = db.prepare('SELECT nodes FROM tiles WHERE level = ? AND idx = ?');
  // The rows are generated inside SQLite (syntheticLeaf as a function), one statement a chunk.
  db.function('bulk_leaf', { deterministic: true }, (seq) => syntheticLeaf(Number(seq)));
  const insert = db.prepare(
    `WITH RECURSIVE g(seq) AS (SELECT ? UNION ALL SELECT seq + 1 FROM g WHERE seq < ?)
     INSERT INTO records (seq, id, kind, ts, leaf_hash, hash, prev, body)
     SELECT seq, 'bulk-' || seq, 'user_data', ?, bulk_leaf(seq), ?, CASE WHEN seq = ? THEN ? ELSE ? END, zeroblob(16)
     FROM g`,
  );
  const putTile = db.prepare(
    'INSERT INTO tiles (level, idx, nodes) VALUES (?, ?, ?) ON CONFLICT (level, idx) DO UPDATE SET nodes = excluded.nodes',
  );
  const setHead = db.prepare('UPDATE head SET size = ?, hash = ?');
  const chunk = db.transaction((from: number, n: number, prev: string, tiles: TileRow[]) => {
    insert.run(from, from + n - 1, BULK_TS, BULK_HASH, from, prev, BULK_HASH);
    for (const r of tiles) putTile.run(r.level, r.index, r.nodes);
    setHead.run(from + n, BULK_HASH);
  });
  return {
    head: async () =>
      db.prepare('SELECT size, hash FROM head').get() as { size: number; hash: string },
    tile: async (level, index) => {
      const t = tile.get(level, index) as { nodes: Buffer } | undefined;
      return t && new Uint8Array(t.nodes);
    },
    leavesFrom: async (seq) =>
      (
        db.prepare('SELECT leaf_hash FROM records WHERE seq >= ? ORDER BY seq').all(seq) as Array<{
          leaf_hash: Buffer;
        }>
      ).map((r) => new Uint8Array(r.leaf_hash)),
    chunk: async (from, n, prev, tiles) => chunk(from, n, prev, [...tiles]),
  };
}

function postgresTables(client: pg.Client): BulkTables {
  return {
    head: async () => {
      const { rows } = await client.query<{ size: string; hash: string }>(
        'SELECT size, hash FROM sigil_head',
      );
      return { size: Number(rows[0]!.size), hash: rows[0]!.hash };
    },
    tile: async (level, index) => {
      const { rows } = await client.query<{ nodes: Buffer }>(
        'SELECT nodes FROM sigil_tiles WHERE level = $1 AND idx = $2',
        [level, index],
      );
      return rows[0] && new Uint8Array(rows[0].nodes);
    },
    leavesFrom: async (seq) =>
      (
        await client.query<{ leaf_hash: Buffer }>(
          'SELECT leaf_hash FROM sigil_records WHERE seq >= $1 ORDER BY seq',
          [seq],
        )
      ).rows.map((r) => new Uint8Array(r.leaf_hash)),
    // The rows are generated by the server (the same leaves as syntheticLeaf), so 10^7 of them
    // cross no socket.
    chunk: async (from, n, prev, tiles) => {
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO sigil_records (seq, id, kind, ts, leaf_hash, hash, prev, body)
         SELECT g, 'bulk-' || g, 'user_data', $3, sha256(int8send(g)), $4,
                CASE WHEN g = $1 THEN $5 ELSE $4 END, '\\x00000000000000000000000000000000'::bytea
         FROM generate_series($1::bigint, $2::bigint) AS g`,
        [from, from + n - 1, BULK_TS, BULK_HASH, prev],
      );
      for (const r of tiles) {
        await client.query(
          `INSERT INTO sigil_tiles (level, idx, nodes) VALUES ($1, $2, $3)
           ON CONFLICT (level, idx) DO UPDATE SET nodes = excluded.nodes`,
          [r.level, r.index, Buffer.from(r.nodes)],
        );
      }
      await client.query('UPDATE sigil_head SET size = $1, hash = $2', [from + n, BULK_HASH]);
      await client.query('COMMIT');
    },
  };
}

/** Real records on top of the bulk ones until the log holds `size`, then a checkpoint. */
async function topUp(env: NodeJS.ProcessEnv, dataDir: string, size: number): Promise<void> {
  const config = loadConfig({ env, dataDir });
  const log = await CanonLog.open({
    dataDir,
    env,
    backend: config.dbBackend,
    ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
  });
  try {
    const n = size - (await log.size());
    await log.appendMany(
      Array.from({ length: n }, (_, i) => ({
        kind: 'user_data' as const,
        tenant: 'bench',
        space: 'user' as const,
        payload: { i },
      })),
    );
    await log.checkpoint();
  } finally {
    await log.close();
  }
}

/**
 * A bootstrapped store with a few real records on top (the same-run baseline, measured), then
 * for each size: built in bulk, topped up, measured, reported as `backend`.
 */

/** A store to measure: its environment and data dir. */
interface Target {
  env: NodeJS.ProcessEnv;
  dataDir: string;
}

/** Bootstraps the store and appends a few real records on top; returns its size. */
async function bootstrap({ env, dataDir }: Target): Promise<number> {
  const boot = await SigilRuntime.bootstrap({ config: loadConfig({ env, dataDir }), env });
  const size = (await boot.runtime.log.size()) + REAL_ON_TOP;
  await boot.runtime.close();
  await topUp(env, dataDir, size);
  return size;
}

/**
 * `big` and the same-run baseline `small` bootstrapped alike; then for each size, `big` built in
 * bulk, topped up, and measured between two measurements of `small` (their mean is the limit),
 * reported as `backend`.
 */
async function measure(
  backend: string,
  small: Target,
  big: Target,
  sizes: readonly number[],
  fill: (size: number) => Promise<boolean>,
): Promise<void> {
  const { env, dataDir } = big;
  const bootSize = await bootstrap(small);
  await bootstrap(big);
  const name = `the bootstrapped store of ${bootSize} records, measured before and after`;
  for (const size of sizes) {
    const started = performance.now();
    const label = `${size.toLocaleString('en-US')} records, ${backend}`;
    if (!(await fill(size))) {
      say(`tiles: ${label}: NOT BUILT within the time allowed (SIGIL_BENCH_TILES_PG_SECONDS)`);
      return;
    }
    await topUp(env, dataDir, size);
    const built = (performance.now() - started) / 1000;
    const before = await serveFirst(small.dataDir, small.env);
    const opened = await serveFirst(dataDir, env);
    const after = await serveFirst(small.dataDir, small.env);
    if (opened.size !== size) throw new Error(`the store holds ${opened.size}, not ${size}`);
    const base = (key: 'first_ms' | 'listening_ms' | 'rss_mib') => (before[key] + after[key]) / 2;
    figure({
      name: `tiles: sigil serve start to first request (an inclusion proof), ${label}`,
      value: opened.first_ms,
      unit: 'ms',
      limit: { name, value: base('first_ms') },
      goal: { atMost: 2000 },
      note: `listening after ${fmt(opened.listening_ms)} ms (bootstrapped store: ${fmt(base('listening_ms'))} ms); store built in bulk in ${fmt(built)} s`,
    });
    figure({
      name: `tiles: RSS after the first request, ${label}`,
      value: opened.rss_mib,
      unit: 'MiB',
      limit: { name, value: base('rss_mib') },
      goal: { atMost: 200 },
    });
  }
}

async function sqlite(): Promise<void> {
  const raw = process.env.SIGIL_BENCH_TILES_RECORDS;
  const sizes =
    raw === undefined
      ? DEFAULT_SIZES
      : recordCounts(
          raw,
          REAL_ON_TOP * 2,
          'SIGIL_BENCH_TILES_RECORDS wants record counts like 1000000,10000000',
        );
  const root = mkdtempSync(join(tmpdir(), 'sigil-bench-tiles-'));
  try {
    const target = (dir: string): Target => {
      mkdirSync(join(root, dir));
      return { env: benchEnvironment(join(root, dir)), dataDir: join(root, dir, 'data') };
    };
    const small = target('small');
    const big = target('big');
    const { dataDir } = big;
    await measure('SQLite', small, big, sizes, async (size) => {
      const db = new Database(join(dataDir, 'canon.db'));
      try {
        db.pragma('synchronous = OFF');
        await bulkFill(sqliteTables(db), size);
        db.pragma('wal_checkpoint(TRUNCATE)');
        return true;
      } finally {
        db.close();
      }
    });
  } finally {
    // SIGIL_BENCH_TILES_KEEP=1 keeps the built store to open again (its path is printed).
    if (process.env.SIGIL_BENCH_TILES_KEEP === '1') say(`store kept at ${root}`);
    else rmSync(root, { recursive: true, force: true });
  }
}

async function postgres(): Promise<void> {
  const raw = process.env.SIGIL_BENCH_TILES_PG_RECORDS;
  if (raw === '0') return;
  const size =
    raw === undefined
      ? DEFAULT_PG_SIZE
      : recordCounts(
          raw,
          REAL_ON_TOP * 2,
          'SIGIL_BENCH_TILES_PG_RECORDS wants one record count',
        )[0]!;
  const seconds = Number(process.env.SIGIL_BENCH_TILES_PG_SECONDS ?? 900);
  if (!existsSync(join(PG_BIN, 'initdb'))) {
    say(`tiles on PostgreSQL SKIPPED: no initdb in ${PG_BIN} (set SIGIL_PG_BIN)`);
    return;
  }
  const { dir, data, port } = await startCluster('sigil-bench-tiles-pg-');
  const root = mkdtempSync(join(tmpdir(), 'sigil-bench-tiles-pgroot-'));
  try {
    const admin = new pg.Client({
      connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`,
    });
    await admin.connect();
    const target = async (db: string): Promise<Target> => {
      await admin.query(`CREATE DATABASE ${db}`);
      mkdirSync(join(root, db));
      const url = `postgres://postgres@127.0.0.1:${port}/${db}`;
      const env = {
        ...benchEnvironment(join(root, db)),
        MMF_DB_BACKEND: 'postgres',
        MMF_DATABASE_URL: url,
      };
      return { env, dataDir: join(root, db, 'data') };
    };
    const small = await target('sigil_small');
    const big = await target('sigil');
    await admin.end();
    const url = big.env.MMF_DATABASE_URL;
    await measure('PostgreSQL', small, big, [size], async (n) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query('SET synchronous_commit = off');
        const built = await bulkFill(postgresTables(client), n, performance.now() + seconds * 1000);
        if (built) await client.query('VACUUM ANALYZE sigil_records');
        return built;
      } finally {
        await client.end();
      }
    });
  } finally {
    try {
      runPg('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    }
  }
}

export async function run(): Promise<void> {
  // What `npm start` runs: bin/sigil, on the bundle that `npm install` builds.
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-cli.mjs')], { stdio: 'ignore' });
  await sqlite();
  await postgres();
  say(
    '(stores built in bulk: synthetic rows and their tiles written directly; see bench/tiles.ts)',
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
