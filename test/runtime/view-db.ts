/** Direct access to a store's view table, as a database account without Sigil's keys has it. */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import pg from 'pg';
import { SQLITE_FILE } from '../../src/canon/store/index.ts';
import type { BackendName } from '../../src/canon/store/types.ts';

export interface RawView {
  ns: string;
  k: string;
  v: string;
  seq: number;
  hash: string;
  mac: Buffer;
}

export interface ViewDb {
  rows(ns: string): Promise<RawView[]>;
  put(row: RawView): Promise<void>;
  remove(ns: string, k: string): Promise<void>;
  close(): Promise<void>;
}

/** The view table of the store in `dataDir` (SQLite) or at `url` (PostgreSQL). */
export async function viewDb(backend: BackendName, dataDir: string, url?: string): Promise<ViewDb> {
  if (backend === 'sqlite') {
    const db = new Database(join(dataDir, SQLITE_FILE));
    db.pragma('busy_timeout = 10000');
    return {
      rows: async (ns) =>
        db.prepare<[string], RawView>('SELECT * FROM views WHERE ns = ? ORDER BY k').all(ns),
      put: async (r) => {
        db.prepare(
          'INSERT OR REPLACE INTO views (ns, k, v, seq, hash, mac) VALUES (?, ?, ?, ?, ?, ?)',
        ).run(r.ns, r.k, r.v, r.seq, r.hash, r.mac);
      },
      remove: async (ns, k) => {
        db.prepare('DELETE FROM views WHERE ns = ? AND k = ?').run(ns, k);
      },
      close: async () => {
        db.close();
      },
    };
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    rows: async (ns) =>
      (
        await client.query<RawView>('SELECT * FROM sigil_views WHERE ns = $1 ORDER BY k', [ns])
      ).rows.map((r) => ({ ...r, seq: Number(r.seq) })),
    put: async (r) => {
      await client.query(
        `INSERT INTO sigil_views (ns, k, v, seq, hash, mac) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v, seq = excluded.seq, hash = excluded.hash, mac = excluded.mac`,
        [r.ns, r.k, r.v, r.seq, r.hash, r.mac],
      );
    },
    remove: async (ns, k) => {
      await client.query('DELETE FROM sigil_views WHERE ns = $1 AND k = $2', [ns, k]);
    },
    close: () => client.end(),
  };
}
