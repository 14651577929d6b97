/**
 * The kernel's invariants and the MCP rules firing on requests through the real server, each
 * showing the denial, its code and the rule or invariant id in the sealed decision (and, for
 * the kernel, in the problem body). Here: kernel-immutability, human-override (the halt path;
 * revoking and demoting the last human Root), consent-required, provenance-verifiable and
 * mcp-001 to mcp-006. Elsewhere through HTTP: separation-of-powers (roles.test.ts),
 * no-self-grant and authority-chain-valid (delegations.test.ts), quorum-legitimate
 * (quorum-genesis.test.ts), human-credentials (ai-credentials.test.ts); authority-chain-valid
 * through the gateway (test/mcp/gateway.test.ts, delegation).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/core/ed25519.ts';
import { mcpActionHash, signProvenance } from '../../src/gatekeeper/provenance.ts';
import type { Provenance } from '../../src/gatekeeper/types.ts';
import {
  ROOMY_LIMITS,
  agentToken,
  auditorToken,
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
let auditor: string;
let agentDelegation: string;
let delegator: string;
const AGENT = 'did:sigil:e2e-inv-agent';
const DELEGATOR = 'did:sigil:e2e-inv-delegator';

const req = (method: string, path: string, token?: string, body?: unknown) =>
  checkedCall(server.url, method, path, token, body);
const json = (a: Answer) => a.body as Json;

/** The sealed decision record a decision id names, read back by an auditor. */
async function sealed(id: string): Promise<Json> {
  const a = await req('GET', `/api/canon/records/${id}`, auditor);
  expect(a.status, a.text).toBe(200);
  return json(a).payload.decision as Json;
}

beforeAll(async () => {
  dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
  server = await startServer(dir.dataDir, dir.config);
  root = server.rootToken!;
  auditor = await auditorToken(server.url, root);
  const a = await agentToken(server.url, root, AGENT, ['memory.read', 'memory.write']);
  agent = a.token;
  agentDelegation = a.delegation_id;
  delegator = (await agentToken(server.url, root, DELEGATOR, ['delegation.create', 'memory.read']))
    .token;
}, 60_000);

/** Provenance on the wire (the trust check's `context.provenance`). */
function wire(p: Provenance): Json {
  return {
    actor: p.actor,
    action_hash: p.actionHash,
    timestamp: p.timestamp,
    ...(p.voiceKind ? { voice_kind: p.voiceKind } : {}),
    ...(p.reviewOrder ? { review_order: p.reviewOrder } : {}),
    ...(p.independence ? { independence: p.independence } : {}),
    public_key: p.publicKey,
    signature: p.signature,
  };
}

/** The agent asks the trust check about reading `key`, with `context`. */
const agentCheck = (key: string, context: Json) =>
  req('POST', '/api/trust/check', agent, {
    action: 'memory.read',
    target: `memory/${key}`,
    payload: { key },
    context,
  });

/** Root grants the agent consent for `scope` and `purpose`. */
async function consentTo(scope: string, purpose: string): Promise<void> {
  const c = await req('POST', '/api/consent', root, { bailee: AGENT, scope, purpose });
  expect(c.status, c.text).toBe(201);
}

/**
 * The sealed decision of a kernel denial that every MCP rule passed, naming `invariant` alone
 * with a description matching `why`; the answer carries the same violations.
 */
async function kernelDenial(a: Answer, invariant: string, why: RegExp): Promise<void> {
  expect(json(a).code, a.text).toBe('invariant_violated');
  const decision = await sealed(json(a).decision_id);
  expect(decision.code).toBe('invariant_violated');
  expect(decision.rules.every((r: Json) => r.passed)).toBe(true);
  expect(decision.violations.map((v: Json) => v.invariant)).toEqual([invariant]);
  expect(decision.violations[0].description).toMatch(why);
  expect(json(a).violations).toEqual(decision.violations);
}

/** The first failed MCP rule of a sealed decision. */
const failedRule = (decision: Json) => decision.rules.find((r: Json) => !r.passed)?.rule;

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

  it('consent-required: a consent in force whose scope misses the action is the kernel’s denial', async () => {
    // mcp-006 is satisfied (an active consent from the agent's principal exists); its scope,
    // memory.read, does not cover memory.write: that is the invariant's to judge.
    await consentTo('memory.read', 'retrieval');
    const a = await req('POST', '/api/memory/write', agent, { key: 'k', value: { a: 1 } });
    expect(a.status).toBe(403);
    await kernelDenial(a, 'consent-required', /scope does not cover/);
    // A human is exempt from the MCP rules, never from the invariant.
    const h = await req('POST', '/api/trust/check', root, {
      action: 'memory.read',
      target: 'memory/alice',
      context: { data_subject: 'did:sigil:alice' },
    });
    expect(json(h)).toMatchObject({ verdict: 'deny', code: 'invariant_violated' });
    const human = await sealed(json(h).decision_id);
    expect(human.violations.map((v: Json) => v.invariant)).toEqual(['consent-required']);
    // With the scope covered, the same read is allowed.
    const ok = await agentCheck('k', {});
    expect(json(ok)).toMatchObject({ verdict: 'allow' });
  });

  it('mcp-003-provenance-required: provenance Sigil signed for another call is denied', async () => {
    const first = await agentCheck('k', {});
    expect(json(first).verdict, first.text).toBe('allow');
    const signed = (await req('GET', `/api/canon/records/${json(first).decision_id}`, auditor))
      .body as Json;
    const provenance = signed.payload.request.provenance as Provenance;
    // Presented again for the very call it was signed for, it holds.
    const same = await agentCheck('k', { provenance: wire(provenance) });
    expect(json(same).verdict, same.text).toBe('allow');
    // Replayed for other arguments, the rule denies.
    const a = await agentCheck('other', { provenance: wire(provenance) });
    expect(json(a)).toMatchObject({ verdict: 'deny', code: 'mcp_rule_violated' });
    const decision = await sealed(json(a).decision_id);
    expect(decision.code).toBe('mcp_rule_violated');
    expect(failedRule(decision)).toBe('mcp-003-provenance-required');
    expect(decision.rules.find((r: Json) => !r.passed).evidence.join(' ')).toContain(
      `expected_action_hash: ${mcpActionHash('memory.read', { key: 'other' })}`,
    );
  });

  it('provenance-verifiable: provenance for this call under a key not trusted for the agent', async () => {
    const own = generateKeyPair();
    const forged = signProvenance(
      own.privateKey,
      own.publicKey,
      { type: 'ai', delegationId: agentDelegation },
      {
        actor: AGENT,
        actionHash: mcpActionHash('memory.read', { key: 'k' }),
        timestamp: new Date().toISOString(),
        voiceKind: 'synthetic',
      },
    );
    const a = await agentCheck('k', { provenance: wire(forged) });
    expect(json(a).verdict).toBe('deny');
    await kernelDenial(a, 'provenance-verifiable', /not bound to actor/);
  });

  it('mcp-005-distinguishable: a request whose output is served unmarked is denied', async () => {
    const a = await agentCheck('k', { output_marked: false });
    expect(json(a)).toMatchObject({ verdict: 'deny', code: 'mcp_rule_violated' });
    const decision = await sealed(json(a).decision_id);
    expect(decision.code).toBe('mcp_rule_violated');
    expect(failedRule(decision)).toBe('mcp-005-distinguishable');
    expect(decision.rules.find((r: Json) => !r.passed).evidence).toContain('output_marking: none');
  });

  it('mcp-004-no-identity-forge: an agent claiming a human signer is denied', async () => {
    const a = await agentCheck('k', { signer_type: 'human' });
    expect(json(a)).toMatchObject({ verdict: 'deny', code: 'mcp_rule_violated' });
    const decision = await sealed(json(a).decision_id);
    expect(decision.code).toBe('mcp_rule_violated');
    expect(failedRule(decision)).toBe('mcp-004-no-identity-forge');
    expect(decision.rules.find((r: Json) => !r.passed).evidence).toContain(
      'claimed_signer_type: human',
    );
  });

  it('mcp-002-no-self-escalation: an agent delegating to itself is denied', async () => {
    const a = await req('POST', '/api/delegations', delegator, {
      to: DELEGATOR,
      actions: ['memory.read'],
    });
    expect([a.status, json(a).code]).toEqual([403, 'mcp_rule_violated']);
    const decision = await sealed(json(a).decision_id);
    expect(decision.code).toBe('mcp_rule_violated');
    expect(failedRule(decision)).toBe('mcp-002-no-self-escalation');
    expect(decision.rules.find((r: Json) => !r.passed).evidence.join(' ')).toContain(
      `delegation.create names the actor as beneficiary: ${DELEGATOR}`,
    );
  });

  it('mcp-001-bcts-scope: an action outside the agent’s declared scope is denied', async () => {
    await consentTo('memory.read, memory.write, trust.check', 'writeback');
    // delegation.read is not delegated: outside the declared scope, whatever the consent says.
    const a = await req('GET', `/api/delegations/${'ab'.repeat(32)}`, agent);
    expect([a.status, json(a).code]).toEqual([403, 'mcp_rule_violated']);
    const decision = await sealed(json(a).decision_id);
    expect(decision.rules.find((r: Json) => !r.passed)).toMatchObject({
      rule: 'mcp-001-bcts-scope',
    });
  });
});

// Last in the file: it hands Root's standing over to another subject.
describe('human-override on changes of standing (the subject map from the token view)', () => {
  const H = 'did:sigil:e2e-inv-human';
  const mint = async (loa: string) => {
    const t = await req('POST', '/api/tokens', root, {
      subject: H,
      loa,
      signer: { type: 'human' },
    });
    expect(t.status, t.text).toBe(201);
    return { token: json(t).token as string, id: json(t).info.id as string };
  };
  const revoke = (id: string, as: string) => req('DELETE', `/api/tokens/${id}`, as);
  async function sealedAs(token: string, id: string): Promise<Json> {
    const a = await req('GET', `/api/canon/records/${id}`, token);
    expect(a.status, a.text).toBe(200);
    return json(a).payload as Json;
  }

  it('denies revoking and demoting the last human Root, allows it while another stands', async () => {
    const hRoot = await mint('root');
    const hOperator = await mint('operator');
    const tokens = json(await req('GET', '/api/tokens', root)).tokens as Json[];
    const rootId = tokens.find((t) => t.subject === 'did:sigil:root' && t.loa === 'root')!.id;

    // Two human Roots: Root may withdraw its own token, H stands.
    const handed = await revoke(rootId, root);
    expect(handed.status, handed.text).toBe(200);

    // H is now the last human Root; revoking its Root token would leave it an Operator.
    const demote = await revoke(hRoot.id, hRoot.token);
    expect([demote.status, json(demote).code]).toEqual([403, 'invariant_violated']);
    const demoted = await sealedAs(hRoot.token, json(demote).decision_id);
    expect(demoted.decision.code).toBe('invariant_violated');
    expect(demoted.decision.violations.map((v: Json) => v.invariant)).toEqual(['human-override']);
    expect(demoted.decision.violations[0].evidence).toContain(
      `demotes the last human Root: ${H} to operator`,
    );
    expect(demoted.request.effect).toEqual({ revokes: [{ subject: H, loa: 'operator' }] });
    expect(demoted.state).toMatchObject({
      human_root_count: 1,
      subjects: { [H]: { loa: 'root', human: true } },
    });
    expect(json(demote).violations).toEqual(demoted.decision.violations);
    // The sealed standing is what replay re-runs on.
    const replay = await req(
      'POST',
      `/api/decisions/${json(demote).decision_id}/replay`,
      hRoot.token,
    );
    expect([replay.status, json(replay).identical], replay.text).toEqual([200, true]);

    // Withdrawing the lower token leaves H a Root: allowed.
    const lower = await revoke(hOperator.id, hRoot.token);
    expect(lower.status, lower.text).toBe(200);

    const last = await revoke(hRoot.id, hRoot.token);
    expect([last.status, json(last).code]).toEqual([403, 'invariant_violated']);
    const revoked = await sealedAs(hRoot.token, json(last).decision_id);
    expect(revoked.decision.violations.map((v: Json) => v.invariant)).toEqual(['human-override']);
    expect(revoked.decision.violations[0].evidence).toContain(`revokes the last human Root: ${H}`);
    // The token still works: nothing was revoked.
    expect((await req('GET', '/api/whoami', hRoot.token)).status).toBe(200);
  });
});
