/**
 * Sign-in throttles as one system (issue 17 item 5): two real `sigil serve` processes on one
 * PostgreSQL database share the per-token and per-address sign-in buckets (rows of
 * sigil_rate_buckets, like the decision limits), so an attacker spreading guesses over both gets
 * one instance's budget, not two. A throttle whose store fails refuses every sign-in, a real
 * token's included, and serves again once the store does.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../src/core/encoding.ts';
import { randomBytes } from '../../src/core/random.ts';
import { freshDatabase, pgUrl } from '../canon/helpers/pg.ts';
import { humanToken, signInFrom, startServer, type ServerProcess } from './helpers.ts';

/** The defaults of src/http/sessions.ts: per token 10 at once, then one per 10 s; per address 30, then 1/s. */
const TOKEN_BURST = 10;
const ADDRESS_BURST = 30;

const guess = () => `sgl_${toHex(randomBytes(24))}`;

describe.skipIf(!pgUrl)('sign-in throttles across two servers on one PostgreSQL', () => {
  let root: string;
  let dbUrl: string;
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'sigil-signin-pg-'));
    dbUrl = await freshDatabase();
    const config = join(root, 'mmf.toml');
    writeFileSync(config, `db_backend = "postgres"\ndatabase_url = "${dbUrl}"\n`);
    a = await startServer(join(root, 'data'), config);
    b = await startServer(join(root, 'data'), config);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('guesses of one token spread over both servers get one budget', async () => {
    const token = guess();
    const answers = await Promise.all(
      Array.from({ length: 4 * TOKEN_BURST }, (_, i) =>
        signInFrom((i % 2 === 0 ? a : b).url, token, '127.0.0.2'),
      ),
    );
    // Let through to the lookup (an unknown token: 401) only the token's burst, across both.
    const tried = answers.filter((r) => r.status !== 429);
    console.log(
      `[signin] one token, ${answers.length} sign-ins over 2 servers: ${tried.length} reached the lookup (one server's budget ${TOKEN_BURST})`,
    );
    expect(tried.map((r) => r.status)).toEqual(Array(TOKEN_BURST).fill(401));
    expect(answers.filter((r) => r.code === 'rate_limited')).toHaveLength(3 * TOKEN_BURST);
  }, 60_000);

  it('guesses of many tokens from one address spread over both servers get one budget', async () => {
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 3 * ADDRESS_BURST }, (_, i) =>
        signInFrom((i % 2 === 0 ? a : b).url, guess(), '127.0.0.3'),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const tried = answers.filter((r) => r.status !== 429).length;
    console.log(
      `[signin] one address, ${answers.length} sign-ins over 2 servers in ${seconds.toFixed(1)} s: ${tried} reached the lookup (one server's budget ${ADDRESS_BURST}, +1/s)`,
    );
    // The burst, and at most the refill (one a second) of the time the flood took.
    expect(tried).toBeGreaterThanOrEqual(ADDRESS_BURST);
    expect(tried).toBeLessThanOrEqual(ADDRESS_BURST + Math.ceil(seconds));
    // Another address has a bucket of its own.
    expect((await signInFrom(b.url, guess(), '127.0.0.4')).status).toBe(401);
  }, 60_000);

  it('a failing throttle store refuses every sign-in, then serves again', async () => {
    const token = await humanToken(a.url, a.rootToken!, 'did:sigil:signin-real', 'mentor');
    expect((await signInFrom(a.url, token, '127.0.0.5')).status).toBe(201);
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    try {
      // The table there, but unusable: every take fails until it is repaired.
      await client.query('ALTER TABLE sigil_rate_buckets RENAME COLUMN tokens TO broken');
      for (const s of [a, b]) {
        expect(await signInFrom(s.url, token, '127.0.0.5')).toEqual({
          status: 429,
          code: 'rate_limited',
        });
        // A fresh token and address are not let through unmetered either.
        expect((await signInFrom(s.url, guess(), '127.0.0.6')).status).toBe(429);
      }
      await client.query('ALTER TABLE sigil_rate_buckets RENAME COLUMN broken TO tokens');
      expect((await signInFrom(b.url, token, '127.0.0.5')).status).toBe(201);
    } finally {
      await client.end();
    }
  }, 60_000);
});
