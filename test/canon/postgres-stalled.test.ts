/**
 * A writer that stops holding a lock (a frozen process, a partitioned host: its connection stays
 * open, it sends nothing) must not stop the other instances on the database for longer than a
 * bound: inside its commit transaction it holds the head, outside it its append ticket.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CanonLog } from '../../src/canon/log.ts';
import { draft, storeOptions } from './helpers/log.ts';
import { pgUrl } from './helpers/pg.ts';
import { cutProxy, type CutProxy } from './helpers/pg-cut.ts';

/** The stalled writer's commit transaction: it takes the head's lock. */
const takesHead = (sql: string) => sql.includes('FROM sigil_head WHERE one = 1 FOR UPDATE');

describe('postgres: a writer stopped holding a lock', () => {
  let proxy: CutProxy | undefined;
  const logs: CanonLog[] = [];
  afterEach(async () => {
    for (const log of logs.splice(0)) await log.close();
    await proxy?.close();
    proxy = undefined;
  });

  /** Two instances on one database; the first reaches it through the proxy. */
  async function twoInstances(): Promise<{ stalled: CanonLog; other: CanonLog; proxy: CutProxy }> {
    const opts = await storeOptions('postgres');
    await CanonLog.init(opts);
    proxy = await cutProxy(opts.databaseUrl!);
    const stalled = await CanonLog.open({ ...opts, databaseUrl: proxy.url });
    logs.push(stalled);
    const other = await CanonLog.open(opts);
    logs.push(other);
    // Both have their tables and tail ready, so the next appends reserve tickets.
    await stalled.append(draft(1));
    await other.append(draft(2));
    return { stalled, other, proxy };
  }

  it.skipIf(!pgUrl)(
    'inside its commit: the server ends its session after the idle timeout, and the others append',
    { timeout: 40_000 },
    async () => {
      // Sigil's default (10 s), not one the URL sets: it is what a deployment gets.
      const { stalled, other, proxy } = await twoInstances();
      const stall = proxy.stallNext((sql) => sql.startsWith('COMMIT'));
      const stalledAppend = stalled.append(draft(3)).then(
        (r) => ({ ok: true as const, seq: r.seq }),
        (err: unknown) => ({ ok: false as const, err }),
      );
      await stall.held;
      // The stalled writer holds the head now: the other's append waits for the server to end it.
      const started = performance.now();
      const record = await other.append(draft(4));
      const waited = performance.now() - started;
      expect(waited).toBeGreaterThan(5_000);
      expect(waited).toBeLessThan(25_000);
      expect(record.seq).toBe(2);
      // Its COMMIT never ran: the append is refused, and nothing of it is in the log.
      const outcome = await stalledAppend;
      expect(outcome.ok).toBe(false);
      expect(outcome.ok ? undefined : outcome.err).toMatchObject({ code: 'store_error' });
      stall.release();
      expect(await other.size()).toBe(3);
      expect(await other.validate()).toMatchObject({ ok: true, count: 3 });
      // The stalled instance writes again on a new connection.
      expect((await stalled.append(draft(5))).seq).toBe(3);
      expect(await stalled.validate()).toMatchObject({ ok: true, count: 4 });
    },
  );

  it.skipIf(!pgUrl)(
    'holding its ticket: the batch after it goes on to the head, and it commits after',
    { timeout: 30_000 },
    async () => {
      const { stalled, other, proxy } = await twoInstances();
      // Stopped after reserving its ticket, before its commit transaction starts: the session
      // is idle, outside any transaction, holding the ticket the other's batch waits for.
      const stall = proxy.stallNext(takesHead);
      const stalledAppend = stalled.append(draft(3));
      await stall.held;
      const started = performance.now();
      const record = await other.append(draft(4));
      expect(performance.now() - started).toBeLessThan(15_000);
      expect(record.seq).toBe(2);
      // Woken, the stalled writer finds the head moved, seals its batch again onto it, commits.
      stall.release();
      const late = await stalledAppend;
      expect(late.seq).toBe(3);
      expect(late.prev).toBe(record.hash);
      expect(await other.validate()).toMatchObject({ ok: true, count: 4 });
      expect((await other.append(draft(5))).seq).toBe(4);
      expect((await stalled.append(draft(6))).seq).toBe(5);
      expect(await stalled.validate()).toMatchObject({ ok: true, count: 6 });
    },
  );
});
