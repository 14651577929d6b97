/** Runs the real `sigil` (node ./bin/sigil) as a child process, as a user would. */
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = join(process.cwd(), 'bin/sigil');
export const MASTER_KEY = Buffer.alloc(32, 0x51).toString('base64');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `sigil args…` with a clean environment: PATH, the test master key and `env` (a value of
 * undefined removes a variable), so no SIGIL_TOKEN or backend setting leaks in from outside.
 */
export function sigil(args: string[], env: NodeJS.ProcessEnv = {}, input = ''): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH, SIGIL_MASTER_KEY: MASTER_KEY, ...env }, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(input);
  });
}

/** Parses a run's stdout as JSON, failing the test with its stderr when it is not. */
export function json<T = Record<string, unknown>>(run: Run): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${run.code}): ${run.stdout}\n${run.stderr}`);
  }
}

/** A temp directory with a file writer; `remove` deletes it. */
export function tempRoot(): {
  root: string;
  file: (name: string, text: string) => string;
  remove: () => void;
} {
  const root = mkdtempSync(join(tmpdir(), 'sigil-cli-'));
  return {
    root,
    file: (name, text) => {
      const path = join(root, name);
      writeFileSync(path, text);
      return path;
    },
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** `sigil init` in a fresh data dir; returns the Root token and the init JSON. */
export async function initDataDir(
  dataDir: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ rootToken: string; init: Record<string, unknown> }> {
  const run = await sigil(['init', '--data-dir', dataDir, '--json'], env);
  if (run.code !== 0) throw new Error(`init failed (${run.code}): ${run.stderr}`);
  const init = json(run);
  return { rootToken: init.root_token as string, init };
}

/**
 * Cuts a SQLite log down to its first `keep` records, as an attacker with the database would:
 * rows, later checkpoints, the head and the tiles (derived data: the next open builds them from
 * the leaves left), so the store stays consistent with itself.
 */
export function cutTail(dataDir: string, keep: number): void {
  const db = new Database(join(dataDir, 'canon.db'));
  try {
    db.transaction(() => {
      db.prepare('DELETE FROM records WHERE seq >= ?').run(keep);
      db.prepare('DELETE FROM checkpoints WHERE size > ?').run(keep);
      db.prepare('DELETE FROM tiles').run();
      const last = db.prepare('SELECT hash FROM records WHERE seq = ?').get(keep - 1) as
        { hash: string } | undefined;
      db.prepare('UPDATE head SET size = ?, hash = ? WHERE one = 1').run(keep, last?.hash ?? null);
    })();
  } finally {
    db.close();
  }
}
