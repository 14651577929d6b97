/**
 * Rate limits as one system: two runtimes (two Sigil instances) on one PostgreSQL database share
 * each caller's token bucket, so together they allow the burst once, not twice; a shared limiter
 * that fails denies (fail closed), and a new caller is not let through unmetered meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/index.ts';
import { SigilRuntime } from '../../src/runtime/index.ts';
import type { Caller } from '../../src/runtime/decide.ts';
import { freshDatabase, pgUrl } from '../canon/helpers/pg.ts';

const BURST = 7;

describe.skipIf(!pgUrl)('rate limits across runtimes on one PostgreSQL database', () => {
  let dataDir: string;
  let dbUrl: string;
  let a: SigilRuntime;
  let b: SigilRuntime;
  let rootToken: string;

  /** A new operator on runtime b, authenticated on a. */
  async function operator(subject: string): Promise<Caller> {
    const root = await b.tokens.authenticate(rootToken);
    const { token } = await b.tokens.create(root, {
      subject,
      loa: 'operator',
      signer: { type: 'human' },
    });
    return a.tokens.authenticate(token);
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sigil-pg-rl-'));
    dbUrl = await freshDatabase();
    const env = {
      PATH: process.env.PATH,
      SIGIL_MASTER_KEY: randomBytes(32).toString('base64'),
      MMF_DB_BACKEND: 'postgres',
      MMF_DATABASE_URL: dbUrl,
    };
    const loaded = loadConfig({ env, dataDir });
    // A refill so slow (one token per 1000 s) that none arrives during the test.
    const config: Config = {
      ...loaded,
      rateLimit: {
        ...loaded.rateLimit,
        perLoa: { ...loaded.rateLimit.perLoa, operator: { rate: 0.001, burst: BURST } },
      },
    };
    const boot = await SigilRuntime.bootstrap({ config, env });
    a = boot.runtime;
    if (boot.rootToken === undefined) throw new Error('bootstrap gave no root token');
    rootToken = boot.rootToken;
    b = await SigilRuntime.open({ config, env });
  });

  afterAll(async () => {
    await b?.close();
    await a?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('allow one caller exactly its burst across both instances', async () => {
    const caller = await operator('did:sigil:burst');
    const checks = await Promise.all(
      Array.from({ length: 4 * BURST }, (_, i) =>
        (i % 2 === 0 ? a : b).check(caller, { action: 'module.run', target: `modules/echo/${i}` }),
      ),
    );
    const limited = checks.filter((d) => d.code === 'rate_limited');
    expect(checks.length - limited.length).toBe(BURST);
    expect(limited).toHaveLength(3 * BURST);
    for (const d of limited) {
      expect(d.verdict).toBe('deny');
      expect(d.retry_after_ms).toBeGreaterThan(0);
    }
    // Each instance alone would have allowed BURST: the sum shows one bucket, not two.
    const passedOn = (rt: SigilRuntime) =>
      checks.filter((d, i) => (i % 2 === 0) === (rt === a) && d.code !== 'rate_limited').length;
    expect(passedOn(a) + passedOn(b)).toBe(BURST);
    // Another caller has a bucket of its own.
    const other = await operator('did:sigil:other');
    expect(
      (await b.check(other, { action: 'module.run', target: 'modules/echo/x' })).code,
    ).not.toBe('rate_limited');
  });

  it('refill by the database clock, not the instances’ clocks', async () => {
    const caller = await operator('did:sigil:clock');
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    try {
      // Spend the bucket, then move its last take an hour back, as if time had passed:
      // 3600 s × 0.001 tokens/s = 3.6 tokens.
      for (let i = 0; i < BURST; i++)
        await a.check(caller, { action: 'module.run', target: `modules/echo/c${i}` });
      expect((await b.check(caller, { action: 'module.run', target: 'm/x' })).code).toBe(
        'rate_limited',
      );
      await client.query("UPDATE sigil_rate_buckets SET at = at - interval '1 hour' WHERE k = $1", [
        `subject:${caller.subject}`,
      ]);
      const after = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          (i % 2 === 0 ? a : b).check(caller, { action: 'module.run', target: `m/r${i}` }),
        ),
      );
      expect(after.filter((d) => d.code !== 'rate_limited')).toHaveLength(3);
    } finally {
      await client.end();
    }
  });

  it('deny when the shared limiter fails, for known and new callers alike', async () => {
    const known = await operator('did:sigil:known');
    const fresh = await operator('did:sigil:fresh');
    expect((await a.check(known, { action: 'module.run', target: 'm/1' })).code).not.toBe(
      'rate_limited',
    );
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    try {
      // Break the limiter (the table gone) while the log itself stays writable.
      await client.query('DROP TABLE sigil_rate_buckets');
      const denied = await a.check(known, { action: 'module.run', target: 'm/2' });
      expect(denied).toMatchObject({ verdict: 'deny', code: 'rate_limited' });
      const deniedNew = await b.check(fresh, { action: 'module.run', target: 'm/3' });
      expect(deniedNew).toMatchObject({ verdict: 'deny', code: 'rate_limited' });
      // The denial is sealed like any decision, and the limiter recovers: the next take
      // creates the table again (every bucket starts full).
      expect((await a.log.get(denied.decision_id))?.kind).toBe('decision');
      expect((await a.check(known, { action: 'module.run', target: 'm/4' })).code).not.toBe(
        'rate_limited',
      );
    } finally {
      await client.end();
    }
  });
});
