/**
 * The database ends connections under a running instance (a restart, an admin's
 * pg_terminate_backend): the instance must fail the requests in flight, never crash on the
 * pooled clients' 'error' events, and write again once the database answers.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { CanonLog } from '../../src/canon/log.ts';
import { draft, storeOptions } from './helpers/log.ts';
import { pgUrl } from './helpers/pg.ts';
import { cutProxy, type CutProxy } from './helpers/pg-cut.ts';

const KILL_ROUNDS = 40;

const uncaught: unknown[] = [];
const onUncaught = (err: unknown) => uncaught.push(err);

afterEach(() => {
  process.off('uncaughtException', onUncaught);
});

/** Ends every other connection to the store's database. */
async function terminateOthers(admin: pg.Client): Promise<void> {
  await admin.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid()`,
  );
}

describe('postgres connections ended under the instance', () => {
  it.skipIf(!pgUrl)(
    'fails what was in flight, does not crash, and appends again after',
    { timeout: 60_000 },
    async () => {
      process.on('uncaughtException', onUncaught);
      const opts = await storeOptions('postgres');
      await CanonLog.init(opts);
      const log = await CanonLog.open(opts);
      const admin = new pg.Client({ connectionString: opts.databaseUrl });
      await admin.connect();
      try {
        let acknowledged = 0;
        let refused = 0;
        let i = 0;
        const writers = Array.from({ length: 8 }, async () => {
          for (let round = 0; round < KILL_ROUNDS; round += 1) {
            try {
              await log.append(draft((i += 1)));
              acknowledged += 1;
            } catch {
              refused += 1;
            }
            // Reads and bucket takes go through the pool's query path, not a transaction.
            await log.size().catch(() => {});
            await log.rateBuckets?.take(`k${round % 4}`, 1000, 1000).catch(() => {});
          }
        });
        const killer = (async () => {
          for (let round = 0; round < KILL_ROUNDS; round += 1) {
            await terminateOthers(admin);
            await new Promise((resolve) => setTimeout(resolve, 15));
          }
        })();
        await Promise.all([...writers, killer]);
        // Connections ended while idle in the pool emit their error after the last query.
        await new Promise((resolve) => setTimeout(resolve, 200));

        expect(uncaught).toEqual([]);
        expect(refused).toBeGreaterThan(0);
        const record = await log.append(draft(100_000));
        const size = await log.size();
        expect(size).toBe(acknowledged + 1);
        expect(record.seq).toBe(size - 1);
        expect(await log.validate()).toMatchObject({ ok: true, count: size });
      } finally {
        await admin.end();
        await log.close();
      }
    },
  );

  describe('at the commit', () => {
    let proxy: CutProxy | undefined;
    let log: CanonLog | undefined;
    afterEach(async () => {
      await log?.close();
      await proxy?.close();
      log = proxy = undefined;
    });

    /** A log whose every connection runs through a proxy that can cut it at a COMMIT. */
    async function cutLog(): Promise<{ log: CanonLog; proxy: CutProxy }> {
      const opts = await storeOptions('postgres');
      await CanonLog.init(opts);
      proxy = await cutProxy(opts.databaseUrl!);
      log = await CanonLog.open({ ...opts, databaseUrl: proxy.url });
      await log.append(draft(1));
      return { log, proxy };
    }

    it.skipIf(!pgUrl)(
      'acknowledges an append whose commit landed though its answer was lost',
      async () => {
        const { log, proxy } = await cutLog();
        const cut = proxy.cutNextCommit('after-commit');
        const record = await log.append(draft(2));
        await cut;
        expect(record.seq).toBe(1);
        expect(await log.size()).toBe(2);
        expect((await log.get(record.id))?.payload).toEqual(draft(2).payload);
        expect((await log.append(draft(3))).seq).toBe(2);
        expect(await log.validate()).toMatchObject({ ok: true, count: 3 });
      },
    );

    it.skipIf(!pgUrl)('refuses an append whose commit never reached the server', async () => {
      const { log, proxy } = await cutLog();
      const cut = proxy.cutNextCommit('before-commit');
      await expect(log.append(draft(2))).rejects.toMatchObject({ code: 'store_error' });
      await cut;
      expect(await log.size()).toBe(1);
      expect((await log.append(draft(3))).seq).toBe(1);
      expect(await log.validate()).toMatchObject({ ok: true, count: 2 });
    });
  });
});
