/**
 * The SQLite writer thread (store/sqlite-writer.ts): batches sealed ahead commit there, and a
 * writer that dies never costs a durable record nor acknowledges one that is not: a write in
 * flight fails, the records its answer would have acknowledged are refused (their retry finds
 * the ids taken if the write did commit), the write lock it held is released, and later appends
 * commit on the log's own connection. The chain stays whole and validates.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CanonLog } from '../../src/canon/log.ts';
import { SQLITE_FILE } from '../../src/canon/store/index.ts';
import { SqliteStore } from '../../src/canon/store/sqlite.ts';
import { draft, withNewLog } from './helpers/log.ts';

/** `n` appends from 64 concurrent appenders; each outcome (seq or error code) by draft index. */
async function concurrently(log: CanonLog, from: number, n: number) {
  let next = from;
  const out = new Map<number, number | string>();
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < from + n) {
        const i = next++;
        try {
          out.set(i, (await log.append(draft(i))).seq);
        } catch (err) {
          out.set(i, (err as { code?: string }).code ?? String(err));
        }
      }
    }),
  );
  return out;
}

/** The writer threads started from now on, as they are handed a batch. */
function watchWriters(): { writers: Set<Worker>; onWrite: (fn: (w: Worker) => boolean) => void } {
  const writers = new Set<Worker>();
  let hook: ((w: Worker) => boolean) | undefined;
  const post = Worker.prototype.postMessage;
  vi.spyOn(Worker.prototype, 'postMessage').mockImplementation(function (
    this: Worker,
    message: unknown,
    transfer?: unknown,
  ) {
    const m = message as { rows?: unknown };
    if (m !== null && typeof m === 'object' && 'rows' in m) {
      writers.add(this);
      // The hook may keep the batch from the writer (it then never commits).
      if (hook?.(this) === false) return;
    }
    return post.call(this, message, transfer as never);
  });
  return { writers, onWrite: (fn) => (hook = fn) };
}

/** Appends until the writer thread has committed a batch (it starts in the background); returns the count. */
async function warm(log: CanonLog, writers: Set<Worker>): Promise<number> {
  let n = 0;
  while (writers.size === 0 || n < 200) {
    await concurrently(log, n, 100);
    n += 100;
  }
  return n;
}

function storedIds(dataDir: string): Set<string> {
  const db = new Database(join(dataDir, SQLITE_FILE), { readonly: true });
  try {
    return new Set(db.prepare('SELECT id FROM records').pluck().all() as string[]);
  } finally {
    db.close();
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the SQLite writer thread', () => {
  it('commits the batches sealed ahead and the checkpoints, off the log thread', async () => {
    const sealed = vi.spyOn(SqliteStore.prototype, 'appendSealed');
    const { writers } = watchWriters();
    await withNewLog('sqlite', async (log) => {
      const warmed = await warm(log, writers);
      const committed = await Promise.all(sealed.mock.results.map((r) => r.value));
      expect(committed.filter((rows) => rows !== undefined).length).toBeGreaterThan(0);
      // Checkpoints are stored through the writer too, in turn with the appends.
      const [note] = await Promise.all([log.checkpoint(), concurrently(log, warmed, 100)]);
      expect(await log.checkpoints()).toContainEqual(expect.objectContaining({ note }));
      expect(await log.validate()).toMatchObject({ ok: true, count: warmed + 100 });
    });
  });

  it('batches go to the writer behind one in flight; behind one that fails, none commits out of turn', async () => {
    const { writers, onWrite } = watchWriters();
    await withNewLog('sqlite', async (log) => {
      const warmed = await warm(log, writers);
      const [writer] = writers;
      let handed = 0;
      let answered = 0;
      let deepest = 0;
      writer!.on('message', () => (answered += 1));
      onWrite(() => {
        handed += 1;
        deepest = Math.max(deepest, handed - answered);
        return true;
      });
      const block = (key: string, value: number) => ({
        kind: 'memory_block' as const,
        tenant: 'tenant-a',
        space: 'user' as const,
        payload: { owner: 'did:x:a', key, value },
      });
      const taken = await log.append(block('k', 0));
      // Batches that fail in the writer (the row moved), each with others handed behind it.
      const stale = { expect: [{ ns: 'memory', key: 'did:x:a k', seq: -1 }] };
      const [out, ...conflicts] = await Promise.all([
        concurrently(log, warmed, 600),
        ...Array.from({ length: 8 }, (_, i) =>
          log.appendMany([block('k', i + 1), block(`j${i}`, i)], stale).then(
            () => 'committed',
            (err: { code?: string }) => err.code,
          ),
        ),
      ]);
      expect(deepest).toBeGreaterThan(1);
      expect(conflicts).toEqual(Array.from({ length: 8 }, () => 'conflict'));
      expect([...out.values()].every((v) => typeof v === 'number')).toBe(true);
      const seqs = [...out.values()] as number[];
      expect(new Set(seqs).size).toBe(600);
      expect(await log.size()).toBe(warmed + 601);
      expect((await log.views.entry('memory', 'did:x:a k'))?.seq).toBe(taken.seq);
      expect(await log.validate()).toMatchObject({ ok: true, count: warmed + 601 });
      expect(await log.checkViews()).toEqual([]);
    });
  });

  it('a batch lost with its writer is retried on the log connection, each once', async () => {
    const { writers, onWrite } = watchWriters();
    await withNewLog('sqlite', async (log, opts) => {
      const warmed = await warm(log, writers);
      expect(writers.size).toBe(1);
      // The next batch never reaches the thread, which then dies.
      let killed = false;
      onWrite((w) => {
        if (killed) return true;
        killed = true;
        void w.terminate();
        return false;
      });
      const out = await concurrently(log, warmed, 300);
      expect(killed).toBe(true);
      const ids = storedIds(opts.dataDir);
      // Every acknowledged append is stored, once; none was lost (each was retried alone).
      const page = await log.list({ limit: 1000 });
      expect(new Set(page.records.map((r) => r.id)).size).toBe(page.records.length);
      expect(ids.size).toBe(await log.size());
      expect([...out.values()].every((v) => typeof v === 'number')).toBe(true);
      expect(await log.size()).toBe(warmed + 300);
      expect(await log.checkpoint()).toBe(await log.latestCheckpoint());
      expect(await log.validate()).toMatchObject({ ok: true, count: warmed + 300 });
    });
  });

  it('a write that committed but whose answer died with the writer is not acknowledged', async () => {
    const { writers, onWrite } = watchWriters();
    await withNewLog('sqlite', async (log, opts) => {
      const warmed = await warm(log, writers);
      let victim: Worker | undefined;
      onWrite((w) => {
        if (victim !== undefined) return true;
        victim = w;
        // The thread gets the batch and commits it, but its answer is never heard.
        w.removeAllListeners('message');
        const wait = setInterval(() => {
          if (storedIds(opts.dataDir).size > warmed) {
            clearInterval(wait);
            void w.terminate();
          }
        }, 2);
        return true;
      });
      const many = Array.from({ length: 50 }, (_, i) => draft(1000 + i));
      await expect(log.appendMany(many)).rejects.toMatchObject({ code: 'store_error' });
      // It did commit: the records are in the log, the chain is whole, and appends go on.
      expect(victim).toBeDefined();
      expect(await log.size()).toBe(warmed + 50);
      const after = await concurrently(log, 2000, 100);
      expect([...after.values()].every((v) => typeof v === 'number')).toBe(true);
      expect(await log.validate()).toMatchObject({ ok: true, count: warmed + 150 });
    });
  });

  it('a writer killed inside its transaction releases the write lock; nothing half-written', async () => {
    const { writers, onWrite } = watchWriters();
    await withNewLog('sqlite', async (log) => {
      const warmed = await warm(log, writers);
      let victim: Worker | undefined;
      onWrite((w) => {
        victim ??= w;
        if (victim === w) setTimeout(() => void w.terminate(), 5);
        return true;
      });
      const many = Array.from({ length: 3000 }, (_, i) => draft(10_000 + i));
      const outcome = await log.appendMany(many).then(
        (records) => records.length,
        (err: { code?: string }) => err.code,
      );
      const size = await log.size();
      // All or nothing, and acknowledged only if it committed.
      expect(victim).toBeDefined();
      expect([warmed, warmed + 3000]).toContain(size);
      if (outcome === 3000) expect(size).toBe(warmed + 3000);
      else expect(outcome).toBe('store_error');
      const started = performance.now();
      await log.append(draft(99_999));
      // Not the 10 s busy timeout behind a lock nobody will release.
      expect(performance.now() - started).toBeLessThan(5000);
      expect(await log.validate()).toMatchObject({ ok: true, count: size + 1 });
    });
  });
});
