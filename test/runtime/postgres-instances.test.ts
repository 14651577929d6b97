/**
 * Scale-out: two runtimes (as two Sigil instances would be) on one PostgreSQL database and one
 * keys directory. A token minted on one authenticates on the other, a revocation on one is seen
 * by the other at once, and their decisions form one chain that validates.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { SigilRuntime } from '../../src/runtime/index.ts';
import { freshDatabase, pgUrl } from '../canon/helpers/pg.ts';

describe('several runtimes on one PostgreSQL database', () => {
  it.skipIf(!pgUrl)('share tokens, revocations and one decision chain', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sigil-pg-rt-'));
    const env = {
      PATH: process.env.PATH,
      SIGIL_MASTER_KEY: randomBytes(32).toString('base64'),
      MMF_DB_BACKEND: 'postgres',
      MMF_DATABASE_URL: await freshDatabase(),
    };
    const config = loadConfig({ env, dataDir });
    const boot = await SigilRuntime.bootstrap({ config, env });
    const a = boot.runtime;
    const b = await SigilRuntime.open({ config, env });
    try {
      const rootOnB = await b.tokens.authenticate(boot.rootToken);
      const { token, info } = await b.tokens.create(rootOnB, {
        subject: 'did:sigil:shared',
        loa: 'operator',
        signer: { type: 'human' },
      });
      const onA = await a.tokens.authenticate(token);
      expect(onA).toMatchObject({ subject: 'did:sigil:shared', loa: 'operator' });

      const checks = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 === 0 ? a : b).check(onA, { action: 'module.run', target: `modules/echo/${i}` }),
        ),
      );
      expect(new Set(checks.map((d) => d.seq)).size).toBe(40);

      await a.tokens.revoke(await a.tokens.authenticate(boot.rootToken), info.id);
      const revoked = await b.tokens.authenticate(token).then(
        () => 'accepted',
        (err: unknown) => (isSigilError(err) ? err.code : 'error'),
      );
      expect(revoked).toBe('token_invalid');

      expect(await b.log.validate()).toMatchObject({ ok: true, count: await a.log.size() });
    } finally {
      await b.close();
      await a.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
