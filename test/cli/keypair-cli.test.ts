/** `sigil generate-key`, `sign` and `verify` end to end: the real CLI as child processes. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initDataDir, json, sigil, tempRoot } from './sigil-process.ts';

let tmp: ReturnType<typeof tempRoot>;
let dataDir: string;

beforeAll(async () => {
  tmp = tempRoot();
  dataDir = join(tmp.root, 'data');
  await initDataDir(dataDir);
});
afterAll(() => tmp.remove());

const run = (...args: string[]) => sigil([...args, '--data-dir', dataDir]);

describe('sigil generate-key, sign, verify', () => {
  it('round-trips a signature and fails a wrong one with exit 1', async () => {
    const pubFile = join(tmp.root, 'alice.pub');
    const [gen, genDir] = await Promise.all([
      run('generate-key', '--key-id', 'alice', '--output', pubFile, '--json'),
      run('generate-key', '--key-id', 'bob', '--output', tmp.root),
    ]);
    expect(gen.code, gen.stderr).toBe(0);
    const { public_key } = json<{ public_key: string }>(gen);
    expect(readFileSync(pubFile, 'utf8').trim()).toBe(public_key);
    expect(genDir.code, genDir.stderr).toBe(0);
    expect(readFileSync(join(tmp.root, 'bob.pub'), 'utf8').trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const dataFile = tmp.file('report.txt', 'quarterly numbers\n');
    const sigFile = join(tmp.root, 'report.sig');
    const [sig, sigOut, again, reserved, both] = await Promise.all([
      run('sign', '--key-id', 'alice', '--data', 'hello sigil'),
      run('sign', '--key-id', 'alice', '--file', dataFile, '--output', sigFile),
      run('generate-key', '--key-id', 'alice'),
      run('sign', '--key-id', 'root', '--data', 'x'),
      run('sign', '--key-id', 'alice', '--data', 'x', '--file', dataFile),
    ]);
    expect(sig.code, sig.stderr).toBe(0);
    const signature = sig.stdout.trim();
    expect(signature).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(sigOut.code, sigOut.stderr).toBe(0);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/key_exists/);
    expect(reserved.code).toBe(2);
    expect(both.code).toBe(2);

    const fileSig = readFileSync(sigFile, 'utf8').trim();
    const [ok, okPub, okFile, wrongData, wrongKey, garbage, unknownKey] = await Promise.all([
      run(
        'verify',
        '--key-id',
        'alice',
        '--data',
        'hello sigil',
        '--signature',
        signature,
        '--json',
      ),
      sigil([
        'verify',
        '--public-key',
        public_key,
        '--data',
        'hello sigil',
        '--signature',
        signature,
      ]),
      run('verify', '--key-id', 'alice', '--file', dataFile, '--signature', fileSig),
      run('verify', '--key-id', 'alice', '--data', 'hello sigil!', '--signature', signature),
      run('verify', '--key-id', 'bob', '--data', 'hello sigil', '--signature', signature),
      run('verify', '--key-id', 'alice', '--data', 'hello sigil', '--signature', 'not*base64'),
      run('verify', '--key-id', 'carol', '--data', 'x', '--signature', signature),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(json(ok)).toMatchObject({ valid: true, key_id: 'alice', public_key });
    expect(okPub.code, okPub.stderr).toBe(0);
    expect(okPub.stdout).toBe('ok: signature valid\n');
    expect(okFile.code, okFile.stderr).toBe(0);
    for (const bad of [wrongData, wrongKey, garbage]) {
      expect(bad.code).toBe(1);
      expect(bad.stdout).toBe('FAILED: signature does not verify\n');
    }
    expect(unknownKey.code).toBe(1);
    expect(unknownKey.stderr).toMatch(/^sigil: key_not_found: /);
  });
});
