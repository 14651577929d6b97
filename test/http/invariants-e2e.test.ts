/**
 * The kernel's invariants and the MCP rules firing on requests through the real server, each
 * showing the denial, its code and the rule or invariant id in the sealed decision (and, for
 * the kernel, in the problem body). The invariants covered elsewhere through HTTP:
 * separation-of-powers (roles.test.ts), no-self-grant and authority-chain-valid
 * (delegations.test.ts), quorum-legitimate (quorum-genesis.test.ts); authority-chain-valid
 * through the gateway (test/mcp/gateway.test.ts, delegation).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROOMY_LIMITS,
  checkedCall,
  startServer,
  tempDataDir,
  type Answer,
  type ServerProcess,
} from './helpers.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
let dir: ReturnType<typeof tempDataDir>;
let server: ServerProcess;
let root: string;
let agent: string;
const AGENT = 'did:sigil:e2e-inv-agent';

const req = (method: string, path: string, token?: string, body?: unknown) =>
  checkedCall(server.url, method, path, token, body);
const json = (a: Answer) => a.body as Json;

/** The sealed decision record a decision id names, read back as Root. */
async function sealed(id: string): Promise<Json> {
  const a = await req('GET', `/api/canon/records/${id}`, root);
  expect(a.status, a.text).toBe(200);
  return json(a).payload.decision as Json;
}

beforeAll(async () => {
  dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
  server = await startServer(dir.dataDir, dir.config);
  root = server.rootToken!;
  const d = await req('POST', '/api/delegations', root, {
    to: AGENT,
    actions: ['memory.read', 'memory.write'],
  });
  expect(d.status, d.text).toBe(201);
  const t = await req('POST', '/api/tokens', root, {
    subject: AGENT,
    loa: 'operator',
    signer: { type: 'ai', delegation_id: json(d).delegation_id },
  });
  expect(t.status, t.text).toBe(201);
  agent = json(t).token as string;
}, 60_000);

afterAll(async () => {
  await server?.stop();
  dir?.remove();
});

describe('invariants on live requests', () => {
  it('kernel-immutability: writing the kernel configuration is denied', async () => {
    const a = await req('POST', '/api/trust/check', root, {
      action: 'memory.write',
      target: 'kernel/config',
    });
    expect(a.status, a.text).toBe(200);
    expect(json(a)).toMatchObject({ verdict: 'deny', code: 'invariant_violated' });
    const decision = await sealed(json(a).decision_id);
    expect(decision.code).toBe('invariant_violated');
    expect(decision.violations.map((v: Json) => v.invariant)).toEqual(['kernel-immutability']);
    expect(json(a).violations).toEqual(decision.violations);
  });

  it('human-override: altering the halt path is denied', async () => {
    const a = await req('POST', '/api/trust/check', root, {
      action: 'memory.write',
      target: 'monitor/breaker',
    });
    expect(json(a)).toMatchObject({ verdict: 'deny', code: 'invariant_violated' });
    const decision = await sealed(json(a).decision_id);
    expect(decision.violations.map((v: Json) => v.invariant)).toEqual(['human-override']);
    expect(decision.violations[0].evidence.join(' ')).toMatch(/halt path altered/);
  });

  it('a kernel denial on a route: the problem body lists the sealed violations', async () => {
    // Root delegating to itself widens its own authority: no-self-grant, answered 403.
    const a = await req('POST', '/api/delegations', root, {
      to: 'did:sigil:root',
      actions: ['memory.read'],
    });
    expect([a.status, json(a).code]).toEqual([403, 'invariant_violated']);
    const decision = await sealed(json(a).decision_id);
    expect(json(a).violations).toEqual(decision.violations);
    expect(decision.violations[0]).toMatchObject({
      invariant: 'no-self-grant',
      description: expect.any(String),
      evidence: expect.any(Array),
    });
  });
});

describe('MCP rules on live requests', () => {
  it('mcp-006-consent-boundaries: an agent without its principal’s consent is denied', async () => {
    const a = await req('POST', '/api/memory/write', agent, { key: 'k', value: { a: 1 } });
    expect([a.status, json(a).code]).toEqual([403, 'mcp_rule_violated']);
    const decision = await sealed(json(a).decision_id);
    expect(decision.rules.find((r: Json) => !r.passed)).toMatchObject({
      rule: 'mcp-006-consent-boundaries',
    });
  });

  it('mcp-001-bcts-scope: an action outside the agent’s declared scope is denied', async () => {
    const c = await req('POST', '/api/consent', root, {
      bailee: AGENT,
      scope: 'memory.read, memory.write, trust.check',
      purpose: 'writeback',
    });
    expect(c.status, c.text).toBe(201);
    // delegation.read is not delegated: outside the declared scope, whatever the consent says.
    const a = await req('GET', `/api/delegations/${'ab'.repeat(32)}`, agent);
    expect([a.status, json(a).code]).toEqual([403, 'mcp_rule_violated']);
    const decision = await sealed(json(a).decision_id);
    expect(decision.rules.find((r: Json) => !r.passed)).toMatchObject({
      rule: 'mcp-001-bcts-scope',
    });
  });
});
