/**
 * Vitest global setup: starts a throwaway PostgreSQL cluster for the postgres backend tests.
 *
 * Binaries come from /usr/lib/postgresql/15/bin (override with SIGIL_PG_BIN). When they are
 * missing, CI fails loudly and a local run skips the postgres tests with a warning. The server
 * listens on a free 127.0.0.1 port with its socket in the temp dir and `fsync=on`; tests read the
 * URL of a fresh database through `inject('pgUrl')` (empty when skipped) or SIGIL_TEST_PG_URL.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of a database on the throwaway server, or '' when PostgreSQL is unavailable. */
    pgUrl: string;
  }
}

export const PG_BIN = process.env.SIGIL_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Asks the kernel for a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Runs a PostgreSQL binary, as user `postgres` when we are root (initdb refuses root). */
export function runPg(binary: string, args: string[]): string {
  const file = join(PG_BIN, binary);
  const asRoot = process.getuid?.() === 0;
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
  return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * A new PostgreSQL cluster in a temp dir owned by `postgres` (initdb refuses root), started on a
 * free 127.0.0.1 port with its log in <dir>/server.log (so pg_ctl never holds our stdout).
 */
export async function startCluster(
  prefix: string,
): Promise<{ dir: string; data: string; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const port = await freePort();
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
  return { dir, data, port };
}

export default async function setup(project: TestProject): Promise<() => void> {
  if (!existsSync(join(PG_BIN, 'initdb'))) {
    if (process.env.CI) {
      throw new Error(`PostgreSQL binaries not found in ${PG_BIN}; install postgresql-15 for CI`);
    }
    console.warn(
      `\n[sigil] PostgreSQL not found in ${PG_BIN}: postgres backend tests are SKIPPED\n`,
    );
    project.provide('pgUrl', '');
    return () => {};
  }

  const { dir, data, port } = await startCluster('sigil-pg-');
  runPg('psql', [
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-U',
    'postgres',
    '-c',
    'CREATE DATABASE sigil_test',
  ]);

  const url = `postgres://postgres@127.0.0.1:${port}/sigil_test`;
  project.provide('pgUrl', url);
  process.env.SIGIL_TEST_PG_URL = url;

  return () => {
    try {
      runPg('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}
