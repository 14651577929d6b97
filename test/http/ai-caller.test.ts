/** AI callers over HTTP: answers marked as AI-mediated, identity from the token only. */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { buildServer } from '../../src/http/index.ts';
import { SigilRuntime } from '../../src/runtime/index.ts';
import { MASTER_KEY, ROOMY_LIMITS, tempDataDir } from './helpers.ts';

let dir: ReturnType<typeof tempDataDir>;
let runtime: SigilRuntime;
let app: FastifyInstance;
let root: string;

beforeAll(async () => {
  dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
  const env = { PATH: process.env.PATH, SIGIL_MASTER_KEY: MASTER_KEY, SIGIL_CONFIG: dir.config };
  const boot = await SigilRuntime.bootstrap({
    config: loadConfig({ env, dataDir: dir.dataDir }),
    env,
  });
  runtime = boot.runtime;
  root = boot.rootToken!;
  app = buildServer(runtime, { logLevel: 'silent' });
  await app.ready();
}, 60_000);

afterAll(async () => {
  await app?.close();
  await runtime?.close();
  dir?.remove();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('AI callers', () => {
  it('get every answer marked as AI-mediated, and may write memory with consent', async () => {
    const rootCaller = await runtime.tokens.authenticate(root);
    const delegation = await runtime.delegations.create(rootCaller, {
      to: 'did:sigil:http-agent',
      actions: ['memory.write', 'memory.read', 'trust.check'],
    });
    const { token } = await runtime.tokens.create(rootCaller, {
      subject: 'did:sigil:http-agent',
      loa: 'operator',
      signer: { type: 'ai', delegationId: delegation.delegation_id },
      scopes: ['memory.*'],
    });
    await runtime.consent.grant(rootCaller, {
      bailee: 'did:sigil:http-agent',
      // Consent scopes use the gatekeeper's scope language: actions by name.
      scope: 'memory.write, memory.read',
      purpose: 'writeback',
    });
    const write = await app.inject({
      method: 'POST',
      url: '/api/memory/write',
      headers: bearer(token),
      payload: { key: 'notes', value: { a: 1 } },
    });
    expect(write.statusCode, write.body).toBe(201);
    expect(write.headers['sigil-output-marker']).toBe('sigil:ai-mediated');
    const human = await app.inject({ method: 'GET', url: '/api/whoami', headers: bearer(root) });
    expect(human.headers['sigil-output-marker']).toBeUndefined();
    // A claim to be human is refused as identity forgery (mcp-004), marked all the same.
    const forged = await app.inject({
      method: 'POST',
      url: '/api/trust/check',
      headers: bearer(token),
      payload: { action: 'memory.read', target: 'memory/notes', context: { signer_type: 'human' } },
    });
    expect(forged.statusCode).toBe(403);
    expect(forged.headers['sigil-output-marker']).toBe('sigil:ai-mediated');
  });
});
