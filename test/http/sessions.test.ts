/**
 * Issue 13 §7, as an attacker: cookie sessions live in the store (sealed session_event records,
 * MACed view rows). Through the real HTTP app: a Guest flooding sign-ins cannot push out a
 * Mentor's session, a session survives a restart, an edited session row is refused, a session
 * opened on one instance works on another over PostgreSQL, and sign-out ends it everywhere.
 */
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SQLITE_FILE } from '../../src/canon/store/index.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { buildServer } from '../../src/http/index.ts';
import type { SessionOptions } from '../../src/http/sessions.ts';
import type { SigilRuntime } from '../../src/runtime/index.ts';
import { pgUrl } from '../canon/helpers/pg.ts';
import { twoInstances, type Instances } from '../runtime/instances.ts';

const COOKIE = 'sigil_session';
let open: Instances | undefined;
const apps: FastifyInstance[] = [];

afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  await open?.cleanup();
  open = undefined;
});

async function serve(runtime: SigilRuntime, sessions?: SessionOptions): Promise<FastifyInstance> {
  const app = buildServer(runtime, { logLevel: 'silent', ...(sessions ? { sessions } : {}) });
  await app.ready();
  apps.push(app);
  return app;
}

async function tokenFor(i: Instances, subject: string, loa: 'guest' | 'mentor'): Promise<string> {
  const root = await i.a.tokens.authenticate(i.rootToken);
  return (await i.a.tokens.create(root, { subject, loa, signer: { type: 'human' } })).token;
}

async function signIn(
  app: FastifyInstance,
  token: string,
  remoteAddress = '127.0.0.1',
): Promise<{ status: number; cookie?: string; csrf?: string; code?: string }> {
  const r = await app.inject({
    method: 'POST',
    url: '/api/session',
    payload: { token },
    remoteAddress,
  });
  if (r.statusCode !== 201) return { status: r.statusCode, code: r.json<{ code: string }>().code };
  const cookie = r.cookies.find((c) => c.name === COOKIE)!.value;
  return { status: 201, cookie, csrf: r.json<{ csrf_token: string }>().csrf_token };
}

/** whoami through the cookie: the subject it signs in, or the refusal's status and code. */
async function whoami(app: FastifyInstance, cookie: string): Promise<string> {
  const r = await app.inject({ method: 'GET', url: '/api/whoami', cookies: { [COOKIE]: cookie } });
  if (r.statusCode !== 200) return `${r.statusCode} ${r.json<{ code: string }>().code}`;
  return r.json<{ caller: { subject: string } }>().caller.subject;
}

async function signOut(app: FastifyInstance, cookie: string, csrf: string): Promise<number> {
  const r = await app.inject({
    method: 'DELETE',
    url: '/api/session',
    cookies: { [COOKIE]: cookie },
    headers: { 'x-csrf-token': csrf },
  });
  return r.statusCode;
}

const MENTOR = 'did:sigil:mentor-m';
const GUEST = 'did:sigil:guest-g';

describe('sessions against a Guest flood', () => {
  it('10,050 Guest sign-ins: bounded, fast, and the Mentor stays signed in', async () => {
    open = await twoInstances('sqlite');
    const app = await serve(open.a);
    const mentor = await signIn(app, await tokenFor(open, MENTOR, 'mentor'), '10.0.0.1');
    expect(mentor.status).toBe(201);
    const guest = await tokenFor(open, GUEST, 'guest');
    const before = await open.a.log.size();
    const started = Date.now();
    const statuses = new Map<number, number>();
    // From one address, then from a new address each time (the token's own bucket still holds).
    for (let i = 0; i < 10_050; i++) {
      const address = i < 5_000 ? '10.6.6.6' : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const r = await app.inject({
        method: 'POST',
        url: '/api/session',
        payload: { token: guest },
        remoteAddress: address,
      });
      statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
    }
    const elapsed = Date.now() - started;
    const opened = statuses.get(201) ?? 0;
    expect(opened).toBeGreaterThan(0);
    expect(opened).toBeLessThanOrEqual(12); // the token's burst, and a refill or two
    expect(statuses.get(429)).toBe(10_050 - opened);
    // A refused sign-in costs no record: only the sessions opened were sealed.
    expect((await open.a.log.size()) - before).toBe(opened);
    expect(elapsed).toBeLessThan(60_000);
    expect(await whoami(app, mentor.cookie!)).toBe(MENTOR);
    // The Guest holds at most its cap, whatever it opened.
    const slots = await open.a.log.views.get('session_slots', GUEST);
    expect((slots as { sessions: unknown[] }).sessions.length).toBeLessThanOrEqual(10);
  }, 240_000);

  it('past the cap a subject evicts only its own oldest session', async () => {
    open = await twoInstances('sqlite');
    const roomy = { rate: 10_000, burst: 10_000 };
    const app = await serve(open.a, { perSubject: 3, perToken: roomy, perAddress: roomy });
    const mentor = await signIn(app, await tokenFor(open, MENTOR, 'mentor'));
    const guest = await tokenFor(open, GUEST, 'guest');
    const cookies: string[] = [];
    for (let i = 0; i < 40; i++) cookies.push((await signIn(app, guest)).cookie!);
    expect(await whoami(app, mentor.cookie!)).toBe(MENTOR);
    // The Guest's three newest hold; every older one was closed by the Guest's own sign-ins.
    for (const c of cookies.slice(-3)) expect(await whoami(app, c)).toBe(GUEST);
    for (const c of cookies.slice(0, -3)) expect(await whoami(app, c)).toBe('401 unauthenticated');
  }, 120_000);
});

describe('sessions in the store', () => {
  it('a session survives a restart', async () => {
    open = await twoInstances('sqlite');
    const first = await serve(open.a);
    const s = await signIn(first, await tokenFor(open, MENTOR, 'mentor'));
    await first.close();
    apps.splice(apps.indexOf(first), 1);
    await open.a.close();
    const after = await serve(await open.reopen());
    expect(await whoami(after, s.cookie!)).toBe(MENTOR);
    // Its CSRF token was bound to the cookie, not to the old process: sign-out works.
    expect(await signOut(after, s.cookie!, s.csrf!)).toBe(204);
    expect(await whoami(after, s.cookie!)).toBe('401 unauthenticated');
  }, 60_000);

  it('a session row edited in the database is refused', async () => {
    open = await twoInstances('sqlite');
    const app = await serve(open.a);
    const s = await signIn(app, await tokenFor(open, GUEST, 'guest'));
    const db = new Database(join(open.dataDir, SQLITE_FILE));
    try {
      const key = sha256Hex(s.cookie!);
      const row = db.prepare('SELECT v FROM views WHERE ns = ? AND k = ?').get('sessions', key) as {
        v: string;
      };
      // Point the Guest's session at Root's token and push its end out.
      const edited = {
        ...(JSON.parse(row.v) as object),
        token_hash: sha256Hex(open.rootToken),
        expires_at: 9_999_999_999_999,
      };
      db.prepare('UPDATE views SET v = ? WHERE ns = ? AND k = ?').run(
        JSON.stringify(edited),
        'sessions',
        key,
      );
    } finally {
      db.close();
    }
    expect(await whoami(app, s.cookie!)).toBe('500 state_invalid');
  });

  it('a forged or unknown cookie signs nobody in', async () => {
    open = await twoInstances('sqlite');
    const app = await serve(open.a);
    expect(await whoami(app, `sgs_${'A'.repeat(43)}`)).toBe('401 unauthenticated');
    expect(await whoami(app, 'not-a-cookie')).toBe('401 unauthenticated');
  });

  it('a revoked token ends its sessions', async () => {
    open = await twoInstances('sqlite');
    const app = await serve(open.a);
    const root = await open.a.tokens.authenticate(open.rootToken);
    const { token, info } = await open.a.tokens.create(root, {
      subject: GUEST,
      loa: 'guest',
      signer: { type: 'human' },
    });
    const s = await signIn(app, token);
    expect(await whoami(app, s.cookie!)).toBe(GUEST);
    await open.a.tokens.revoke(root, info.id);
    expect(await whoami(app, s.cookie!)).toBe('401 token_invalid');
  });
});

describe.each([
  { backend: 'postgres' as const, skip: !pgUrl },
  { backend: 'sqlite' as const, skip: false },
])('two instances on one $backend store', ({ backend, skip }) => {
  it.skipIf(skip)(
    'a session opened on one works on the other; sign-out ends it on both',
    async () => {
      open = await twoInstances(backend);
      const a = await serve(open.a);
      const b = await serve(open.b);
      const s = await signIn(a, await tokenFor(open, MENTOR, 'mentor'));
      expect(await whoami(b, s.cookie!)).toBe(MENTOR);
      // A CSRF token minted on A is good on B.
      const csrfOnA = s.csrf!;
      expect(await signOut(b, s.cookie!, csrfOnA)).toBe(204);
      expect(await whoami(a, s.cookie!)).toBe('401 unauthenticated');
      expect(await whoami(b, s.cookie!)).toBe('401 unauthenticated');
      expect(await open.b.log.validate()).toMatchObject({ ok: true });
    },
    60_000,
  );
});

describe('secure cookies', () => {
  it('sets Secure and HSTS when secure cookies are on, neither when off', async () => {
    open = await twoInstances('sqlite');
    const token = await tokenFor(open, MENTOR, 'mentor');
    for (const secure of [true, false]) {
      const app = buildServer(open.a, { logLevel: 'silent', secureCookies: secure });
      apps.push(app);
      const r = await app.inject({ method: 'POST', url: '/api/session', payload: { token } });
      expect(r.statusCode).toBe(201);
      expect(r.cookies.find((c) => c.name === COOKIE)!.secure === true).toBe(secure);
      expect(r.headers['strict-transport-security'] !== undefined).toBe(secure);
    }
  });
});
