/**
 * `trust status` counts decisions from the log: every instance on a store, a restart and the
 * CLI report the same numbers, whoever sealed the decisions.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { anonymousCaller } from '../../src/runtime/index.ts';
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
});
