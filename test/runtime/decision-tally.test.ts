/**
 * The decision tally (`trust status` counts, the overview's per-minute counters) comes from the
 * log: every instance on a store, a restart and the CLI report the same numbers, whoever sealed
 * the decisions. The saved tally spares a restart the recount, and is used only when it is
 * authentic and the log still holds what it covers: an edited file, another log's file or a log
 * that no longer holds its last decision is discarded and the log counted again.
 */
import { createHmac } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalJson, type JsonValue } from '../../src/core/canonical.ts';
import { anonymousCaller } from '../../src/runtime/index.ts';
import { DecisionTally } from '../../src/runtime/services/decision-tally.ts';
import { pgUrl } from '../canon/helpers/pg.ts';
import { json, sigil } from '../cli/sigil-process.ts';
import { twoInstances, type Instances } from './instances.ts';

describe.each([
  { backend: 'sqlite' as const, skip: false },
  { backend: 'postgres' as const, skip: !pgUrl },
])('decision counts ($backend)', ({ backend, skip }) => {
  let env: Instances | undefined;
  afterEach(async () => {
    await env?.cleanup();
    env = undefined;
  });

  it.skipIf(skip)(
    'are the same on every instance, after a restart and from the CLI',
    async () => {
      env = await twoInstances(backend);
      const { a, b } = env;
      const rootA = await a.tokens.authenticate(env.rootToken);
      const rootB = await b.tokens.authenticate(env.rootToken);
      const guest = anonymousCaller();
      // 3 allowed and 2 denied on A, 4 allowed and 1 denied on B, besides the status reads.
      for (let i = 0; i < 3; i += 1)
        await a.check(guest, { action: 'canon.read', target: 'canon/records' });
      for (let i = 0; i < 2; i += 1)
        await a.check(guest, { action: 'token.create', target: 'tokens' });
      for (let i = 0; i < 4; i += 1)
        await b.check(rootB, { action: 'module.run', target: 'modules/echo' });
      await b.check(guest, { action: 'keys.rotate', target: 'keys' });

      const onA = await a.trustStatus(rootA);
      const onB = await b.trustStatus(rootB);
      // Each status read is a decision too: A's is counted by B's read, and each counts itself.
      expect(onA.decisions).toEqual({ allow: 8, deny: 3, by_mode: { active: 11 } });
      expect(onB.decisions).toEqual({ allow: 9, deny: 3, by_mode: { active: 12 } });

      const c = await env.reopen();
      const onC = await c.trustStatus(await c.tokens.authenticate(env.rootToken));
      expect(onC.decisions).toEqual({ allow: 10, deny: 3, by_mode: { active: 13 } });

      const cli = await sigil(['trust', 'status', '--json', '--data-dir', env.dataDir], {
        ...env.env,
        SIGIL_TOKEN: env.rootToken,
      });
      expect(cli.code, cli.stderr).toBe(0);
      expect(json<{ decisions: unknown }>(cli).decisions).toEqual({
        allow: 11,
        deny: 3,
        by_mode: { active: 14 },
      });
    },
    120_000,
  );

  it.skipIf(skip)(
    'count what this instance sealed without reading it back, and what another sealed between',
    async () => {
      env = await twoInstances(backend);
      const { a, b } = env;
      const rootA = await a.tokens.authenticate(env.rootToken);
      const guest = anonymousCaller();
      // The tally catches up with everything sealed before (the status read is a decision too).
      await a.trustStatus(rootA);
      // Every decision record A reads back from the store, by id.
      const read: string[] = [];
      const list = a.log.list.bind(a.log);
      a.log.list = async (opts = {}) => {
        const page = await list(opts);
        if (opts.kind === 'decision') read.push(...page.records.map((r) => r.id));
        return page;
      };
      const mine: string[] = [];
      const onA = async (request: { action: string; target: string }) =>
        mine.push((await a.check(guest, request)).decision_id);
      for (let i = 0; i < 3; i += 1) await onA({ action: 'canon.read', target: 'canon/records' });
      await onA({ action: 'token.create', target: 'tokens' });
      expect((await a.trustStatus(rootA)).decisions).toEqual({
        allow: 5,
        deny: 1,
        by_mode: { active: 6 },
      });
      expect(read).toEqual([]);
      // Another instance's decision between A's: read from the store, nothing counted twice.
      await onA({ action: 'canon.read', target: 'canon/records' });
      const theirs = await b.check(guest, { action: 'token.create', target: 'tokens' });
      await onA({ action: 'token.create', target: 'tokens' });
      expect((await a.trustStatus(rootA)).decisions).toEqual({
        allow: 7,
        deny: 3,
        by_mode: { active: 10 },
      });
      expect(read).toContain(theirs.decision_id);
      // And again only A's own: nothing read back.
      read.length = 0;
      await onA({ action: 'canon.read', target: 'canon/records' });
      expect((await a.trustStatus(rootA)).decisions).toMatchObject({ allow: 9, deny: 3 });
      expect(read.filter((id) => mine.includes(id))).toEqual([]);
    },
    120_000,
  );

  it.skipIf(skip)(
    'a restart reads the saved tally, and refuses an edited, foreign or outgrown one',
    async () => {
      env = await twoInstances(backend);
      const { a, b } = env;
      const guest = anonymousCaller();
      for (let i = 0; i < 3; i += 1)
        await a.check(guest, { action: 'canon.read', target: 'canon/records' });
      await b.check(guest, { action: 'token.create', target: 'tokens' });
      const file = join(env.dataDir, 'test-tally.json');
      const key = a.log.derivedKey('decision-tally/v1');
      const fresh = () => new DecisionTally({ file, key, logId: a.log.logId });
      const first = fresh();
      const truth = await first.totals(a.log);
      expect(truth).toMatchObject({ allow: 3, deny: 1 });
      await first.save(Date.now());
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, JsonValue> & {
        totals: { allow: number };
      };
      const rewrite = (edit: (s: typeof saved) => void, remac: boolean) => {
        const copy = structuredClone(saved);
        edit(copy);
        const { mac: _old, ...rest } = copy;
        const mac = remac
          ? createHmac('sha256', key).update(canonicalJson(rest)).digest('hex')
          : saved.mac;
        writeFileSync(file, JSON.stringify({ ...rest, mac }));
      };

      // An authentic saved tally is used as it is: the restart does not recount the log (a
      // count only the file holds shows), and it catches up from its cursor.
      rewrite((s) => (s.totals.allow += 1000), true);
      const used = fresh();
      expect((await used.totals(b.log)).allow).toBe(1003);
      await b.check(guest, { action: 'canon.read', target: 'canon/records' });
      expect((await used.totals(a.log)).allow).toBe(1004);

      // Edited without the key: discarded, counted from the log.
      rewrite((s) => (s.totals.allow += 1000), false);
      expect((await fresh().totals(a.log)).allow).toBe(4);
      // Another log's tally, even authentic: discarded.
      rewrite((s) => {
        s.totals.allow += 1000;
        s.log_id = 'another-log';
      }, true);
      expect((await fresh().totals(a.log)).allow).toBe(4);
      // A tally whose last decision the log does not hold with that hash (a rolled-back or
      // replaced log): discarded.
      rewrite((s) => {
        s.totals.allow += 1000;
        s.hash = '00'.repeat(32);
      }, true);
      expect((await fresh().totals(a.log)).allow).toBe(4);
      writeFileSync(file, '{not json');
      expect((await fresh().totals(a.log)).allow).toBe(4);

      // The runtime saves its own at close and a reopened one reads it.
      await a.trustStatus(await a.tokens.authenticate(env.rootToken));
      await a.close();
      const c = await env.reopen();
      expect(statSync(join(env.dataDir, 'decision-tally.json')).mode & 0o777).toBe(0o600);
      const onC = await c.trustStatus(await c.tokens.authenticate(env.rootToken));
      expect(onC.decisions).toMatchObject({ allow: 6, deny: 1 });
    },
    120_000,
  );
});
