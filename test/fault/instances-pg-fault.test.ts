/**
 * Many instances, faults survived (issue 17 item 5): 4 `sigil serve` processes on one PostgreSQL
 * (its own throwaway cluster, so restarting it disturbs no other test), 32 clients writing
 * adjudicated records through them; meanwhile one instance is SIGKILLed and restarted and
 * PostgreSQL itself is restarted. Afterwards every acknowledged write is in the log, the log is
 * one chain that validates, and every instance serves (and writes) again. The run length is
 * SIGIL_FAULT_SECONDS (default 15) so it stays within CI's budget; it prints the throughput and
 * the longest time no write was acknowledged.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CanonLog } from '../../src/canon/log.ts';
import { PG_BIN, runPg, startCluster } from '../global-setup.ts';
import type { ServerProcess } from '../http/helpers.ts';
import { MASTER_KEY, ROOMY_LIMITS, startServer } from '../http/helpers.ts';

const SECONDS = Number(process.env.SIGIL_FAULT_SECONDS ?? 15);
const INSTANCES = 4;
const CLIENTS = 32;
const hasPg = existsSync(join(PG_BIN, 'initdb'));

let root: string;
let pgDir: string;
let pgData: string;
let databaseUrl: string;
let dataDir: string;
let config: string;
let token: string;
const instances: Array<ServerProcess | undefined> = [];

let lastRefusal = '';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  if (!hasPg) return;
  root = mkdtempSync(join(tmpdir(), 'sigil-fault-'));
  // Its own cluster: restarting it disturbs no other test.
  const cluster = await startCluster('sigil-fault-pg-');
  pgDir = cluster.dir;
  pgData = cluster.data;
  const port = cluster.port;
  databaseUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  dataDir = join(root, 'data');
  config = join(root, 'mmf.toml');
  writeFileSync(
    config,
    `db_backend = "postgres"\ndatabase_url = "${databaseUrl}"\n[rate_limit]\n${ROOMY_LIMITS}\n`,
  );
  const first = await startServer(dataDir, config);
  token = first.rootToken!;
  instances.push(first);
  instances.push(
    ...(await Promise.all(
      Array.from({ length: INSTANCES - 1 }, () => startServer(dataDir, config)),
    )),
  );
}, 120_000);

afterAll(async () => {
  await Promise.all(instances.map((s) => s?.stop(5000)));
  if (pgData) {
    try {
      runPg('pg_ctl', ['-D', pgData, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // already stopped
    }
  }
  for (const d of [root, pgDir]) if (d) rmSync(d, { recursive: true, force: true });
});

async function write(s: ServerProcess, i: number): Promise<string | undefined> {
  const res = await fetch(`${s.url}/api/canon/user/write`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'user_data', payload: { i } }),
    signal: AbortSignal.timeout(15_000),
  });
  if (res.status !== 201) {
    lastRefusal = `${res.status} ${await res.text()}`;
    return undefined;
  }
  return ((await res.json()) as { id: string }).id;
}

describe.skipIf(!hasPg)('4 instances on one PostgreSQL, 32 clients, faults', () => {
  it('keeps every acknowledged write through a SIGKILL and a PostgreSQL restart', async () => {
    const acked: string[] = [];
    let failed = 0;
    let stop = false;
    const started = performance.now();
    let lastAck = started;
    let longestPause = 0;
    const client = async (c: number) => {
      for (let i = 0; !stop; i += 1) {
        const s = instances[(c + i) % INSTANCES];
        if (s === undefined) {
          await sleep(20);
          continue;
        }
        try {
          const id = await write(s, c * 1_000_000 + i);
          if (id === undefined) {
            failed += 1;
            await sleep(50);
            continue;
          }
          acked.push(id);
          const now = performance.now();
          longestPause = Math.max(longestPause, now - lastAck);
          lastAck = now;
        } catch {
          failed += 1;
          await sleep(50);
        }
      }
    };
    const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));

    await sleep((SECONDS * 1000) / 3);
    // SIGKILL one instance mid-write, and bring it back.
    const victim = instances[1]!;
    instances[1] = undefined;
    victim.child.kill('SIGKILL');
    await new Promise((r) => victim.child.once('exit', r));
    instances[1] = await startServer(dataDir, config);
    const killedAt = acked.length;

    await sleep((SECONDS * 1000) / 3);
    // Restart PostgreSQL under all four.
    // -l: without a log file the server would hold pg_ctl's stdout, and execFileSync would wait.
    runPg('pg_ctl', ['-D', pgData, '-l', join(pgDir, 'server.log'), '-m', 'fast', '-w', 'restart']);
    const restartedAt = acked.length;

    await sleep((SECONDS * 1000) / 3);
    stop = true;
    await Promise.all(clients);
    const elapsed = (performance.now() - started) / 1000;
    longestPause = Math.max(longestPause, performance.now() - lastAck);

    // Writes went on after each fault.
    expect(acked.length).toBeGreaterThan(restartedAt);
    expect(restartedAt).toBeGreaterThan(killedAt);

    // Every instance serves again, reads and writes.
    for (const s of instances) {
      let id: string | undefined;
      for (let attempt = 0; attempt < 50 && id === undefined; attempt += 1) {
        id = await write(s!, -1).catch((err: unknown) => {
          lastRefusal = String(err);
          return undefined;
        });
        if (id === undefined) await sleep(200);
      }
      expect(
        id,
        `instance ${s!.url} writes again (last: ${lastRefusal}; exit ${s!.child.exitCode}; ${s!.stderr().slice(-3000)})`,
      ).toBeDefined();
      acked.push(id!);
      const cp = await fetch(`${s!.url}/log/checkpoint`);
      expect(cp.status).toBe(200);
    }

    // Every acknowledged write is in the log, which is one chain that validates.
    const log = await CanonLog.open({
      dataDir,
      backend: 'postgres',
      databaseUrl,
      env: { SIGIL_MASTER_KEY: MASTER_KEY },
    });
    try {
      const missing: string[] = [];
      for (const id of acked) if ((await log.get(id)) === undefined) missing.push(id);
      expect(missing).toEqual([]);
      expect(new Set(acked).size).toBe(acked.length);
      const result = await log.validate();
      expect(result.ok, JSON.stringify(result)).toBe(true);
      expect(await log.size()).toBeGreaterThanOrEqual(acked.length);
    } finally {
      await log.close();
    }
    console.log(
      `[fault] ${INSTANCES} instances, ${CLIENTS} clients, ${elapsed.toFixed(1)} s: ` +
        `${acked.length} acknowledged writes (${(acked.length / elapsed).toFixed(0)}/s), ` +
        `${failed} refused or failed during faults, longest pause ${(longestPause / 1000).toFixed(2)} s`,
    );
  }, 180_000);
});
