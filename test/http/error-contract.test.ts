/**
 * Issue 13 §9 through the real server: every refusal answers the status the one registry
 * declares for its code, and client mistakes are never dressed up as denials (403).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorContract } from '../../src/core/errors.ts';
import {
  ROOMY_LIMITS,
  call,
  problemIssues,
  startServer,
  tempDataDir,
  type Answer,
  type ServerProcess,
} from './helpers.ts';

let dir: ReturnType<typeof tempDataDir>;
let server: ServerProcess;
let root: string;
let guest: string;

beforeAll(async () => {
  dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
  server = await startServer(dir.dataDir, dir.config);
  root = server.rootToken!;
  const made = await call(server.url, 'POST', '/api/tokens', {
    token: root,
    body: { subject: 'did:sigil:contract-guest', loa: 'guest' },
  });
  guest = (made.body as { token: string }).token;
}, 60_000);

afterAll(async () => {
  await server?.stop();
  dir?.remove();
});

const codeOf = (a: Answer) => (a.body as { code: string }).code;

describe('one error contract', () => {
  it('declares replay_unsupported a 422 (the record cannot be re-run here), not a server fault', () => {
    expect(errorContract('replay_unsupported')).toMatchObject({ status: 422 });
  });

  it('answers a malformed witness key 400 witness_invalid, not a denial', async () => {
    const challenge = await call(server.url, 'POST', '/api/canon/system/witnesses/challenge', {
      token: root,
    });
    expect(challenge.status, challenge.text).toBe(201);
    const a = await call(server.url, 'POST', '/api/canon/system/witnesses', {
      token: root,
      // 43 base64url characters, but not the canonical encoding of 32 bytes
      body: {
        challenge_id: (challenge.body as { id: string }).id,
        public_key: `${'A'.repeat(42)}B`,
        proof: 'AAAA',
      },
    });
    expect(problemIssues(a)).toEqual([]);
    expect([a.status, codeOf(a)], a.text).toEqual([400, 'witness_invalid']);
  });

  it('answers every refusal with the status its code declares', async () => {
    const attempts: Array<[string, () => Promise<Answer>]> = [
      ['no token', () => call(server.url, 'GET', '/api/tokens')],
      ['bad token', () => call(server.url, 'GET', '/api/tokens', { token: 'sgl_forged' })],
      ['guest lists tokens', () => call(server.url, 'GET', '/api/tokens', { token: guest })],
      [
        'bad JSON',
        () =>
          call(server.url, 'POST', '/api/tokens', {
            token: root,
            raw: '{"subject":',
            headers: { 'content-type': 'application/json' },
          }),
      ],
      [
        'wrong media type',
        () =>
          call(server.url, 'POST', '/api/tokens', {
            token: root,
            raw: 'subject=x',
            headers: { 'content-type': 'text/plain' },
          }),
      ],
      [
        'unknown level',
        () =>
          call(server.url, 'POST', '/api/tokens', {
            token: root,
            body: { subject: 'did:sigil:x', loa: 'superuser' },
          }),
      ],
      ['no such record', () => call(server.url, 'GET', '/api/canon/records/nope', { token: root })],
      ['no such route', () => call(server.url, 'GET', '/api/nothing-here')],
      ['proof past the log', () => call(server.url, 'GET', '/api/log/proof/inclusion?seq=999999')],
      [
        'commit without quorum',
        async () => {
          const p = await call(server.url, 'POST', '/api/canon/system/propose', {
            token: root,
            body: { change: { setting: 'irl.threshold', value: 0.5 } },
          });
          return p.status === 201
            ? call(server.url, 'POST', '/api/canon/system/commit', {
                token: root,
                body: { proposal_id: (p.body as { id: string }).id },
              })
            : p;
        },
      ],
    ];
    for (const [what, attempt] of attempts) {
      const a = await attempt();
      expect(problemIssues(a), `${what}: ${a.text}`).toEqual([]);
      const code = codeOf(a);
      expect(a.status, `${what}: ${code}`).toBe(errorContract(code).status);
      if (a.status === 403) {
        expect(['loa_insufficient', 'scope_denied', 'trust_below_threshold']).toContain(code);
      }
    }
  });
});
