/**
 * Files at rest: the SQLite database and its WAL and SHM files are created 0600 whatever the
 * umask; the data dir and the key dir are 0700, and a looser one is refused ('dir_insecure').
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CanonLog, KEYS_DIR } from '../../src/canon/log.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { draft, storeOptions, tempDir } from './helpers/log.ts';

const mode = (path: string) => statSync(path).mode & 0o777;

async function code(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => (isSigilError(e) ? e.code : String(e)),
  );
}

describe('file modes of a data dir', () => {
  const umask = process.umask();
  afterEach(() => {
    process.umask(umask);
  });

  it('creates the database, its WAL and SHM 0600 and the dirs 0700, even under umask 000', async () => {
    process.umask(0);
    const opts = await storeOptions('sqlite', { dataDir: join(tempDir(), 'data') });
    await CanonLog.init(opts);
    const log = await CanonLog.open(opts);
    try {
      await log.appendMany([draft(0), draft(1)]);
      const files = readdirSync(opts.dataDir).filter((f) => f.startsWith('canon.db'));
      expect(files.sort()).toEqual(['canon.db', 'canon.db-shm', 'canon.db-wal']);
      for (const f of files) expect(mode(join(opts.dataDir, f)), f).toBe(0o600);
      expect(mode(opts.dataDir)).toBe(0o700);
      expect(mode(join(opts.dataDir, KEYS_DIR))).toBe(0o700);
    } finally {
      await log.close();
    }
  });

  it('refuses a data dir or key dir that group or others can enter', async () => {
    const opts = await storeOptions('sqlite', { dataDir: join(tempDir(), 'data') });
    await CanonLog.init(opts);
    for (const dir of [opts.dataDir, join(opts.dataDir, KEYS_DIR)]) {
      for (const loose of [0o755, 0o710, 0o701]) {
        chmodSync(dir, loose);
        expect(await code(CanonLog.open(opts)), `${dir} ${loose.toString(8)}`).toBe('dir_insecure');
      }
      chmodSync(dir, 0o700);
    }
    const log = await CanonLog.open(opts);
    await log.close();
  });

  it('init refuses a loose data dir made beforehand and creates nothing in it', async () => {
    const dataDir = join(tempDir(), 'data');
    mkdirSync(dataDir, { mode: 0o755 });
    chmodSync(dataDir, 0o755);
    const opts = await storeOptions('sqlite', { dataDir });
    expect(await code(CanonLog.init(opts))).toBe('dir_insecure');
    expect(readdirSync(dataDir)).toEqual([]);
    expect(existsSync(join(dataDir, 'canon.db'))).toBe(false);
  });
});
