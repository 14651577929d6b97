/**
 * Several processes on one postgres log: 4 child processes append 2,000 records each at once.
 * The log must stay one chain — no gaps, no forks, no duplicate seq — and validate whole.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CanonLog } from '../../src/canon/log.ts';
import { MASTER_KEY, storeOptions } from './helpers/log.ts';
import { pgUrl } from './helpers/pg.ts';

const CHILD = fileURLToPath(new URL('./helpers/pg-append-child.ts', import.meta.url));
const PROCESSES = 4;
const PER_PROCESS = 2000;

function runChild(args: string[]): Promise<{ tag: string; seqs: number[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`child exited ${code}: ${err}`));
      else resolve(JSON.parse(out) as { tag: string; seqs: number[] });
    });
  });
}

describe('postgres with concurrent writer processes', () => {
  it.skipIf(!pgUrl)(
    `${PROCESSES} processes x ${PER_PROCESS} appends make one chain`,
    { timeout: 180_000 },
    async () => {
      const opts = await storeOptions('postgres');
      await CanonLog.init(opts);
      const results = await Promise.all(
        Array.from({ length: PROCESSES }, (_, p) =>
          runChild([opts.dataDir, opts.databaseUrl!, MASTER_KEY, String(PER_PROCESS), `p${p}`]),
        ),
      );
      const all = results.flatMap((r) => r.seqs).sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: PROCESSES * PER_PROCESS }, (_, i) => i));
      for (const r of results) expect(new Set(r.seqs).size).toBe(PER_PROCESS);
      // The writers really overlapped: their seqs interleave rather than form blocks.
      const interleaved = results.filter(
        (r) => Math.max(...r.seqs) - Math.min(...r.seqs) >= PER_PROCESS,
      );
      expect(interleaved.length).toBeGreaterThan(1);

      const log = await CanonLog.open(opts);
      try {
        expect(await log.size()).toBe(PROCESSES * PER_PROCESS);
        const result = await log.validate();
        expect(result).toMatchObject({ ok: true, count: PROCESSES * PER_PROCESS });
        // Every process checkpointed on close; all those checkpoints agree with the one chain.
        expect((await log.checkpoints()).length).toBeGreaterThan(0);
      } finally {
        await log.close();
      }
    },
  );
});
