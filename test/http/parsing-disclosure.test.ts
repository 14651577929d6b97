/**
 * Issue 13 §8, as an attacker tries it against the real server: a body that names a member
 * twice (so a checker and the sealer could read different values) is refused before anything is
 * decided or sealed, and no answer to an anonymous or low caller names a filesystem path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROOMY_LIMITS,
  call,
  problemIssues,
  startServer,
  tempDataDir,
  type ServerProcess,
} from './helpers.ts';

let dir: ReturnType<typeof tempDataDir>;
let server: ServerProcess;
let root: string;
let mentor: string;

async function logSize(): Promise<number> {
  const cp = await call(server.url, 'GET', '/api/log/checkpoint');
  return (cp.body as { size: number }).size;
}

beforeAll(async () => {
  dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
  server = await startServer(dir.dataDir, dir.config);
  root = server.rootToken!;
  const made = await call(server.url, 'POST', '/api/tokens', {
    token: root,
    body: { subject: 'did:sigil:dup-mentor', loa: 'mentor' },
  });
  expect(made.status, made.text).toBe(201);
  mentor = (made.body as { token: string }).token;
}, 60_000);

afterAll(async () => {
  await server?.stop();
  dir?.remove();
});

describe('duplicate JSON members', () => {
  const attempts: Array<{ path: string; raw: string; who: () => string }> = [
    // a Guest-level subject that a naive parser would mint as Root (last value wins)
    {
      path: '/api/tokens',
      raw: '{"subject":"did:sigil:dup","loa":"guest","loa":"root"}',
      who: () => root,
    },
    // a payload whose sealed value differs from the one a reviewer saw
    {
      path: '/api/canon/user/write',
      raw: '{"payload":{"pay":"alice","amount":1,"pay":"mallory"}}',
      who: () => mentor,
    },
    // the same name spelled with an escape
    {
      path: '/api/trust/check',
      raw: '{"action":"canon.read","target":"canon/x","\\u0061ction":"canon.user.write"}',
      who: () => mentor,
    },
    // deep inside a nested value
    {
      path: '/api/canon/user/write',
      raw: '{"payload":{"a":[{"b":{"c":1,"c":2}}]}}',
      who: () => mentor,
    },
  ];

  it('are refused with bad_request and nothing is sealed', async () => {
    const before = await logSize();
    for (const a of attempts) {
      const answer = await call(server.url, 'POST', a.path, {
        token: a.who(),
        raw: a.raw,
        headers: { 'content-type': 'application/json' },
      });
      expect(answer.status, `${a.path} ${a.raw}: ${answer.text}`).toBe(400);
      expect(problemIssues(answer)).toEqual([]);
      expect((answer.body as { code: string }).code).toBe('bad_request');
    }
    const tokens = await call(server.url, 'GET', '/api/tokens', { token: root });
    expect(JSON.stringify(tokens.body)).not.toContain('did:sigil:dup"');
    // A fresh checkpoint may be signed on demand, but no record was appended.
    expect(await logSize()).toBe(before);
  });

  it('while the same bodies with each name once are accepted', async () => {
    const ok = await call(server.url, 'POST', '/api/canon/user/write', {
      token: mentor,
      raw: '{"payload":{"pay":"alice","amount":1}}',
      headers: { 'content-type': 'application/json' },
    });
    expect(ok.status, ok.text).toBe(201);
  });
});

describe('whoami discloses no filesystem paths', () => {
  it('to the anonymous caller, a Guest or an Observer', async () => {
    const guest = await call(server.url, 'POST', '/api/tokens', {
      token: root,
      body: { subject: 'did:sigil:path-guest', loa: 'guest' },
    });
    const observer = await call(server.url, 'POST', '/api/tokens', {
      token: root,
      body: { subject: 'did:sigil:path-observer', loa: 'observer' },
    });
    const answers = [
      await call(server.url, 'GET', '/api/whoami'),
      await call(server.url, 'GET', '/api/whoami', {
        token: (guest.body as { token: string }).token,
      }),
      await call(server.url, 'GET', '/api/trust/status', {
        token: (observer.body as { token: string }).token,
      }),
    ];
    for (const a of answers) {
      expect(a.status, a.text).toBe(200);
      expect(a.text).not.toContain(dir.dataDir);
      expect(a.text).not.toMatch(/license\.json|_path|\/tmp\/|[A-Za-z]:\\\\/);
    }
    // The runtime's standing, and nothing about where its license lives.
    const runtime = (answers[0]!.body as { runtime: Record<string, unknown> }).runtime;
    expect(Object.keys(runtime).sort()).toEqual([
      'expires_at',
      'loa',
      'reason',
      'source',
      'subject',
    ]);
    expect(runtime).toMatchObject({ loa: 'root', source: 'license' });
  });
});
