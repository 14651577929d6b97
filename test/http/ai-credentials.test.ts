/**
 * Issue 13 §3, as an attacker would try it through the real server: an AI token holding root LOA,
 * every credential scope and its principal's consent still never makes a credential — no token,
 * no license, no witness — and each refusal is a sealed decision with one stable code. The same
 * requests from a human Root succeed, so the refusal is the signer's, not the route's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import {
  auditorToken,
  call,
  ROOMY_LIMITS,
  startServer,
  tempDataDir,
  type Answer,
  type ServerProcess,
} from './helpers.ts';

const AGENT = 'did:sigil:agent-forger';
const CREDENTIAL_SCOPES = ['token.create', 'license.generate', 'witness.enrol', 'consent.grant'];

let dir: ReturnType<typeof tempDataDir>;
let server: ServerProcess;
let root: string;
let agent: string;
let auditor: string;

const post = (token: string, path: string, body: unknown) =>
  call(server.url, 'POST', path, { token, body });

beforeAll(async () => {
  dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
  server = await startServer(dir.dataDir, dir.config);
  root = server.rootToken!;
  const delegation = await post(root, '/api/delegations', {
    to: AGENT,
    actions: CREDENTIAL_SCOPES,
  });
  expect(delegation.status, delegation.text).toBe(201);
  const created = await post(root, '/api/tokens', {
    subject: AGENT,
    loa: 'root',
    signer: {
      type: 'ai',
      delegation_id: (delegation.body as { delegation_id: string }).delegation_id,
    },
    scopes: CREDENTIAL_SCOPES,
  });
  expect(created.status, created.text).toBe(201);
  agent = (created.body as { token: string }).token;
  const consent = await post(root, '/api/consent', {
    bailee: AGENT,
    scope: CREDENTIAL_SCOPES.join(', '),
    purpose: 'writeback',
  });
  expect(consent.status, consent.text).toBe(201);
  auditor = await auditorToken(server.url, root);
});
afterAll(async () => {
  await server?.stop();
  dir?.remove();
});

/** The refusal every credential request by the agent must get, with its sealed decision. */
async function expectRefused(answer: Answer): Promise<void> {
  expect(answer.status, answer.text).toBe(403);
  const problem = answer.body as { code: string; decision_id: string };
  expect(problem.code).toBe('credential_requires_human');
  const decision = await call(server.url, 'GET', `/api/canon/records/${problem.decision_id}`, {
    token: auditor,
  });
  expect(decision.status, decision.text).toBe(200);
  const record = decision.body as { kind: string; payload: Record<string, unknown> };
  expect(record.kind).toBe('decision');
  expect(JSON.stringify(record.payload)).toContain('human-credentials');
}

describe('AI callers never make credentials', () => {
  it('refuses a token, even for a human-typed Root of another DID', async () => {
    await expectRefused(
      await post(agent, '/api/tokens', { subject: 'did:sigil:victim', loa: 'root' }),
    );
    await expectRefused(
      await post(agent, '/api/tokens', { subject: 'did:sigil:helper', loa: 'guest' }),
    );
    const list = await call(server.url, 'GET', '/api/tokens', { token: root });
    const subjects = (list.body as { tokens: Array<{ subject: string }> }).tokens.map(
      (t) => t.subject,
    );
    expect(subjects).not.toContain('did:sigil:victim');
    expect(subjects).not.toContain('did:sigil:helper');
  });

  it('refuses a license and a witness key', async () => {
    await expectRefused(
      await post(agent, '/api/license/create', { subject: 'did:sigil:victim', loa: 'mentor' }),
    );
    const key = toBase64Url(publicKeyToRaw(generateKeyPair().publicKey));
    await expectRefused(await post(agent, '/api/canon/system/witnesses/challenge', {}));
    await expectRefused(
      await post(agent, '/api/canon/system/witnesses', {
        challenge_id: 'c'.repeat(32),
        public_key: key,
        proof: 'AAAA',
      }),
    );
  });

  it('lets a human Root make the same credentials', async () => {
    const token = await post(root, '/api/tokens', { subject: 'did:sigil:helper', loa: 'guest' });
    expect(token.status, token.text).toBe(201);
    const license = await post(root, '/api/license/create', {
      subject: 'did:sigil:helper',
      loa: 'observer',
    });
    expect(license.status, license.text).toBe(201);
  });
});
