/**
 * The shared rate-bucket table is pruned: a bucket that has refilled to its burst equals an
 * absent one, so it may go; one that has not must stay (deleting it would hand its caller a
 * full bucket). A pass deletes a bounded number of rows, and the runtime's pruner keeps going
 * until the table holds only buckets that are not yet full.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/canon/store/postgres.ts';
import { PRUNE_BATCH, pruneBuckets } from '../../src/runtime/rate-limiter.ts';
import { freshDatabase, pgUrl } from '../canon/helpers/pg.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!pgUrl)('pruning the shared rate buckets on PostgreSQL', () => {
  let store: PostgresStore;
  let client: pg.Client;

  beforeAll(async () => {
    const url = await freshDatabase();
    store = new PostgresStore(url);
    client = new pg.Client({ connectionString: url });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await store?.close();
  });

  const rows = async () =>
    Number((await client.query('SELECT count(*) AS n FROM sigil_rate_buckets')).rows[0].n);
  const keys = async () =>
    (await client.query<{ k: string }>('SELECT k FROM sigil_rate_buckets ORDER BY k')).rows.map(
      (r) => r.k,
    );

  it('deletes only full buckets, at most the batch per pass', async () => {
    const buckets = store.rateBuckets;
    const n = 2 * PRUNE_BATCH + 500;
    // Callers whose buckets refill within a millisecond (1000 tokens/s, burst 1) …
    for (let i = 0; i < n; i += 100)
      await Promise.all(
        Array.from({ length: Math.min(100, n - i) }, (_, j) =>
          buckets.take(`fast:${i + j}`, 1000, 1),
        ),
      );
    // … and two that stay short for a thousand seconds: one spent, one with a token left.
    for (let i = 0; i < 3; i += 1) await buckets.take('slow:spent', 0.001, 3);
    for (let i = 0; i < 2; i += 1) await buckets.take('slow:partial', 0.001, 3);
    expect(await rows()).toBe(n + 2);
    await sleep(20);

    const passes: number[] = [];
    for (let d = -1; d !== 0;) passes.push((d = await buckets.prune(PRUNE_BATCH)));
    expect(passes).toEqual([PRUNE_BATCH, PRUNE_BATCH, 500, 0]);
    expect(await keys()).toEqual(['slow:partial', 'slow:spent']);
    // What stayed still limits: the spent caller is refused, the other has its one token.
    expect(await buckets.take('slow:spent', 0.001, 3)).toMatchObject({ taken: false });
    expect(await buckets.take('slow:partial', 0.001, 3)).toMatchObject({ taken: true });
    expect(await buckets.take('slow:partial', 0.001, 3)).toMatchObject({ taken: false });
  });

  it('a bucket is pruned once it is full again, by the database clock', async () => {
    const buckets = store.rateBuckets;
    await buckets.take('refill', 0.001, 2);
    await buckets.take('refill', 0.001, 2);
    expect(await buckets.prune(PRUNE_BATCH)).toBe(0);
    // 2 tokens at 0.001/s take 2000 s: move the last take that far back.
    await client.query(
      "UPDATE sigil_rate_buckets SET at = at - interval '1999 seconds', full_at = full_at - interval '1999 seconds' WHERE k = 'refill'",
    );
    expect(await buckets.prune(PRUNE_BATCH)).toBe(0);
    await client.query(
      "UPDATE sigil_rate_buckets SET at = at - interval '2 seconds', full_at = full_at - interval '2 seconds' WHERE k = 'refill'",
    );
    expect(await buckets.prune(PRUNE_BATCH)).toBe(1);
    expect(await keys()).not.toContain('refill');
  });

  it('takes racing the prune never get more than the burst', async () => {
    const buckets = store.rateBuckets;
    // Passes running while four callers spend their buckets delete none of them (none is full
    // again), and lock nothing a take then misses: together the takes get exactly the bursts.
    const takes = Array.from({ length: 200 }, (_, i) => buckets.take(`race:${i % 4}`, 0.001, 5));
    const prunes = Array.from({ length: 10 }, () => buckets.prune(50));
    const [taken] = await Promise.all([Promise.all(takes), Promise.all(prunes)]);
    expect(taken.filter((t) => t.taken)).toHaveLength(4 * 5);
  });

  it("the runtime's pruner empties the table of full buckets, pass after pass", async () => {
    const buckets = store.rateBuckets;
    await client.query('DELETE FROM sigil_rate_buckets');
    for (let i = 0; i < 3 * PRUNE_BATCH; i += 200)
      await Promise.all(Array.from({ length: 200 }, (_, j) => buckets.take(`p:${i + j}`, 1000, 1)));
    await buckets.take('p:short', 0.001, 2);
    const stop = pruneBuckets(buckets, 50);
    try {
      for (let t = 0; t < 200 && (await rows()) > 1; t += 1) await sleep(50);
    } finally {
      stop();
    }
    expect(await keys()).toEqual(['p:short']);
  });
});
