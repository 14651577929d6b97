/**
 * Crash safety: a child process appends in a loop and is killed with SIGKILL at a random moment,
 * 20 times over one log. After each kill the stored tiles cover exactly the records (they commit
 * in the same transaction; checked before an open could build missing ones), the log validates
 * and every append the child had seen resolve is present at the seq it was given.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CanonLog } from '../../src/canon/log.ts';
import { openStore } from '../../src/canon/store/index.ts';
import { runUntilKilled } from './helpers/kill.ts';
import { MASTER_KEY, tempDir, TEST_ENV } from './helpers/log.ts';

const CHILD = fileURLToPath(new URL('./helpers/append-child.ts', import.meta.url));

/** Runs the child until `killAfterMs` after it is ready, kills it, and returns what it acked. */
async function appendThenKill(
  dataDir: string,
  killAfterMs: number,
): Promise<Array<[number, string]>> {
  const lines = await runUntilKilled(CHILD, [dataDir, MASTER_KEY, '2'], killAfterMs);
  return lines
    .filter((line) => /^\d+ \S+$/.test(line))
    .map((line) => {
      const [seq, id] = line.split(' ');
      return [Number(seq), id!] as [number, string];
    });
}

describe('kill -9 while appending', () => {
  it('loses no acknowledged append and never breaks the log', { timeout: 120_000 }, async () => {
    const dataDir = tempDir();
    await CanonLog.init({ dataDir, env: TEST_ENV });
    let total = 0;
    for (let round = 0; round < 20; round++) {
      const acked = await appendThenKill(dataDir, 50 + Math.floor(Math.random() * 450));
      const store = await openStore({ dataDir }, { create: false });
      try {
        expect(await store.tiledSize(), `round ${round}`).toBe((await store.head()).size);
      } finally {
        await store.close();
      }
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
