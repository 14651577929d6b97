/** Cookie sessions and CSRF tokens: expiry, binding, bounds, tamper resistance. */
import { describe, expect, it } from 'vitest';
import { SessionStore } from '../../src/http/sessions.ts';

function clockAt(start: number): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('SessionStore', () => {
  it('finds a session by its cookie only while it lives', () => {
    const clock = clockAt(1_000_000);
    const store = new SessionStore({ ttlMs: 1000, clock: clock.now });
    const s = store.create('sgl_token');
    expect(s.cookie).toMatch(/^[0-9a-f]{32}\.[A-Za-z0-9_-]{43}$/);
    expect(store.find(s.cookie)?.token).toBe('sgl_token');
    clock.advance(999);
    expect(store.find(s.cookie)).toBeDefined();
    clock.advance(1);
    expect(store.find(s.cookie)).toBeUndefined();
    expect(store.size).toBe(0);
  });

  it('rejects a cookie whose secret does not match, and malformed cookies', () => {
    const store = new SessionStore();
    const s = store.create('t');
    const [id, secret] = s.cookie.split('.') as [string, string];
    const flipped = `${id}.${secret[0] === 'A' ? 'B' : 'A'}${secret.slice(1)}`;
    for (const bad of [
      flipped,
      id,
      `${id}.`,
      `.${secret}`,
      '',
      'x'.repeat(200),
      `${id}.${secret}.x`,
    ]) {
      expect(store.find(bad), bad).toBeUndefined();
    }
    expect(store.find(undefined)).toBeUndefined();
    expect(store.find(s.cookie)).toBeDefined();
  });

  it('stays within its bound: expired sessions go first, then the oldest', () => {
    const clock = clockAt(0);
    const store = new SessionStore({ maxSessions: 3, ttlMs: 100, clock: clock.now });
    const a = store.create('a');
    clock.advance(50);
    const b = store.create('b');
    const c = store.create('c');
    clock.advance(60); // a has expired
    const d = store.create('d');
    expect(store.size).toBe(3);
    expect(store.find(a.cookie)).toBeUndefined();
    expect(store.find(b.cookie)).toBeDefined();
    const e = store.create('e'); // full of live sessions: the oldest (b) goes
    expect(store.size).toBe(3);
    expect(store.find(b.cookie)).toBeUndefined();
    for (const s of [c, d, e]) expect(store.find(s.cookie)).toBeDefined();
  });

  it('binds CSRF tokens to one session and lets them expire', () => {
    const clock = clockAt(5_000);
    const store = new SessionStore({ csrfTtlMs: 100, clock: clock.now });
    const one = store.create('1');
    const two = store.create('2');
    const csrf = store.csrfToken(one.lookupId);
    expect(store.checkCsrf(one.lookupId, csrf.token)).toBe(true);
    expect(store.checkCsrf(two.lookupId, csrf.token)).toBe(false);
    const [exp, mac] = csrf.token.split('.') as [string, string];
    expect(store.checkCsrf(one.lookupId, `${Number(exp) + 1000}.${mac}`)).toBe(false);
    for (const bad of [undefined, '', 'x', `${exp}.`, `${exp}.${'A'.repeat(43)}`, [csrf.token]]) {
      expect(store.checkCsrf(one.lookupId, bad)).toBe(false);
    }
    clock.advance(100);
    expect(store.checkCsrf(one.lookupId, csrf.token)).toBe(false);
  });

  it('never issues a CSRF token that outlives its session, nor across processes', () => {
    const clock = clockAt(0);
    const store = new SessionStore({ ttlMs: 50, csrfTtlMs: 1000, clock: clock.now });
    const s = store.create('t');
    expect(store.csrfToken(s.lookupId).expiresAt).toBe(50);
    const other = new SessionStore({ clock: clock.now });
    expect(other.checkCsrf(s.lookupId, store.csrfToken(s.lookupId).token)).toBe(false);
  });
});
