/**
 * PostgreSQL benchmark: 4 Sigil processes appending durable 1 KiB records to one database,
 * against pgbench's single-row insert rate with 32 clients (1 KiB rows, one transaction each)
 * on the same throwaway server in the same run; afterwards the log must validate whole (one
 * chain, every record). The server is started with test/global-setup.ts's helpers (binaries from
 * /usr/lib/postgresql/15/bin or SIGIL_PG_BIN, loopback only, fsync=on) and stopped at the end.
 * Without the binaries the benchmark says so and is skipped.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CanonLog } from '../src/canon/log.ts';
import { freePort, PG_BIN, runPg } from '../test/global-setup.ts';
import { figure, fmt, say } from './report.ts';

const PROCESSES = 4;
const APPENDERS = 64;
const PGBENCH_CLIENTS = 32;
const DURATION_S = 10;
const SELF = fileURLToPath(import.meta.url);
const ENV = { SIGIL_MASTER_KEY: Buffer.alloc(32, 0x17).toString('base64') };

/** The canon bench's 1 KiB record: 16 fields of short text. */
function payload(i: number): Record<string, string | number> {
  const p: Record<string, string | number> = { i };
  for (let f = 0; f < 16; f++) p[`field_${f}`] = `${'v'.repeat(48)}-${i}-${f}`;
  return p;
}

/** In a child: open the shared log, say ready, append from APPENDERS appenders once told to go. */
async function child(dataDir: string, databaseUrl: string, tag: string): Promise<void> {
  const log = await CanonLog.open({ dataDir, backend: 'postgres', databaseUrl, env: ENV });
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  const until = performance.now() + DURATION_S * 1000;
  let count = 0;
  await Promise.all(
    Array.from({ length: APPENDERS }, async () => {
      while (performance.now() < until) {
        await log.append({
          kind: 'user_data',
          tenant: tag,
          space: 'user',
          payload: payload(count),
        });
        count += 1;
      }
    }),
  );
  await log.close();
  process.stdout.write(`${JSON.stringify({ count })}\n`);
}

interface Child {
  ready: Promise<void>;
  done: Promise<number>;
  go(): void;
}

function startChild(dataDir: string, databaseUrl: string, tag: string): Child {
  const p = spawn(
    process.execPath,
    ['--import', 'tsx', SELF, '--child', dataDir, databaseUrl, tag],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  p.stdout.setEncoding('utf8').on('data', (c: string) => {
    out += c;
    if (out.includes('ready\n')) markReady();
  });
  p.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const done = new Promise<number>((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`append child exited ${code}: ${err}`));
      else resolve((JSON.parse(out.trim().split('\n').pop()!) as { count: number }).count);
    });
  });
  return { ready, done, go: () => p.stdin.end('go\n') };
}

export async function run(): Promise<void> {
  for (const bin of ['initdb', 'pg_ctl', 'psql', 'pgbench']) {
    if (!existsSync(join(PG_BIN, bin))) {
      say(`postgres benchmark SKIPPED: ${join(PG_BIN, bin)} not found (set SIGIL_PG_BIN)`);
      return;
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'sigil-bench-pg-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const port = await freePort();
  const conn = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'];
  runPg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  runPg('pg_ctl', [
    '-D',
    data,
    '-l',
    join(dir, 'server.log'),
    '-w',
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200`,
    'start',
  ]);
  try {
    for (const db of ['pgbench', 'sigil']) runPg('psql', [...conn, '-c', `CREATE DATABASE ${db}`]);
    // pgbench: one 1 KiB row per transaction, 32 clients.
    runPg('psql', [
      ...conn,
      '-d',
      'pgbench',
      '-c',
      'CREATE TABLE rows (id bigserial PRIMARY KEY, v text)',
    ]);
    const script = join(dir, 'insert.sql');
    writeFileSync(script, `INSERT INTO rows (v) VALUES (repeat('v', 1024));\n`);
    chownIfRoot(script);
    const pgbench = runPg('pgbench', [
      ...conn,
      '-n',
      '-c',
      String(PGBENCH_CLIENTS),
      '-j',
      '2',
      '-T',
      String(DURATION_S),
      '-f',
      script,
      'pgbench',
    ]);
    const tps = Number(/tps = ([\d.]+)/.exec(pgbench)?.[1]);
    if (!Number.isFinite(tps)) throw new Error(`pgbench printed no tps:\n${pgbench}`);

    const databaseUrl = `postgres://postgres@127.0.0.1:${port}/sigil`;
    const dataDir = join(dir, 'sigil');
    await CanonLog.init({ dataDir, backend: 'postgres', databaseUrl, env: ENV });
    const children = Array.from({ length: PROCESSES }, (_, p) =>
      startChild(dataDir, databaseUrl, `p${p}`),
    );
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.go();
    const counts = await Promise.all(children.map((c) => c.done));
    const appended = counts.reduce((a, b) => a + b, 0);

    const log = await CanonLog.open({ dataDir, backend: 'postgres', databaseUrl, env: ENV });
    let whole: string;
    try {
      const result = await log.validate();
      whole =
        result.ok && result.count === appended ? 'whole' : `BROKEN (${JSON.stringify(result)})`;
      if (whole !== 'whole') throw new Error(`the chain is not whole after the run: ${whole}`);
    } finally {
      await log.close();
    }
    say(`postgres (fsync=on, loopback, ${DURATION_S} s each)`);
    figure({
      name: `postgres: durable appends, ${PROCESSES} Sigil processes x ${APPENDERS} appenders, 1 KiB`,
      value: appended / DURATION_S,
      unit: '/s',
      limit: { name: `pgbench single-row 1 KiB inserts, ${PGBENCH_CLIENTS} clients`, value: tps },
      goal: { ratioAtLeast: 1 },
      note: `${fmt(appended)} records; validate: chain ${whole}`,
    });
  } finally {
    try {
      runPg('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** The server runs as `postgres` when we are root: pgbench (run as postgres) must read the script. */
function chownIfRoot(file: string): void {
  if (process.getuid?.() !== 0) return;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  chownSync(file, uid, gid);
}

if (process.argv[2] === '--child')
  await child(process.argv[3]!, process.argv[4]!, process.argv[5]!);
else if (import.meta.url === `file://${process.argv[1]}`) await run();
