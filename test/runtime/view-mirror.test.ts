/**
 * Tokens are looked up from memory the log keeps current (src/runtime/view-mirror.ts). Two
 * servers on one store: a token warm on B, revoked through A, is refused by B within a second;
 * a token minted on A works on B at once; a revocation on B itself is refused by B at once.
 * On PostgreSQL and SQLite.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/http/server.ts';
import type { SigilRuntime } from '../../src/runtime/index.ts';
import { pgUrl } from '../canon/helpers/pg.ts';
import { twoInstances, type Instances } from './instances.ts';
import type { ViewEntry, ViewReader } from '../../src/canon/views.ts';
import type { JsonValue } from '../../src/core/canonical.ts';
import { STALE_MS, ViewMirror } from '../../src/runtime/view-mirror.ts';

let open: Instances | undefined;
const apps: FastifyInstance[] = [];

afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  await open?.cleanup();
  open = undefined;
});

function serve(runtime: SigilRuntime): FastifyInstance {
  const app = buildServer(runtime, { logLevel: 'silent' });
  apps.push(app);
  return app;
}

/** `POST /api/trust/check` with `token`: the status code. */
async function check(app: FastifyInstance, token: string): Promise<number> {
  const r = await app.inject({
    method: 'POST',
    url: '/api/trust/check',
    headers: { authorization: `Bearer ${token}` },
    payload: { action: 'canon.read', target: 'canon/records' },
  });
  return r.statusCode;
}

describe.each([
  { backend: 'postgres' as const, skip: !pgUrl },
  { backend: 'sqlite' as const, skip: false },
])('token revocation across two servers on one $backend store', ({ backend, skip }) => {
  it.skipIf(skip)(
    'a token warm on B and revoked through A is refused by B within 1 s',
    async () => {
      open = await twoInstances(backend);
      const a = serve(open.a);
      const b = serve(open.b);
      const root = await open.a.tokens.authenticate(open.rootToken);
      const { token, info } = await open.a.tokens.create(root, {
        subject: 'did:sigil:op',
        loa: 'operator',
        signer: { type: 'human' },
      });
      // Minted on A, good on B at once (a key B has never read comes from the store).
      expect(await check(b, token)).toBe(200);
      for (let i = 0; i < 20; i++) expect(await check(b, token)).toBe(200);
      const revoked = Date.now();
      await open.a.tokens.revoke(root, info.id);
      // A, which sealed the revocation, refuses the token on the very next request.
      expect(await check(a, token)).toBe(401);
      let status = 200;
      while (status === 200 && Date.now() - revoked < 5 * STALE_MS) {
        status = await check(b, token);
        if (status === 200) await new Promise((r) => setTimeout(r, 10));
      }
      const seenAfter = Date.now() - revoked;
      expect(status).toBe(401);
      expect(seenAfter, `refused by B ${seenAfter} ms after the revocation`).toBeLessThan(1000);
      // And stays refused.
      for (let i = 0; i < 5; i++) expect(await check(b, token)).toBe(401);
    },
    60_000,
  );

  it.skipIf(skip)(
    'a revocation sealed on B is refused by B on the next request',
    async () => {
      open = await twoInstances(backend);
      const b = serve(open.b);
      const root = await open.b.tokens.authenticate(open.rootToken);
      const { token, info } = await open.b.tokens.create(root, {
        subject: 'did:sigil:obs',
        loa: 'operator',
        signer: { type: 'human' },
      });
      for (let i = 0; i < 10; i++) expect(await check(b, token)).toBe(200);
      await open.b.tokens.revoke(root, info.id);
      expect(await check(b, token)).toBe(401);
    },
    60_000,
  );
});

/** A view table in memory, counting the reads that reach it; `fail` makes every read throw. */
function table() {
  const rows = new Map<string, ViewEntry>();
  const reads = { entry: 0, list: 0 };
  let fail = false;
  const reader: ViewReader = {
    get: async (_ns, key) => rows.get(key)?.value,
    parsed: async () => {
      throw new Error('the mirror reads entries, never parsed()');
    },
    entry: async (_ns, key) => {
      reads.entry += 1;
      if (fail) throw new Error('state_invalid');
      return rows.get(key);
    },
    list: async () => {
      reads.list += 1;
      if (fail) throw new Error('state_invalid');
      return [...rows.values()];
    },
  };
  const put = (key: string, value: JsonValue, seq: number) =>
    rows.set(key, { key, value, seq, hash: `h${seq}` });
  return { reader, reads, put, rows, setFail: (f: boolean) => (fail = f) };
}

describe('ViewMirror', () => {
  const parse = (value: JsonValue) => Object.freeze({ value });

  it('serves a kept row from memory until a record, a sweep or a failed sweep drops it', async () => {
    const t = table();
    const mirror = new ViewMirror(t.reader, ['tokens']);
    await mirror.sweep();
    t.put('k', 'v1', 1);
    expect(await mirror.parsed('tokens', 'k', parse)).toEqual({ value: 'v1' });
    expect(await mirror.parsed('tokens', 'k', parse)).toEqual({ value: 'v1' });
    expect(t.reads.entry).toBe(1);
    // Another namespace is passed through to the store's reader, never kept.
    await expect(mirror.parsed('roles', 'k', parse)).rejects.toThrow('never parsed');
    // A record sealed here that writes the row drops it.
    mirror.drop([{ ns: 'tokens', key: 'k' }]);
    t.put('k', 'v2', 2);
    expect(await mirror.parsed('tokens', 'k', parse)).toEqual({ value: 'v2' });
    expect(t.reads.entry).toBe(2);
    // Another instance rewrites the row: the sweep sees the new seq and drops it.
    t.put('k', 'v3', 3);
    expect(await mirror.parsed('tokens', 'k', parse)).toEqual({ value: 'v2' });
    await mirror.sweep();
    expect(await mirror.parsed('tokens', 'k', parse)).toEqual({ value: 'v3' });
    // An edit that keeps seq and hash is seen too.
    t.rows.set('k', { ...t.rows.get('k')!, value: 'forged' });
    await mirror.sweep();
    expect(await mirror.parsed('tokens', 'k', parse)).toEqual({ value: 'forged' });
    // A removed row is dropped; a missing row is never kept.
    t.rows.delete('k');
    await mirror.sweep();
    expect(await mirror.parsed('tokens', 'k', parse)).toBeUndefined();
    const before = t.reads.entry;
    expect(await mirror.parsed('tokens', 'k', parse)).toBeUndefined();
    expect(t.reads.entry).toBe(before + 1);
  });

  it('fails closed: after a failed sweep, or with no sweep for STALE_MS, every read goes to the store', async () => {
    const t = table();
    const mirror = new ViewMirror(t.reader, ['tokens']);
    await mirror.sweep();
    t.put('k', 'v1', 1);
    await mirror.parsed('tokens', 'k', parse);
    t.setFail(true);
    await expect(mirror.sweep()).rejects.toThrow('state_invalid');
    // Memory is emptied: the read reaches the store, which refuses.
    await expect(mirror.parsed('tokens', 'k', parse)).rejects.toThrow('state_invalid');
    t.setFail(false);
    // Still not served from memory until a good sweep.
    const reads = t.reads.entry;
    await mirror.parsed('tokens', 'k', parse);
    await mirror.parsed('tokens', 'k', parse);
    expect(t.reads.entry).toBe(reads + 2);
    await mirror.sweep();
    await mirror.parsed('tokens', 'k', parse);
    const warm = t.reads.entry;
    await mirror.parsed('tokens', 'k', parse);
    expect(t.reads.entry).toBe(warm);
    // No sweep for STALE_MS: memory is stale and reads go to the store again.
    await new Promise((r) => setTimeout(r, STALE_MS + 50));
    await mirror.parsed('tokens', 'k', parse);
    expect(t.reads.entry).toBe(warm + 1);
  });
});
