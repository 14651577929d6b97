/** PostgreSQL for tests: the throwaway server from test/global-setup.ts, one fresh database per call. */
import pg from 'pg';
import { inject } from 'vitest';
import { toHex } from '../../../src/core/encoding.ts';
import { randomBytes } from '../../../src/core/random.ts';

/** URL of the throwaway server's database, or '' when PostgreSQL is not available. */
export const pgUrl: string = inject('pgUrl');

/** Creates an empty database on the test server and returns its URL. */
export async function freshDatabase(): Promise<string> {
  if (!pgUrl) throw new Error('PostgreSQL is not available');
  const name = `sigil_${toHex(randomBytes(6))}`;
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(pgUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
