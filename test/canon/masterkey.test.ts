import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveMasterKey } from '../../src/canon/masterkey.ts';
import { isSigilError, type SigilError } from '../../src/core/errors.ts';

let root: string;
let dataDir: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sigil-mk-'));
  dataDir = join(root, 'data');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function errorOf(f: () => unknown): SigilError | undefined {
  try {
    f();
  } catch (err) {
    if (!isSigilError(err)) throw err;
    return err;
  }
  return undefined;
}

const KEY_B64 = Buffer.alloc(32, 7).toString('base64');

describe('SIGIL_MASTER_KEY', () => {
  it('is used when it is base64 of 32 bytes', () => {
    const mk = resolveMasterKey({ dataDir, env: { SIGIL_MASTER_KEY: KEY_B64 }, create: false });
    expect(mk.source).toBe('env');
    expect(Buffer.from(mk.kek)).toEqual(Buffer.alloc(32, 7));
    expect(mk.warning).toBeUndefined();
    expect(existsSync(dataDir)).toBe(false);
  });

  it.each([
    ['too short', Buffer.alloc(16, 7).toString('base64')],
    ['too long', Buffer.alloc(33, 7).toString('base64')],
    ['not base64', 'not base64 at all!'],
    ['base64url', Buffer.alloc(32, 0xfb).toString('base64url')],
    ['empty', ''],
  ])('is refused when %s, naming the variable but not the value', (_what, value) => {
    const err = errorOf(() =>
      resolveMasterKey({ dataDir, env: { SIGIL_MASTER_KEY: value }, create: true }),
    );
    expect(err?.code).toBe('master_key_invalid');
    expect(err?.message).toContain('SIGIL_MASTER_KEY');
    if (value.length > 0) expect(err?.message).not.toContain(value);
    expect(existsSync(join(dataDir, 'master.key'))).toBe(false);
  });

  it('cannot be combined with a passphrase', () => {
    const env = { SIGIL_MASTER_KEY: KEY_B64, SIGIL_MASTER_PASSPHRASE: 'correct horse battery' };
    expect(errorOf(() => resolveMasterKey({ dataDir, env, create: true }))?.code).toBe(
      'master_key_invalid',
    );
  });
});

describe('SIGIL_MASTER_KEY_FILE', () => {
  function keyFile(content: string, mode = 0o600): string {
    const path = join(root, 'sigil-master.key');
    writeFileSync(path, content, { mode });
    chmodSync(path, mode);
    return path;
  }

  it('reads the same key SIGIL_MASTER_KEY would give, from a 0600 file', () => {
    const env = { SIGIL_MASTER_KEY_FILE: keyFile(`${KEY_B64}\n`) };
    const fromFile = resolveMasterKey({ dataDir, env, create: true });
    const fromEnv = resolveMasterKey({ dataDir, env: { SIGIL_MASTER_KEY: KEY_B64 }, create: true });
    expect(fromFile.source).toBe('key_file');
    expect(fromFile.warning).toBeUndefined();
    expect(Buffer.from(fromFile.kek).equals(Buffer.from(fromEnv.kek))).toBe(true);
    expect(existsSync(join(dataDir, 'master.key'))).toBe(false);
  });

  it.each([0o644, 0o640, 0o604, 0o660, 0o606, 0o700 | 0o044])(
    'refuses a file of mode %o',
    (mode) => {
      const env = { SIGIL_MASTER_KEY_FILE: keyFile(KEY_B64, mode) };
      expect(errorOf(() => resolveMasterKey({ dataDir, env, create: true }))?.code).toBe(
        'key_file_insecure',
      );
    },
  );

  it('refuses a missing file, a directory, bad contents and a second source, never echoing the key', () => {
    const bad = (env: NodeJS.ProcessEnv) =>
      errorOf(() => resolveMasterKey({ dataDir, env, create: true }));
    expect(bad({ SIGIL_MASTER_KEY_FILE: join(root, 'absent') })?.code).toBe('master_key_invalid');
    expect(bad({ SIGIL_MASTER_KEY_FILE: '' })?.code).toBe('master_key_invalid');
    expect(bad({ SIGIL_MASTER_KEY_FILE: root })?.code).toBe('key_file_insecure');
    const short = Buffer.alloc(16, 9).toString('base64');
    const err = bad({ SIGIL_MASTER_KEY_FILE: keyFile(short) });
    expect(err?.code).toBe('master_key_invalid');
    expect(err?.message).not.toContain(short);
    expect(bad({ SIGIL_MASTER_KEY_FILE: keyFile('not base64 at all!') })?.code).toBe(
      'master_key_invalid',
    );
    const path = keyFile(KEY_B64);
    expect(bad({ SIGIL_MASTER_KEY_FILE: path, SIGIL_MASTER_KEY: KEY_B64 })?.code).toBe(
      'master_key_invalid',
    );
    expect(
      bad({ SIGIL_MASTER_KEY_FILE: path, SIGIL_MASTER_PASSPHRASE: 'correct horse battery' })?.code,
    ).toBe('master_key_invalid');
    expect(existsSync(join(dataDir, 'master.key'))).toBe(false);
  });
});

describe('SIGIL_MASTER_PASSPHRASE', () => {
  const env = { SIGIL_MASTER_PASSPHRASE: 'correct horse battery staple' };

  it('derives a stable key with a stored salt', () => {
    const first = resolveMasterKey({ dataDir, env, create: true });
    expect(first.source).toBe('passphrase');
    expect(first.kek).toHaveLength(32);
    const salt = JSON.parse(readFileSync(join(dataDir, 'master.salt'), 'utf8'));
    expect(salt).toMatchObject({ v: 1, kdf: 'scrypt', N: 32768, r: 8, p: 1 });
    const again = resolveMasterKey({ dataDir, env, create: false });
    expect(Buffer.from(again.kek)).toEqual(Buffer.from(first.kek));
    const other = resolveMasterKey({
      dataDir,
      env: { SIGIL_MASTER_PASSPHRASE: 'another long passphrase' },
      create: false,
    });
    expect(Buffer.from(other.kek)).not.toEqual(Buffer.from(first.kek));
  });

  it('needs the salt file unless creating', () => {
    expect(errorOf(() => resolveMasterKey({ dataDir, env, create: false }))?.code).toBe(
      'master_key_invalid',
    );
  });

  it('refuses a short passphrase and a corrupt salt file', () => {
    const short = { SIGIL_MASTER_PASSPHRASE: 'short' };
    expect(errorOf(() => resolveMasterKey({ dataDir, env: short, create: true }))?.code).toBe(
      'master_key_invalid',
    );
    resolveMasterKey({ dataDir, env, create: true });
    writeFileSync(join(dataDir, 'master.salt'), '{"v":1}');
    expect(errorOf(() => resolveMasterKey({ dataDir, env, create: false }))?.code).toBe(
      'master_key_invalid',
    );
  });
});

describe('the master.key file fallback', () => {
  it('is created 0600 only when asked, with a warning', () => {
    expect(errorOf(() => resolveMasterKey({ dataDir, env: {}, create: false }))?.code).toBe(
      'master_key_invalid',
    );
    expect(existsSync(join(dataDir, 'master.key'))).toBe(false);

    const created = resolveMasterKey({ dataDir, env: {}, create: true });
    expect(created.source).toBe('file');
    expect(created.warning).toMatch(/SIGIL_MASTER_KEY/);
    const path = join(dataDir, 'master.key');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64')).toEqual(
      Buffer.from(created.kek),
    );

    const loaded = resolveMasterKey({ dataDir, env: {}, create: false });
    expect(Buffer.from(loaded.kek)).toEqual(Buffer.from(created.kek));
    expect(loaded.warning).toBeDefined();
  });

  it('is refused when group or others can read it', () => {
    resolveMasterKey({ dataDir, env: {}, create: true });
    chmodSync(join(dataDir, 'master.key'), 0o644);
    expect(errorOf(() => resolveMasterKey({ dataDir, env: {}, create: false }))?.code).toBe(
      'key_file_insecure',
    );
    chmodSync(join(dataDir, 'master.key'), 0o640);
    expect(errorOf(() => resolveMasterKey({ dataDir, env: {}, create: true }))?.code).toBe(
      'key_file_insecure',
    );
  });

  it('is refused when it does not hold 32 bytes', () => {
    resolveMasterKey({ dataDir, env: {}, create: true });
    writeFileSync(join(dataDir, 'master.key'), Buffer.alloc(16).toString('base64'));
    expect(errorOf(() => resolveMasterKey({ dataDir, env: {}, create: false }))?.code).toBe(
      'master_key_invalid',
    );
  });
});
