/**
 * Scale report: how open time and memory grow with the log. For each size (default 100,000 and
 * 1,000,000 records; `npm run bench -- scale --scale=N,N` picks others) a store is built, then a
 * fresh process opens it, serves HTTP and answers one authenticated POST /api/trust/check; it
 * reports the time from process start to that first answer and its RSS, beside the same figures
 * for the store as bootstrapped (a handful of records), measured in the same run.
 *
 * The store is filled through the log's own append path (CanonLog.appendMany, 4,096 records a
 * batch, so each batch is sealed on the worker threads and written in one transaction): the rows
 * are real sealed records, chained and encrypted, that validate.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CanonLog } from '../src/canon/log.ts';
import type { RecordDraft } from '../src/canon/record.ts';
import { loadConfig } from '../src/config/index.ts';
import { buildServer } from '../src/http/index.ts';
import { SigilRuntime } from '../src/runtime/index.ts';
import { benchEnvironment, recordCounts, runChild } from './child.ts';
import { figure, fmt, say } from './report.ts';

const CHUNK = 4096;
const DEFAULT_SIZES = [100_000, 1_000_000];
const SELF = fileURLToPath(import.meta.url);

interface Opened {
  /** ms from process start until the runtime is open */
  open_ms: number;
  /** ms from process start until the first request was answered */
  first_ms: number;
  rss_mib: number;
}

/** A decision-sized record (about 300 bytes of payload). */
function filler(i: number): RecordDraft {
  return {
    kind: 'user_data',
    tenant: 'bench',
    space: 'user',
    payload: { i, subject: `did:sigil:agent-${i % 97}`, note: 'x'.repeat(200) },
  };
}

/** In the child: open the store, serve, answer one request, report. */
async function child(root: string, token: string): Promise<void> {
  const env = benchEnvironment(root);
  const runtime = await SigilRuntime.open({
    config: loadConfig({ env, dataDir: join(root, 'data') }),
    env,
  });
  const open_ms = performance.now();
  const app = buildServer(runtime, { logLevel: 'warn' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const res = await fetch(`http://127.0.0.1:${port}/api/trust/check`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action: 'canon.read', target: 'canon/records', payload: {} }),
  });
  if (!res.ok) throw new Error(`first request failed: ${res.status} ${await res.text()}`);
  const first_ms = performance.now();
  const opened: Opened = { open_ms, first_ms, rss_mib: process.memoryUsage().rss / 2 ** 20 };
  await app.close();
  await runtime.close();
  process.stdout.write(`${JSON.stringify(opened)}\n`);
}

/** Appends filler records until the log holds `size`; returns records/s. */
async function fill(root: string, size: number): Promise<number> {
  const log = await CanonLog.open({ dataDir: join(root, 'data'), env: benchEnvironment(root) });
  try {
    const started = performance.now();
    const from = await log.size();
    for (let n = from; n < size; n += CHUNK) {
      await log.appendMany(
        Array.from({ length: Math.min(CHUNK, size - n) }, (_, i) => filler(n + i)),
      );
    }
    return ((size - from) * 1000) / (performance.now() - started);
  } finally {
    await log.close();
  }
}

function sizes(): number[] {
  const arg = process.argv.find((a) => a.startsWith('--scale='));
  if (arg === undefined) return DEFAULT_SIZES;
  return recordCounts(
    arg.slice('--scale='.length),
    0,
    `--scale wants record counts like 100000,1000000, got ${arg}`,
  );
}

export async function run(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'sigil-bench-scale-'));
  try {
    const env = benchEnvironment(root);
    const boot = await SigilRuntime.bootstrap({
      config: loadConfig({ env, dataDir: join(root, 'data') }),
      env,
    });
    const token = boot.rootToken!;
    await boot.runtime.close();
    const base = await runChild<Opened>(SELF, [root, token]);
    say(
      `scale: a fresh process opens the store and answers one POST /api/trust/check (bootstrapped store: first answer ${fmt(base.first_ms)} ms, RSS ${fmt(base.rss_mib)} MiB)`,
    );
    for (const size of sizes()) {
      const fillRate = await fill(root, size);
      const opened = await runChild<Opened>(SELF, [root, token]);
      const label = `${size.toLocaleString('en-US')} records`;
      figure({
        name: `scale: time to first request, ${label}`,
        value: opened.first_ms,
        unit: 'ms',
        limit: { name: 'the bootstrapped store, same run', value: base.first_ms },
        note: `open ${fmt(opened.open_ms)} ms; filled at ${fmt(fillRate)} records/s`,
      });
      figure({
        name: `scale: RSS after the first request, ${label}`,
        value: opened.rss_mib,
        unit: 'MiB',
        limit: { name: 'the bootstrapped store, same run', value: base.rss_mib },
      });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child(process.argv[3]!, process.argv[4]!);
else if (import.meta.url === `file://${process.argv[1]}`) await run();
