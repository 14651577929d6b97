/**
 * Crash safety: a child process appends in a loop and is killed with SIGKILL at a random moment,
 * 20 times over one log. After each kill the log validates and every append the child had seen
 * resolve is present at the seq it was given.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CanonLog } from '../../src/canon/log.ts';
import { MASTER_KEY, tempDir, TEST_ENV } from './helpers/log.ts';

const CHILD = fileURLToPath(new URL('./helpers/append-child.ts', import.meta.url));

/** Runs the child until `killAfterMs` after it is ready, kills it, and returns what it acked. */
function appendThenKill(dataDir: string, killAfterMs: number): Promise<Array<[number, string]>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir, MASTER_KEY, '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (timer === undefined && out.startsWith('ready\n')) {
        timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') {
        reject(new Error(`child ended without being killed: ${err}`));
        return;
      }
      const acked = out
        .split('\n')
        .slice(1)
        .filter((line) => /^\d+ \S+$/.test(line)) // a line cut by the kill was never printed whole
        .map((line) => {
          const [seq, id] = line.split(' ');
          return [Number(seq), id!] as [number, string];
        });
      resolve(acked);
    });
  });
}

describe('kill -9 while appending', () => {
  it('loses no acknowledged append and never breaks the log', { timeout: 120_000 }, async () => {
    const dataDir = tempDir();
    await CanonLog.init({ dataDir, env: TEST_ENV });
    let total = 0;
    for (let round = 0; round < 20; round++) {
      const acked = await appendThenKill(dataDir, 50 + Math.floor(Math.random() * 450));
      const log = await CanonLog.open({ dataDir, env: TEST_ENV });
      try {
        const result = await log.validate();
        expect(result, `round ${round}`).toMatchObject({ ok: true });
        for (const [seq, id] of acked)
          expect((await log.get(id))?.seq, `round ${round}: ${id}`).toBe(seq);
        total = await log.size();
      } finally {
        await log.close();
      }
    }
    expect(total).toBeGreaterThan(0);
  });
});
