/**
 * A test file's two instances on one store, the in-process servers on them and the store's raw
 * view table, all closed after each test. Call `servedStores()` once at the top of the file.
 */
import { afterEach } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/http/server.ts';
import type { BackendName } from '../../src/canon/store/types.ts';
import type { Caller, SigilRuntime } from '../../src/runtime/index.ts';
import { twoInstances, type Instances } from './instances.ts';
import { viewDb, type ViewDb } from './view-db.ts';

export interface ServedStore extends Instances {
  db: ViewDb;
  /** Root, authenticated on `a`. */
  root: Caller;
}

export interface ServedStores {
  /** Two instances on a fresh store of `backend`. */
  instances(backend: BackendName): Promise<Instances>;
  /** The same, with the store's raw view table and Root. */
  withViewDb(backend: BackendName): Promise<ServedStore>;
  /** An in-process HTTP server on `runtime`. */
  serve(runtime: SigilRuntime): FastifyInstance;
}

export function servedStores(): ServedStores {
  let open: Instances | undefined;
  let db: ViewDb | undefined;
  const apps: FastifyInstance[] = [];

  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
    await db?.close();
    db = undefined;
    await open?.cleanup();
    open = undefined;
  });

  const instances = async (backend: BackendName): Promise<Instances> =>
    (open = await twoInstances(backend));

  return {
    instances,
    async withViewDb(backend) {
      const store = await instances(backend);
      db = await viewDb(backend, store.dataDir, store.env.MMF_DATABASE_URL);
      return { ...store, db, root: await store.a.tokens.authenticate(store.rootToken) };
    },
    serve(runtime) {
      const app = buildServer(runtime, { logLevel: 'silent' });
      apps.push(app);
      return app;
    },
  };
}
