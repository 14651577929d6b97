/**
 * Tiles at scale (issue 17, item 1): a fresh process opens a store of 1,000,000 and of 10,000,000
 * records, serves HTTP and answers its first request, an inclusion proof of the newest record in
 * the whole tree (computed from the stored tiles, and checked against the signed checkpoint in
 * the child); the time from process start to that answer and the RSS after it are printed beside
 * the goals (≤ 2 s, ≤ 200 MiB). `SIGIL_BENCH_TILES_RECORDS=N,N` picks other sizes (ascending;
 * each store grows from the one before); SIGIL_BENCH_TILES_KEEP=1 keeps the last store.
 *
 * The store is built in bulk, not through the append path (which would take hours at 10^7): the
 * records past the bootstrapped ones are synthetic rows written straight into SQLite, 65,536 a
 * transaction (random leaf hashes, a placeholder body that does not decrypt, a constant hash
 * chain), with their tiles computed by the writer's own TileEdge and kept as the stores keep them
 * (storedTiles); then a few real records are
 * appended through the log on top, and a checkpoint is signed. Such a store does not validate:
 * it exists to measure open and the first request.
 */
import Database from 'better-sqlite3';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CanonLog } from '../src/canon/log.ts';
import { fullTilesEnd, storedTiles, TileEdge } from '../src/canon/tile-tree.ts';
import { verifyInclusionProof, type InclusionProof } from '../src/canon/verify.ts';
import { loadConfig } from '../src/config/index.ts';
import { buildServer } from '../src/http/index.ts';
import { SigilRuntime } from '../src/runtime/index.ts';
import { benchEnvironment, runChild } from './child.ts';
import { figure, fmt, say } from './report.ts';

const CHUNK = 65_536;
const DEFAULT_SIZES = [1_000_000, 10_000_000];
const REAL_ON_TOP = 16;
const SELF = fileURLToPath(import.meta.url);

interface Opened {
  open_ms: number;
  first_ms: number;
  rss_mib: number;
  size: number;
}

/** In the child: open the store, serve, answer one inclusion proof, check it, report. */
async function child(root: string): Promise<void> {
  const env = benchEnvironment(root);
  const runtime = await SigilRuntime.open({
    config: loadConfig({ env, dataDir: join(root, 'data') }),
    env,
  });
  const open_ms = performance.now();
  const app = buildServer(runtime, { logLevel: 'warn' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  const size = await runtime.log.size();
  const res = await fetch(`${base}/api/log/proof/inclusion?seq=${size - 1}&size=${size}`);
  if (!res.ok) throw new Error(`first request failed: ${res.status} ${await res.text()}`);
  const proof = (await res.json()) as InclusionProof;
  const first_ms = performance.now();
  const rss_mib = process.memoryUsage().rss / 2 ** 20;
  const note = await (await fetch(`${base}/log/checkpoint`)).text();
  const check = verifyInclusionProof(proof, note, runtime.log.keyName, runtime.log.publicKey);
  if (!check.ok) throw new Error(`the proof does not verify: ${JSON.stringify(check)}`);
  await app.close();
  await runtime.close();
  process.stdout.write(
    `${JSON.stringify({ open_ms, first_ms, rss_mib, size } satisfies Opened)}\n`,
  );
}

/** Writes synthetic rows and their tiles straight into the SQLite store until it holds `size`. */
function bulkFill(file: string, size: number): void {
  const db = new Database(file);
  try {
    db.pragma('synchronous = OFF');
    const head = db.prepare('SELECT size, hash FROM head').get() as { size: number; hash: string };
    const tile = db.prepare('SELECT nodes FROM tiles WHERE level = ? AND idx = ?');
    // The stored edge where the full level-0 tiles end, then the leaves after it (storedTiles).
    const aligned = fullTilesEnd(head.size);
    const edge = TileEdge.load(aligned, (level, index) => {
      const t = tile.get(level, index) as { nodes: Buffer } | undefined;
      return t && new Uint8Array(t.nodes);
    });
    const tail = db
      .prepare('SELECT leaf_hash FROM records WHERE seq >= ? ORDER BY seq')
      .all(aligned) as Array<{ leaf_hash: Buffer }>;
    edge.extend(tail.map((r) => new Uint8Array(r.leaf_hash)));
    const insert = db.prepare(
      'INSERT INTO records (seq, id, kind, ts, leaf_hash, hash, prev, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const putTile = db.prepare(
      'INSERT INTO tiles (level, idx, nodes) VALUES (?, ?, ?) ON CONFLICT (level, idx) DO UPDATE SET nodes = excluded.nodes',
    );
    const setHead = db.prepare('UPDATE head SET size = ?, hash = ?');
    const hash = 'b'.repeat(64);
    const body = Buffer.alloc(16);
    const ts = new Date().toISOString();
    let prev = head.hash;
    const chunk = db.transaction((from: number, n: number) => {
      const bytes = randomFillSync(Buffer.alloc(n * 32));
      const leaves: Uint8Array[] = [];
      for (let i = 0; i < n; i++) {
        const leaf = bytes.subarray(i * 32, (i + 1) * 32);
        leaves.push(leaf);
        insert.run(from + i, `bulk-${from + i}`, 'user_data', ts, leaf, hash, prev, body);
        prev = hash;
      }
      for (const t of storedTiles(edge.extend(leaves))) putTile.run(t.level, t.index, t.nodes);
      setHead.run(from + n, hash);
    });
    for (let from = head.size; from < size - REAL_ON_TOP; from += CHUNK) {
      chunk(from, Math.min(CHUNK, size - REAL_ON_TOP - from));
    }
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

/** Real records on top of the bulk ones, then a checkpoint of the whole tree. */
async function topUp(root: string, size: number): Promise<void> {
  const log = await CanonLog.open({ dataDir: join(root, 'data'), env: benchEnvironment(root) });
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

function sizes(): number[] {
  const raw = process.env.SIGIL_BENCH_TILES_RECORDS;
  if (raw === undefined) return DEFAULT_SIZES;
  const list = raw.split(',').map((s) => Number(s.replace(/_/g, '')));
  if (list.some((n) => !Number.isSafeInteger(n) || n <= REAL_ON_TOP * 2)) {
    throw new Error(`SIGIL_BENCH_TILES_RECORDS wants record counts like 1000000,10000000`);
  }
  return list.sort((a, b) => a - b);
}

export async function run(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'sigil-bench-tiles-'));
  try {
    const env = benchEnvironment(root);
    const boot = await SigilRuntime.bootstrap({
      config: loadConfig({ env, dataDir: join(root, 'data') }),
      env,
    });
    await boot.runtime.close();
    // The same process start, runtime open and request on the bootstrapped store: what does not
    // grow with the log (module loading, under tsx here, is most of it).
    const dataDir = join(root, 'data');
    const bootSize =
      (await CanonLog.open({ dataDir, env }).then(async (log) => {
        const n = await log.size();
        await log.close();
        return n;
      })) + REAL_ON_TOP;
    await topUp(root, bootSize);
    const base = await runChild<Opened>(SELF, [root]);
    const limit = (value: number) => ({
      name: `the bootstrapped store of ${bootSize} records, same run`,
      value,
    });
    for (const size of sizes()) {
      const started = performance.now();
      bulkFill(join(root, 'data', 'canon.db'), size);
      await topUp(root, size);
      const built = (performance.now() - started) / 1000;
      const opened = await runChild<Opened>(SELF, [root]);
      if (opened.size !== size) throw new Error(`the store holds ${opened.size}, not ${size}`);
      const label = `${size.toLocaleString('en-US')} records`;
      figure({
        name: `tiles: open to first request (an inclusion proof), ${label}`,
        value: opened.first_ms,
        unit: 'ms',
        limit: limit(base.first_ms),
        goal: { atMost: 2000 },
        note: `runtime open ${fmt(opened.open_ms)} ms from process start; store built in bulk in ${fmt(built)} s`,
      });
      figure({
        name: `tiles: RSS after the first request, ${label}`,
        value: opened.rss_mib,
        unit: 'MiB',
        limit: limit(base.rss_mib),
        goal: { atMost: 200 },
      });
    }
    say(
      '(stores built in bulk: synthetic rows and their tiles written directly; see bench/tiles.ts)',
    );
  } finally {
    // SIGIL_BENCH_TILES_KEEP=1 keeps the built store to open again (its path is printed).
    if (process.env.SIGIL_BENCH_TILES_KEEP === '1') say(`store kept at ${root}`);
    else rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child(process.argv[3]!);
else if (import.meta.url === `file://${process.argv[1]}`) await run();
