/**
 * The backend suite: the same tests run against sqlite and postgres through CanonLog, so both
 * backends behave the same for append, read, list, checkpoints, proofs, state and key checks.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../src/canon/checkpoint.ts';
import { CanonLog, KEYS_DIR, type CanonLogOptions } from '../../src/canon/log.ts';
import { verifyRecord, type CanonicalRecord } from '../../src/canon/record.ts';
import { verifyConsistency, verifyInclusionProof } from '../../src/canon/verify.ts';
import { toHex } from '../../src/core/encoding.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { BACKENDS, draft, storeOptions, tempDir } from './helpers/log.ts';

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isSigilError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
}

function stripSeq(r: CanonicalRecord & { seq: number }): CanonicalRecord {
  const { seq: _seq, ...record } = r;
  return record;
}

async function withLog<T>(opts: CanonLogOptions, fn: (log: CanonLog) => Promise<T>): Promise<T> {
  const log = await CanonLog.open(opts);
  try {
    return await fn(log);
  } finally {
    await log.close();
  }
}

describe.each(BACKENDS)('canon store on $name', ({ name, skip }) => {
  const fresh = async (extra: Partial<CanonLogOptions> = {}) => {
    const opts = await storeOptions(name, extra);
    const init = await CanonLog.init(opts);
    return { opts, init };
  };

  it.skipIf(skip)('init creates a log and refuses an initialised store', async () => {
    const { opts, init } = await fresh();
    expect(init.backend).toBe(name);
    expect(init.origin).toBe(`sigil/${init.logId}`);
    expect(init.verifierKey.startsWith(`${init.origin}+`)).toBe(true);
    await rejectsWith(CanonLog.init(opts), 'store_exists');
    if (name === 'postgres') {
      // Another data dir pointed at the same database must not re-initialise it either.
      await rejectsWith(CanonLog.init({ ...opts, dataDir: tempDir() }), 'store_exists');
    }
    await withLog(opts, async (log) => {
      expect(log.logId).toBe(init.logId);
      expect(log.verifierKey).toBe(init.verifierKey);
      expect(await log.size()).toBe(0);
    });
  });

  it.skipIf(skip)('open refuses a store that was never initialised', async () => {
    const opts = await storeOptions(name);
    await rejectsWith(CanonLog.open(opts), 'store_missing');
  });

  it.skipIf(skip)('appends chain records in one order, each verifiable and readable', async () => {
    const { opts } = await fresh();
    await withLog(opts, async (log) => {
      const first = await log.append(draft(0));
      const concurrent = await Promise.all(
        [1, 2, 3, 4, 5, 6, 7, 8].map((i) => log.append(draft(i))),
      );
      const all = [first, ...concurrent];
      expect(all.map((r) => r.seq).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
      expect(first.prev).toBeNull();
      const bySeq = [...all].sort((a, b) => a.seq - b.seq);
      for (let i = 1; i < bySeq.length; i++) expect(bySeq[i]!.prev).toBe(bySeq[i - 1]!.hash);
      for (const r of all) {
        expect(verifyRecord(stripSeq(r))).toEqual({ ok: true });
        expect(await log.get(r.id)).toEqual(r);
        expect(await log.getBySeq(r.seq)).toEqual(r);
      }
      expect(await log.get('rec_missing')).toBeUndefined();
      expect(await log.size()).toBe(9);
    });
  });

  it.skipIf(skip)(
    'appendMany is atomic: one bad draft or duplicate id writes nothing',
    async () => {
      const { opts } = await fresh();
      await withLog(opts, async (log) => {
        const [a] = await log.appendMany([draft(0, { id: 'fixed-id' })]);
        expect(a!.seq).toBe(0);
        await rejectsWith(
          log.appendMany([draft(1), { ...draft(2), kind: 'nope' as never }]),
          'record_invalid',
        );
        await rejectsWith(
          log.appendMany([draft(3), draft(4), draft(5, { id: 'fixed-id' })]),
          'record_exists',
        );
        expect(await log.size()).toBe(1);
        const many = await log.appendMany([draft(6), draft(7), draft(8)]);
        expect(many.map((r) => r.seq)).toEqual([1, 2, 3]);
        expect(many[0]!.prev).toBe(a!.hash);
      });
    },
  );

  it.skipIf(skip)('a failing append in a merged batch does not fail the others', async () => {
    const { opts } = await fresh();
    await withLog(opts, async (log) => {
      await log.append(draft(0, { id: 'taken' }));
      const results = await Promise.allSettled([
        log.append(draft(1)),
        log.append(draft(2, { id: 'taken' })),
        log.append(draft(3)),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(await log.size()).toBe(3);
      expect((await log.validate()).ok).toBe(true);
    });
  });

  it.skipIf(skip)('lists by kind and since, a page at a time', async () => {
    const { opts } = await fresh();
    await withLog(opts, async (log) => {
      const drafts = Array.from({ length: 25 }, (_, i) =>
        draft(i, {
          kind: i % 5 === 0 ? 'audit_record' : 'user_data',
          ts: `2026-01-01T00:00:${String(i).padStart(2, '0')}.000Z`,
        }),
      );
      await log.appendMany(drafts);
      const seen: number[] = [];
      let cursor: string | undefined;
      do {
        const page = await log.list({ limit: 10, ...(cursor !== undefined && { cursor }) });
        seen.push(...page.records.map((r) => r.seq));
        cursor = page.cursor;
      } while (cursor !== undefined);
      expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i));
      const audits = await log.list({ kind: 'audit_record' });
      expect(audits.records.map((r) => r.seq)).toEqual([0, 5, 10, 15, 20]);
      expect(audits.cursor).toBeUndefined();
      const since = await log.list({ since: '2026-01-01T00:00:20.000Z', limit: 3 });
      expect(since.records.map((r) => r.seq)).toEqual([20, 21, 22]);
      const rest = await log.list({
        since: '2026-01-01T00:00:20.000Z',
        limit: 3,
        cursor: since.cursor!,
      });
      expect(rest.records.map((r) => r.seq)).toEqual([23, 24]);
      await rejectsWith(log.list({ cursor: 'x' }), 'bad_request');
      await rejectsWith(log.list({ limit: 0 }), 'bad_request');
    });
  });

  it.skipIf(skip)(
    'checkpoints are signed, stored and prove inclusion and consistency',
    async () => {
      const { opts } = await fresh();
      await withLog(opts, async (log) => {
        expect(await log.latestCheckpoint()).toBeUndefined();
        await log.appendMany(Array.from({ length: 7 }, (_, i) => draft(i)));
        const note7 = await log.checkpoint();
        await log.appendMany(Array.from({ length: 6 }, (_, i) => draft(7 + i)));
        const note13 = await log.checkpoint();
        expect(await log.latestCheckpoint()).toBe(note13);
        const cp7 = openCheckpoint(note7, log.keyName, log.publicKey);
        const cp13 = openCheckpoint(note13, log.keyName, log.publicKey);
        expect([cp7.size, cp13.size]).toEqual([7, 13]);
        expect(cp13.origin).toBe(log.origin);
        const stored = await log.checkpoints();
        expect(stored.map((c) => [c.size, c.root])).toEqual([
          [7, toHex(cp7.rootHash)],
          [13, toHex(cp13.rootHash)],
        ]);
        for (let seq = 0; seq < 13; seq++) {
          const proof = await log.proveInclusion(seq, 13);
          expect(verifyInclusionProof(proof, note13, log.keyName, log.publicKey)).toEqual({
            ok: true,
          });
        }
        const bad = await log.proveInclusion(3, 7);
        expect(verifyInclusionProof(bad, note13, log.keyName, log.publicKey).ok).toBe(false);
        const consistency = await log.proveConsistency(7, 13);
        expect(consistency.root1).toBe(toHex(cp7.rootHash));
        expect(verifyConsistency(consistency, note7, note13, log.verifierKey)).toEqual({
          ok: true,
        });
        await rejectsWith(log.proveInclusion(13, 13), 'proof_out_of_range');
        await rejectsWith(log.proveConsistency(3, 14), 'proof_out_of_range');
      });
    },
  );

  it.skipIf(skip)('checkpoints every N appends, every T ms, and on close', async () => {
    const { opts } = await fresh({ checkpointEvery: { appends: 5, ms: 60_000 } });
    await withLog(opts, async (log) => {
      for (let i = 0; i < 12; i++) await log.append(draft(i));
      // Let the writer's post-batch checkpoint run.
      await new Promise((r) => setTimeout(r, 20));
      const sizes = (await log.checkpoints()).map((c) => c.size);
      expect(sizes).toEqual([5, 10]);
      await log.append(draft(12));
    });
    const sizes = await withLog(opts, async (log) => (await log.checkpoints()).map((c) => c.size));
    expect(sizes).toEqual([5, 10, 13]);

    await withLog({ ...opts, checkpointEvery: { appends: 1000, ms: 50 } }, async (log) => {
      await log.append(draft(13));
      await new Promise((r) => setTimeout(r, 300));
      expect((await log.checkpoints()).map((c) => c.size)).toEqual([5, 10, 13, 14]);
    });
  });

  it.skipIf(skip)(
    'close flushes appends still in flight; append after close is refused',
    async () => {
      const { opts } = await fresh();
      const log = await CanonLog.open(opts);
      const pending = Array.from({ length: 20 }, (_, i) => log.append(draft(i)));
      await log.close();
      const records = await Promise.all(pending);
      await rejectsWith(log.append(draft(99)), 'log_closed');
      await withLog(opts, async (reopened) => {
        expect(await reopened.size()).toBe(20);
        for (const r of records) expect((await reopened.get(r.id))?.hash).toBe(r.hash);
        expect((await reopened.checkpoints()).map((c) => c.size)).toEqual([20]);
      });
    },
  );

  it.skipIf(skip)(
    'two instances on one store append to one chain and prove each other',
    async () => {
      const { opts } = await fresh();
      const a = await CanonLog.open(opts);
      const b = await CanonLog.open(opts);
      try {
        await Promise.all(
          Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).append(draft(i))),
        );
        expect(await a.size()).toBe(40);
        const note = await a.checkpoint();
        const proof = await a.proveInclusion(39, 40);
        expect(verifyInclusionProof(proof, note, a.keyName, a.publicKey)).toEqual({ ok: true });
        expect((await b.proveInclusion(0, 40)).root_hash).toBe(proof.root_hash);
        expect(await a.validate()).toMatchObject({ ok: true, count: 40 });
      } finally {
        await a.close();
        await b.close();
      }
    },
  );

  it.skipIf(skip)(
    "views: each record's projection commits with it, later records win",
    async () => {
      const { opts } = await fresh();
      const memory = (key: string, value: number) => ({
        kind: 'memory_block' as const,
        tenant: 't',
        space: 'user' as const,
        payload: { owner: 'did:x:a', key, value },
      });
      const written = await withLog(opts, async (log) => {
        expect(await log.views.get('memory', 'did:x:a k1')).toBeUndefined();
        const [first, , last] = await log.appendMany([
          memory('k1', 1),
          memory('k2', 2),
          memory('k1', 3),
        ]);
        await log.append(draft(9));
        expect(await log.views.get('memory', 'did:x:a k1')).toEqual({
          owner: 'did:x:a',
          key: 'k1',
          record_id: last!.id,
          updated_at: last!.ts,
        });
        expect((await log.views.list('memory')).map((e) => [e.key, e.seq])).toEqual([
          ['did:x:a k1', last!.seq],
          ['did:x:a k2', first!.seq + 1],
        ]);
        expect(await log.checkViews()).toEqual([]);
        return last!;
      });
      await withLog(opts, async (log) => {
        expect((await log.views.list('memory'))[0]).toMatchObject({
          seq: written.seq,
          hash: written.hash,
        });
      });
    },
  );

  it.skipIf(skip)(
    'expect: an append commits only while the view row is the one expected (conflict otherwise)',
    async () => {
      const { opts } = await fresh();
      const memory = (value: number) => ({
        kind: 'memory_block' as const,
        tenant: 't',
        space: 'user' as const,
        payload: { owner: 'did:x:a', key: 'k', value },
      });
      await withLog(opts, async (log) => {
        const made = await log.append(memory(1));
        const at = { ns: 'memory', key: 'did:x:a k', seq: made.seq };
        // Two appends expecting the same row, issued together (one group-commit turn) with a
        // plain append: the first expectation wins, the second is refused, the plain one lands.
        const results = await Promise.allSettled([
          log.append(memory(2), { expect: [at] }),
          log.append(memory(3), { expect: [at] }),
          log.append(draft(1)),
        ]);
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
        const refused = (results[1] as PromiseRejectedResult).reason;
        expect(isSigilError(refused) && refused.code).toBe('conflict');
        const won = (results[0] as PromiseFulfilledResult<{ seq: number }>).value;
        expect((await log.views.list('memory')).map((e) => e.seq)).toEqual([won.seq]);
        // An absent row is never the one expected; nothing was written by the refusals.
        await rejectsWith(
          log.append(memory(4), { expect: [{ ns: 'memory', key: 'did:x:none', seq: 0 }] }),
          'conflict',
        );
        // seq -1 expects the row absent: it holds for a missing row, and not for a present one.
        await rejectsWith(log.append(memory(5), { expect: [{ ...at, seq: -1 }] }), 'conflict');
        expect(await log.size()).toBe(3);
        const absent = { kind: 'memory_block' as const, tenant: 't', space: 'user' as const };
        await log.append(
          { ...absent, payload: { owner: 'did:x:b', key: 'k', value: 6 } },
          { expect: [{ ns: 'memory', key: 'did:x:b k', seq: -1 }] },
        );
        expect(await log.size()).toBe(4);
        expect(await log.checkViews()).toEqual([]);
        expect(await log.validate()).toMatchObject({ ok: true });
      });
    },
  );

  it.skipIf(skip)('a wrong master key is master_key_invalid and changes nothing', async () => {
    const { opts } = await fresh();
    await withLog(opts, (log) => log.appendMany([draft(0), draft(1)]));
    const before = await withLog(opts, async (log) => ({
      size: await log.size(),
      checkpoints: await log.checkpoints(),
      records: (await log.list()).records,
    }));
    const wrongEnv = { SIGIL_MASTER_KEY: Buffer.alloc(32, 1).toString('base64') };
    await rejectsWith(CanonLog.open({ ...opts, env: wrongEnv }), 'master_key_invalid');
    await rejectsWith(CanonLog.open({ ...opts, env: {} }), 'master_key_invalid');
    const after = await withLog(opts, async (log) => ({
      size: await log.size(),
      checkpoints: await log.checkpoints(),
      records: (await log.list()).records,
    }));
    expect(after).toEqual(before);
  });

  it.skipIf(skip)('an instance whose log key differs from the store is refused', async () => {
    const { opts } = await fresh();
    const other = await fresh();
    copyFileSync(
      join(other.opts.dataDir, KEYS_DIR, 'log.key'),
      join(opts.dataDir, KEYS_DIR, 'log.key'),
    );
    await rejectsWith(CanonLog.open(opts), 'key_mismatch');
  });

  it.skipIf(skip)(
    'validate passes on a whole log, in-process and with worker threads',
    async () => {
      const { opts } = await fresh();
      await withLog(opts, async (log) => {
        await log.appendMany(Array.from({ length: 30 }, (_, i) => draft(i)));
        await log.checkpoint();
        await log.appendMany(Array.from({ length: 5 }, (_, i) => draft(30 + i)));
        expect(await log.validate({ workers: 0 })).toMatchObject({
          ok: true,
          count: 35,
          checkpoints: 1,
        });
        expect(await log.validate({ workers: 2, chunkSize: 8 })).toMatchObject({
          ok: true,
          count: 35,
        });
      });
    },
  );
});
