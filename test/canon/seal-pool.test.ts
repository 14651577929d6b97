/**
 * Batches sealed on worker threads (seal-pool.ts), pipelined with the previous batch's write:
 * the chain stays whole and in order, every record verifies, views commit with their records,
 * and a batch sealed ahead against a head another writer has since moved is sealed again in-line
 * rather than forking the chain. On every backend.
 */
import { describe, expect, it } from 'vitest';
import { CanonLog } from '../../src/canon/log.ts';
import { verifyRecord, type RecordDraft } from '../../src/canon/record.ts';
import { BACKENDS, draft, storeOptions } from './helpers/log.ts';

const memory = (i: number): RecordDraft => ({
  kind: 'memory_block',
  tenant: 't',
  space: 'user',
  payload: {
    owner: 'did:x:a',
    key: `k${i % 50}`,
    value: i,
    text: `"sig":"" ${'\u00e9'.repeat(i % 7)}`,
  },
});

/** `n` appends from 64 concurrent appenders, so batches are big enough for the pool. */
async function concurrently(log: CanonLog, n: number, make = draft): Promise<number[]> {
  let next = 0;
  const seqs: number[] = [];
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < n) {
        const i = next++;
        seqs.push((await log.append(make(i))).seq);
      }
    }),
  );
  return seqs;
}

describe.each(BACKENDS)('pooled sealing ($name)', ({ name, skip }) => {
  it.skipIf(skip)('concurrent appends chain in order, verify, and carry their views', async () => {
    const opts = await storeOptions(name);
    await CanonLog.init(opts);
    const log = await CanonLog.open(opts);
    try {
      await log.append(draft(-1));
      const seqs = await concurrently(log, 600, memory);
      expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
      const many = await log.appendMany(Array.from({ length: 100 }, (_, i) => memory(1000 + i)));
      expect(many.map((r) => r.seq)).toEqual(Array.from({ length: 100 }, (_, i) => 601 + i));
      let prev: string | null = null;
      for (let cursor: string | undefined, page; ; cursor = page.cursor) {
        page = await log.list({ limit: 500, ...(cursor !== undefined && { cursor }) });
        for (const r of page.records) {
          const { seq: _seq, ...record } = r;
          expect(verifyRecord(record).ok).toBe(true);
          expect(r.prev).toBe(prev);
          prev = r.hash;
        }
        if (page.cursor === undefined) break;
      }
      expect(await log.checkViews()).toEqual([]);
      expect(await log.views.get('memory', 'did:x:a k49')).toMatchObject({
        record_id: many[99]!.id,
      });
      expect(await log.validate()).toMatchObject({ ok: true, count: 701 });
    } finally {
      await log.close();
    }
  });

  it.skipIf(skip)(
    'a batch sealed ahead of another writer is sealed again, not forked',
    async () => {
      const opts = await storeOptions(name);
      await CanonLog.init(opts);
      const a = await CanonLog.open(opts);
      const b = await CanonLog.open(opts);
      try {
        // a learns the head by writing, b moves it, then a's next batches are sealed ahead of a
        // head that is no longer the store's.
        await concurrently(a, 100);
        for (let round = 0; round < 3; round++) {
          await b.append(draft(500 + round));
          await Promise.all([concurrently(a, 200), concurrently(b, 50)]);
        }
        expect(await a.size()).toBe(100 + 3 * 251);
        expect(await a.validate()).toMatchObject({ ok: true, count: 853 });
      } finally {
        await a.close();
        await b.close();
      }
    },
  );
});
