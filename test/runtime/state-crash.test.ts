/**
 * Crash safety of the views: a child process creates and revokes tokens, grants and revokes
 * consent, enrols witnesses and decides approvals, and is killed with SIGKILL at a random
 * moment, SIGIL_CRASH_RUNS times (default 20) per backend over one data dir. After each kill the
 * log validates, every view row equals the projection of the log, and every write the child saw
 * resolve is in the views (a revocation it saw stays revoked).
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { SigilRuntime } from '../../src/runtime/index.ts';
import { runUntilKilled } from '../canon/helpers/kill.ts';
import { BACKENDS, tempDir } from '../canon/helpers/log.ts';
import { freshDatabase } from '../canon/helpers/pg.ts';

const CHILD = fileURLToPath(new URL('./helpers/state-writer-child.ts', import.meta.url));
const RUNS = Number(process.env.SIGIL_CRASH_RUNS ?? 20);

/** Runs the child until `killAfterMs` after it is ready, kills it, and returns its acked lines. */
async function writeThenKill(
  dataDir: string,
  env: NodeJS.ProcessEnv,
  rootToken: string,
  killAfterMs: number,
): Promise<string[][]> {
  const lines = await runUntilKilled(CHILD, [dataDir, rootToken, '2'], killAfterMs, env);
  return lines.map((l) => l.split(' '));
}

/** Every acknowledged write must be in the views, with what the child saw last. */
async function expectAcked(runtime: SigilRuntime, acked: string[][], round: number): Promise<void> {
  const views = runtime.log.views;
  const field = async (ns: string, key: string) =>
    (await views.get(ns, key)) as Record<string, unknown> | undefined;
  for (const [what, id, token] of acked) {
    const at = `round ${round}: ${what} ${id}`;
    switch (what) {
      case 'token':
        expect(await field('tokens', sha256Hex(token!)), at).toMatchObject({ id });
        break;
      case 'token-revoked':
        expect((await field('tokens', sha256Hex(token!)))?.revokedAt, at).not.toBeNull();
        break;
      case 'consent':
        expect(await field('consent', id!), at).toBeDefined();
        break;
      case 'consent-revoked': {
        const pair = (await field('consent', id!)) as { grant: { revokedAt: string | null } };
        expect(pair.grant.revokedAt, at).not.toBeNull();
        break;
      }
      case 'witness':
        expect(await field('witnesses', id!), at).toMatchObject({ witness_id: id });
        break;
      case 'approval':
        expect(await field('approvals', id!), at).toBeDefined();
        break;
      case 'approval-approved':
        expect(await field('approvals', id!), at).toMatchObject({ status: 'approved' });
        break;
      default:
        throw new Error(`unexpected line from the child: ${[what, id].join(' ')}`);
    }
  }
}

describe.each(BACKENDS)('kill -9 while writing state on $name', ({ name, skip }) => {
  it.skipIf(skip)(
    'views always equal the projection of the log and keep every acknowledged write',
    { timeout: 600_000 },
    async () => {
      const dataDir = tempDir('sigil-state-crash-');
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        SIGIL_MASTER_KEY: randomBytes(32).toString('base64'),
        ...(name === 'postgres' && {
          MMF_DB_BACKEND: 'postgres',
          MMF_DATABASE_URL: await freshDatabase(),
        }),
      };
      const config = loadConfig({ env, dataDir });
      const boot = await SigilRuntime.bootstrap({ config, env });
      await boot.runtime.close();
      let writes = 0;
      for (let round = 0; round < RUNS; round++) {
        const acked = await writeThenKill(
          dataDir,
          env,
          boot.rootToken!,
          20 + Math.floor(Math.random() * 400),
        );
        writes += acked.length;
        const runtime = await SigilRuntime.open({ config, env });
        try {
          expect(await runtime.log.validate(), `round ${round}`).toMatchObject({ ok: true });
          expect(await runtime.log.checkViews(), `round ${round}`).toEqual([]);
          await expectAcked(runtime, acked, round);
        } finally {
          await runtime.close();
        }
      }
      expect(writes).toBeGreaterThan(0);
    },
  );
});
