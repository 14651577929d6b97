/**
 * `sigil generate-license`, and the runtime's fallback to the default LOA, with a distinct
 * reason, for every kind of bad license (through `whoami` and bare `sigil`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initDataDir, json, sigil, tempRoot } from './sigil-process.ts';

let tmp: ReturnType<typeof tempRoot>;
let dataDir: string;
let licensePath: string;

beforeAll(async () => {
  tmp = tempRoot();
  dataDir = join(tmp.root, 'data');
  const { init } = await initDataDir(dataDir);
  licensePath = String(init.license_path);
});
afterAll(() => tmp.remove());

const generate = (...args: string[]) => sigil(['generate-license', '--data-dir', dataDir, ...args]);

describe('sigil generate-license', () => {
  it('mints a Mentor license that whoami accepts; refuses a second Root and bad input', async () => {
    const out = join(tmp.root, 'mentor.json');
    const [mentor, stdout, root, badDate, badKey, past] = await Promise.all([
      generate(
        '--subject',
        'did:example:m1',
        '--loa',
        'mentor',
        '--expires',
        '2099-12-31',
        '--output',
        out,
        '--json',
      ),
      generate('--subject', 'did:example:o1', '--loa', 'observer', '--expires', '365d'),
      generate('--subject', 'did:example:r2', '--loa', 'root', '--expires', '2099-12-31'),
      generate('--subject', 'did:example:m2', '--loa', 'mentor', '--expires', 'tomorrowish'),
      generate(
        '--subject',
        'did:example:m2',
        '--loa',
        'mentor',
        '--expires',
        'never',
        '--key-id',
        'alice',
      ),
      generate('--subject', 'did:example:m2', '--loa', 'mentor', '--expires', '2001-01-01'),
    ]);
    expect(mentor.code, mentor.stderr).toBe(0);
    const written = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
    expect(json(mentor)).toEqual({ license: written, output: out });
    expect(written).toMatchObject({
      owner: { id: 'did:example:m1' },
      loa: 'mentor',
      expiresAt: '2099-12-31T00:00:00.000Z',
      bindings: { runtimeId: expect.any(String), canonFingerprint: expect.any(String) },
      seal: { alg: 'ed25519' },
    });
    expect(stdout.code, stdout.stderr).toBe(0);
    expect(JSON.parse(stdout.stdout)).toMatchObject({
      loa: 'observer',
      owner: { id: 'did:example:o1' },
    });

    expect(root.code).toBe(1);
    expect(root.stderr).toMatch(/^sigil: single_root_violation: /);
    for (const bad of [badDate, badKey, past]) expect(bad.code, bad.stderr).toBe(2);
    expect(past.stderr).toMatch(/in the past/);

    const who = await sigil(['whoami', '--data-dir', dataDir, '--license', out, '--json']);
    expect(who.code, who.stderr).toBe(0);
    expect(json(who)).toMatchObject({
      subject: 'did:example:m1',
      loa: 'mentor',
      signer: { type: 'human' },
      expires_at: '2099-12-31T00:00:00.000Z',
      source: 'license',
      from: { loa: `license ${out}` },
    });
  });
});

describe('a bad license leaves the runtime at the default LOA, saying why', () => {
  it('tampered, wrong key, foreign fingerprint, expired and missing each have their reason', async () => {
    const good = JSON.parse(readFileSync(licensePath, 'utf8')) as Record<string, unknown>;
    const tampered = tmp.file(
      'tampered.json',
      JSON.stringify({ ...good, owner: { id: 'did:example:mallory', name: 'Root' } }),
    );
    const otherDir = join(tmp.root, 'other');
    const expiring = join(tmp.root, 'expiring.json');
    const [, minted] = await Promise.all([
      initDataDir(otherDir),
      generate(
        '--subject',
        'did:example:m9',
        '--loa',
        'mentor',
        '--expires',
        '1s',
        '--output',
        expiring,
      ),
    ]);
    expect(minted.code, minted.stderr).toBe(0);
    const mintedAt = Date.now();
    await new Promise((r) => setTimeout(r, Math.max(0, 1200 - (Date.now() - mintedAt))));

    const whoami = (env: NodeJS.ProcessEnv, ...args: string[]) =>
      sigil(['whoami', '--data-dir', dataDir, '--json', ...args], env);
    const [tamperedRun, guestDefault, wrongKey, foreign, expiredBare, missingBare, missingDenied] =
      await Promise.all([
        whoami({ MMF_LICENSE_PATH: tampered }),
        whoami({ MMF_LICENSE_PATH: tampered, MMF_TRUST_DEFAULT_LOA: 'Guest' }),
        whoami({}, '--license', join(otherDir, 'license.json')),
        whoami({ MMF_LICENSE_SECRET: 'a-different-deployment-secret' }),
        sigil(['--data-dir', dataDir, '--json'], { MMF_LICENSE_PATH: expiring }),
        sigil(['--data-dir', dataDir], { MMF_LICENSE_PATH: join(tmp.root, 'absent.json') }),
        sigil(
          [
            'token',
            'create',
            '--data-dir',
            dataDir,
            '--subject',
            'did:example:z',
            '--loa',
            'guest',
            '--signer',
            'human',
          ],
          { MMF_LICENSE_PATH: join(tmp.root, 'absent.json') },
        ),
      ]);

    const fallback = { subject: null, source: 'default', expires_at: null };
    expect(tamperedRun.code).toBe(0);
    expect(json(tamperedRun)).toMatchObject({
      ...fallback,
      loa: 'observer',
      reason: 'license_tampered',
    });
    expect(json(guestDefault)).toMatchObject({
      ...fallback,
      loa: 'guest',
      reason: 'license_tampered',
    });
    expect(wrongKey.code).toBe(1);
    expect(json(wrongKey)).toMatchObject({
      ...fallback,
      loa: 'observer',
      reason: 'license_wrong_key',
    });
    expect(json(foreign)).toMatchObject({
      ...fallback,
      loa: 'observer',
      reason: 'license_foreign_fingerprint',
    });
    expect(String((json(foreign).from as { loa: string }).loa)).toMatch(/MMF_TRUST_DEFAULT_LOA/);

    expect(expiredBare.code).toBe(0);
    expect(json(expiredBare)).toMatchObject({
      initialised: true,
      loa: 'observer',
      license: { valid: false, source: 'default', reason: 'license_expired' },
    });
    expect(missingBare.code).toBe(0);
    expect(missingBare.stdout).toMatch(/^license: +not valid: license_missing$/m);
    expect(missingBare.stdout).toMatch(
      /^LOA: +observer \(MMF_TRUST_DEFAULT_LOA, because .*license_missing\)$/m,
    );
    expect(missingDenied.code).toBe(1);
    expect(missingDenied.stderr).toMatch(/^sigil: loa_insufficient: /);
  });
});
