/** Picks and opens a storage backend from options and the environment (MMF_DB_BACKEND, MMF_DATABASE_URL). */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SigilError } from '../../core/errors.ts';
import type { BackendName, CanonStore } from './types.ts';

export type * from './types.ts';

/** Where the store lives: the data dir (keys, sqlite file) and, for postgres, the database. */
export interface StoreOptions {
  dataDir: string;
  backend?: BackendName;
  databaseUrl?: string;
  env?: NodeJS.ProcessEnv;
}

/** The SQLite file inside a data dir. */
export const SQLITE_FILE = 'canon.db';

/** Resolves the backend: explicit options win over MMF_DB_BACKEND / MMF_DATABASE_URL; sqlite by default. */
export function resolveBackend(opts: StoreOptions): { backend: BackendName; databaseUrl?: string } {
  const env = opts.env ?? process.env;
  const backend = opts.backend ?? env.MMF_DB_BACKEND ?? 'sqlite';
  if (backend === 'sqlite') return { backend };
  if (backend !== 'postgres') {
    throw new SigilError(
      'bad_request',
      `MMF_DB_BACKEND must be sqlite or postgres, not ${backend}`,
    );
  }
  const databaseUrl = opts.databaseUrl ?? env.MMF_DATABASE_URL;
  if (!databaseUrl) {
    throw new SigilError('bad_request', 'the postgres backend needs MMF_DATABASE_URL');
  }
  return { backend, databaseUrl };
}

/**
 * Opens the store; only `create` (used by init) may create a missing SQLite file. Each driver is
 * loaded only when its backend is used, so the embedded default never loads `pg`.
 */
export async function openStore(
  opts: StoreOptions,
  mode: { create: boolean },
): Promise<CanonStore> {
  const { backend, databaseUrl } = resolveBackend(opts);
  if (backend === 'postgres') {
    const { PostgresStore } = await import('./postgres.ts');
    return new PostgresStore(databaseUrl!);
  }
  if (mode.create) mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const { SqliteStore } = await import('./sqlite.ts');
  return new SqliteStore(join(opts.dataDir, SQLITE_FILE), mode);
}
