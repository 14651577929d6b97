/**
 * Tokens are looked up from memory the log keeps current (src/runtime/view-mirror.ts). Two
 * servers on one store: a token warm on B, revoked through A, is refused by B within a second;
 * a token minted on A works on B at once; a revocation on B itself is refused by B at once.
 * On PostgreSQL and SQLite.
 */
import { describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { pgUrl } from '../canon/helpers/pg.ts';
import { servedStores } from './served.ts';
import type { ViewEntry, ViewReader } from '../../src/canon/views.ts';
import type { JsonValue } from '../../src/core/canonical.ts';
import { STALE_MS, ViewMirror, type MirroredNamespace } from '../../src/runtime/view-mirror.ts';
import type { LogReader, SealedRecord } from '../../src/canon/log.ts';

const { instances, serve } = servedStores();

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
      const open = await instances(backend);
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
      await open.a.tokens.revoke(root, info.id);
      // Counted from when the revocation is durable: the promise is how soon B sees a sealed
      // record, not how long A's commits take (on a loaded machine, most of a second).
      const revoked = Date.now();
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
      const open = await instances(backend);
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

describe.each([
  { backend: 'postgres' as const, skip: !pgUrl },
  { backend: 'sqlite' as const, skip: false },
])('consent withdrawn across two instances on one $backend store', ({ backend, skip }) => {
  it.skipIf(skip)(
    'an agent warm on B whose consent is withdrawn through A is refused by B within 1 s',
    async () => {
      const open = await instances(backend);
      const { a, b } = open;
      const root = await a.tokens.authenticate(open.rootToken);
      const { delegation_id } = await a.delegations.create(root, {
        to: 'did:sigil:agent',
        actions: ['mcp.tools.call'],
      });
      const { token } = await a.tokens.create(root, {
        subject: 'did:sigil:agent',
        loa: 'operator',
        signer: { type: 'ai', delegationId: delegation_id },
        scopes: ['mcp.tools.call'],
      });
      const agent = await b.tokens.authenticate(token);
      const call = {
        action: 'mcp.tools.call',
        target: 'notes/read',
        outputMarking: 'gateway' as const,
      };
      const verdict = async () => (await b.check(agent, call)).verdict;
      expect(await verdict()).toBe('deny');
      const { id } = await a.consent.grant(root, {
        bailee: 'did:sigil:agent',
        scope: 'mcp.tools.call',
        purpose: 'retrieval',
      });
      // Granted on A: B sees it once it has read the record, within a second.
      await expect.poll(verdict, { timeout: 1000, interval: 10 }).toBe('allow');
      for (let i = 0; i < 10; i++) expect(await verdict()).toBe('allow');
      await a.consent.revoke(root, id);
      const withdrawn = Date.now();
      // A, which sealed the withdrawal, refuses on the very next request.
      expect((await a.check(await a.tokens.authenticate(token), call)).code).toBe(
        'mcp_rule_violated',
      );
      let seen = 'allow';
      while (seen === 'allow' && Date.now() - withdrawn < 5 * STALE_MS) {
        seen = await verdict();
        if (seen === 'allow') await new Promise((r) => setTimeout(r, 10));
      }
      const after = Date.now() - withdrawn;
      expect(seen).toBe('deny');
      expect(after, `refused by B ${after} ms after the withdrawal`).toBeLessThan(1000);
      for (let i = 0; i < 5; i++) expect(await verdict()).toBe('deny');
    },
    60_000,
  );
});

/**
 * A view table and a log in memory, counting the reads that reach the table; `fail` makes every
 * read throw. `seal` appends a record that writes a row (and writes it), as the store does.
 */
function table() {
  const rows = new Map<string, ViewEntry>();
  const records: SealedRecord[] = [];
  const reads = { entry: 0, list: 0 };
  let fail = false;
  const id = (ns: string, key: string) => `${ns}\u0000${key}`;
  const reader: ViewReader = {
    get: async (ns, key) => rows.get(id(ns, key))?.value,
    // A read of the store's row either way (counted as an entry read).
    parsed: async (ns, key, parse) => {
      const e = await reader.entry(ns, key);
      return e && { value: parse(e.value, key), seq: e.seq };
    },
    entry: async (ns, key) => {
      reads.entry += 1;
      if (fail) throw new Error('state_invalid');
      return rows.get(id(ns, key));
    },
    list: async (ns) => {
      reads.list += 1;
      if (fail) throw new Error('state_invalid');
      return [...rows.entries()]
        .filter(([k]) => k.startsWith(`${ns}\u0000`))
        .map(([, e]) => e)
        .sort((a, b) => a.key.localeCompare(b.key));
    },
  };
  const log = {
    size: async () => records.length,
    list: async ({ kind, cursor }: { kind: string; cursor?: string }) => {
      if (fail) throw new Error('store unreachable');
      const after = cursor === undefined ? -1 : Number(cursor);
      return { records: records.filter((r) => r.kind === kind && r.seq > after) };
    },
  } as unknown as LogReader;
  /** Writes a row without a record (an edit in the database). */
  const put = (ns: string, key: string, value: JsonValue, seq: number) =>
    rows.set(id(ns, key), { key, value, seq, hash: `h${seq}` });
  /** Seals a record that writes `ns/key` (a token or a consent row), as another instance would. */
  const seal = (ns: 'tokens' | 'consent', key: string, value: JsonValue) => {
    const seq = records.length;
    const payload =
      ns === 'tokens'
        ? { token_hash: key, token: { v: value } }
        : { bailment: { id: key }, grant: { v: value } };
    records.push({
      kind: ns === 'tokens' ? 'token_event' : 'consent_event',
      id: `r${seq}`,
      ts: new Date(0).toISOString(),
      payload,
      seq,
    } as unknown as SealedRecord);
    put(ns, key, value, seq);
    return seq;
  };
  return { reader, log, reads, put, seal, rows, id, setFail: (f: boolean) => (fail = f) };
}

const SPECS: MirroredNamespace[] = [
  { ns: 'tokens', kind: 'token_event', whole: false },
  { ns: 'consent', kind: 'consent_event', whole: true },
];

/** The value a read by key serves (without the seq of its record). */
async function valueOf<T>(
  mirror: ViewMirror,
  ns: string,
  key: string,
  parse: (value: JsonValue) => T,
): Promise<T | undefined> {
  return (await mirror.parsed(ns, key, parse))?.value;
}

describe('ViewMirror', () => {
  const parse = (value: JsonValue) => Object.freeze({ value });

  it('keeps a token row until a record in the log writes it; reads only the rows records name', async () => {
    const t = table();
    const mirror = new ViewMirror(t.reader, t.log, SPECS);
    t.seal('tokens', 'k', 'v1');
    t.seal('tokens', 'other', 'o1');
    await mirror.catchUp();
    expect(await valueOf(mirror, 'tokens', 'k', parse)).toEqual({ value: 'v1' });
    expect(await valueOf(mirror, 'tokens', 'k', parse)).toEqual({ value: 'v1' });
    expect(t.reads.entry).toBe(1);
    // Another namespace is passed through to the store's reader, never kept.
    const passed = t.reads.entry;
    await mirror.parsed('roles', 'k', parse);
    await mirror.parsed('roles', 'k', parse);
    expect(t.reads.entry).toBe(passed + 2);
    // A record sealed here that writes the row drops it at once.
    await mirror.written([{ ns: 'tokens', key: 'k' }]);
    t.put('tokens', 'k', 'v2', 2);
    expect(await valueOf(mirror, 'tokens', 'k', parse)).toEqual({ value: 'v2' });
    expect(t.reads.entry).toBe(passed + 3);
    // Another instance seals a record that writes it: the next catch-up drops it.
    t.seal('tokens', 'k', 'v3');
    expect(await valueOf(mirror, 'tokens', 'k', parse)).toEqual({ value: 'v2' });
    const lists = t.reads.list;
    await mirror.catchUp();
    expect(await valueOf(mirror, 'tokens', 'k', parse)).toEqual({ value: 'v3' });
    // Following the log lists no namespace.
    expect(t.reads.list).toBe(lists);
    // A missing row is never kept.
    expect(await valueOf(mirror, 'tokens', 'none', parse)).toBeUndefined();
    const before = t.reads.entry;
    expect(await valueOf(mirror, 'tokens', 'none', parse)).toBeUndefined();
    expect(t.reads.entry).toBe(before + 1);
  });

  it('an edit in the database that no record made is never served; the audit empties memory', async () => {
    const t = table();
    const mirror = new ViewMirror(t.reader, t.log, SPECS);
    t.seal('tokens', 'k', 'v1');
    t.seal('consent', 'c', 'granted');
    await mirror.catchUp();
    expect(await valueOf(mirror, 'tokens', 'k', parse)).toEqual({ value: 'v1' });
    // Edited in place (same seq and hash): the log shows nothing, memory keeps what was read.
    t.rows.set(t.id('tokens', 'k'), { ...t.rows.get(t.id('tokens', 'k'))!, value: 'forged' });
    await mirror.catchUp();
    expect(await valueOf(mirror, 'tokens', 'k', parse)).toEqual({ value: 'v1' });
    // The audit sees the row differs: memory is emptied, and the store is read (and refuses).
    await expect(mirror.audit()).rejects.toThrow('differs');
    expect(await valueOf(mirror, 'tokens', 'k', parse)).toEqual({ value: 'forged' });
    // A whole namespace: a deleted row and an inserted one are found alike.
    t.put('tokens', 'k', 'v1', 0);
    await mirror.catchUp();
    expect((await mirror.list('consent')).map((e) => e.key)).toEqual(['c']);
    t.rows.delete(t.id('consent', 'c'));
    await expect(mirror.audit()).rejects.toThrow('differs');
    expect(await mirror.list('consent')).toEqual([]);
    t.seal('consent', 'c', 'granted');
    await mirror.catchUp();
    t.put('consent', 'inserted', 'x', 0);
    await expect(mirror.audit()).rejects.toThrow('not in memory');
  });

  it('serves a whole namespace from memory, each record re-reading the one row it writes', async () => {
    const t = table();
    const mirror = new ViewMirror(t.reader, t.log, SPECS);
    t.seal('consent', 'a', 'granted');
    await mirror.catchUp();
    const lists = t.reads.list;
    expect((await mirror.list('consent')).map((e) => e.value)).toEqual(['granted']);
    expect(mirror.knownAbsent('consent', 'b')).toBe(true);
    expect(mirror.knownAbsent('consent', 'a')).toBe(false);
    expect(mirror.knownAbsent('tokens', 'b')).toBe(false);
    // Another instance withdraws it and grants another: one entry read each, no listing.
    t.seal('consent', 'a', 'revoked');
    t.seal('consent', 'b', 'granted');
    const entries = t.reads.entry;
    await mirror.catchUp();
    expect((await mirror.list('consent')).map((e) => [e.key, e.value])).toEqual([
      ['a', 'revoked'],
      ['b', 'granted'],
    ]);
    expect(t.reads.entry).toBe(entries + 2);
    expect(t.reads.list).toBe(lists);
    // Rows served cannot be changed by a reader.
    const [first] = await mirror.list('consent');
    expect(Object.isFrozen(first)).toBe(true);
    // A record whose row is missing fails the catch-up closed.
    t.seal('consent', 'c', 'granted');
    t.rows.delete(t.id('consent', 'c'));
    await expect(mirror.catchUp()).rejects.toThrow('missing');
    expect(mirror.knownAbsent('consent', 'c')).toBe(false);
    expect(t.reads.list).toBe(lists);
    await mirror.list('consent');
    expect(t.reads.list).toBe(lists + 1);
  });

  it('fails closed: after a failed catch-up, or with none for STALE_MS, every read goes to the store', async () => {
    const t = table();
    const mirror = new ViewMirror(t.reader, t.log, SPECS);
    t.seal('tokens', 'k', 'v1');
    await mirror.catchUp();
    await mirror.parsed('tokens', 'k', parse);
    t.setFail(true);
    await expect(mirror.catchUp()).rejects.toThrow();
    // Memory is emptied: the read reaches the store, which refuses.
    await expect(mirror.parsed('tokens', 'k', parse)).rejects.toThrow('state_invalid');
    await expect(mirror.list('consent')).rejects.toThrow('state_invalid');
    t.setFail(false);
    // Still not served from memory until a good catch-up.
    const reads = t.reads.entry;
    await mirror.parsed('tokens', 'k', parse);
    await mirror.parsed('tokens', 'k', parse);
    expect(t.reads.entry).toBe(reads + 2);
    await mirror.catchUp();
    await mirror.parsed('tokens', 'k', parse);
    const warm = t.reads.entry;
    await mirror.parsed('tokens', 'k', parse);
    expect(t.reads.entry).toBe(warm);
    // No catch-up for STALE_MS: memory is stale and reads go to the store again.
    await new Promise((r) => setTimeout(r, STALE_MS + 50));
    await mirror.parsed('tokens', 'k', parse);
    expect(t.reads.entry).toBe(warm + 1);
    const lists = t.reads.list;
    await mirror.list('consent');
    expect(t.reads.list).toBe(lists + 1);
    expect(mirror.knownAbsent('consent', 'x')).toBe(false);
  });
});
