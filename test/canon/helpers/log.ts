/** Shared fixtures for the canon log tests: temp data dirs, a fixed master key, drafts, backends. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { CanonLog, type CanonLogOptions } from '../../../src/canon/log.ts';
import type { RecordDraft } from '../../../src/canon/record.ts';
import type { BackendName } from '../../../src/canon/store/types.ts';
import { freshDatabase, pgUrl } from './pg.ts';

/** A fixed master key for tests (base64 of 32 bytes). */
export const MASTER_KEY = Buffer.alloc(32, 0x5a).toString('base64');
export const TEST_ENV: NodeJS.ProcessEnv = { SIGIL_MASTER_KEY: MASTER_KEY };

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A new temp directory, removed after the file's tests. */
export function tempDir(prefix = 'sigil-canon-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** A user_data draft with a small payload. */
export function draft(i: number, extra: Partial<RecordDraft> = {}): RecordDraft {
  return {
    kind: 'user_data',
    tenant: 'tenant-a',
    space: 'user',
    payload: { i, note: `record ${i}` },
    ...extra,
  };
}

/** The backends under test; postgres is skipped (with global-setup's warning) when unavailable. */
export const BACKENDS: Array<{ name: BackendName; skip: boolean }> = [
  { name: 'sqlite', skip: false },
  { name: 'postgres', skip: !pgUrl },
];

/** Options for a new, empty store of `backend` in a fresh data dir. */
export async function storeOptions(
  backend: BackendName,
  extra: Partial<CanonLogOptions> = {},
): Promise<CanonLogOptions> {
  const base: CanonLogOptions = { dataDir: tempDir(), backend, env: TEST_ENV, ...extra };
  return backend === 'postgres' ? { ...base, databaseUrl: await freshDatabase() } : base;
}

/** A log on a new, empty store of `backend`, open while `fn` runs and closed after. */
export async function withNewLog<T>(
  backend: BackendName,
  fn: (log: CanonLog, opts: CanonLogOptions) => Promise<T>,
): Promise<T> {
  const opts = await storeOptions(backend);
  await CanonLog.init(opts);
  const log = await CanonLog.open(opts);
  try {
    return await fn(log, opts);
  } finally {
    await log.close();
  }
}
