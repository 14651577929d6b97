/**
 * decide() for an AI caller keeps what it verified (Sigil's own provenance, delegation links,
 * decoded keys, scope answers) so that a warm agent is not re-verified per request. Each test
 * here warms those caches with allowed decisions first, then tries to get round them: a
 * tampered signature, a tampered signed field, a key no longer trusted, a revoked or expired
 * delegation, withdrawn consent. Every one must deny on the very next request.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { loadConfig } from '../../src/config/index.ts';
import {
  createKernel,
  mcpActionHash,
  signAuthorityLink,
  signProvenance,
  type AuthorityLink,
  type Provenance,
} from '../../src/gatekeeper/index.ts';
import { DEFAULT_POLICY_FLAGS, DEFAULT_TRUST_MODEL } from '../../src/policy/index.ts';
import { CONSTITUTION_BYTES } from '../../src/runtime/constitution.ts';
import {
  decide,
  type Caller,
  type DecisionRequest,
  type DecisionState,
} from '../../src/runtime/decide.ts';
import { decisionPayloadOf } from '../../src/runtime/decision-record.ts';
import { SigilRuntime } from '../../src/runtime/index.ts';

const WARM = 50;

/** Flips one base64url character of `text` (the first, to another valid character). */
function flip(text: string): string {
  return (text[0] === 'A' ? 'B' : 'A') + text.slice(1);
}

function fixture() {
  const provenanceKeys = generateKeyPair();
  const delegationKeys = generateKeyPair();
  const owner = 'did:sigil:owner';
  const signer = { type: 'ai' as const, delegationId: 'e'.repeat(64) };
  const caller: Caller = {
    subject: 'did:sigil:agent',
    loa: 'operator',
    signer,
    verified: true,
    source: 'token',
    scopes: ['mcp.tools.call'],
    delegatedBy: owner,
  };
  const now = Date.parse('2026-03-01T00:00:00Z');
  const shape = {
    bailor: owner,
    bailee: caller.subject,
    scope: 'mcp.tools.call',
    purpose: 'retrieval' as const,
    createdAt: new Date(now - 1000).toISOString(),
    expiresAt: null,
    revokedAt: null,
    id: 'c1',
  };
  const link = signAuthorityLink(delegationKeys.privateKey, delegationKeys.publicKey, {
    grantor: owner,
    grantee: caller.subject,
    permissions: ['mcp.tools.call'],
  });
  const state: DecisionState = {
    now,
    mode: 'active',
    threshold: 0.4,
    flags: { ...DEFAULT_POLICY_FLAGS },
    model: DEFAULT_TRUST_MODEL,
    rate: { allowed: true, pressure: 0 },
    kernel: createKernel(CONSTITUTION_BYTES),
    humanRootCount: 1,
    subjects: new Map(),
    systemCritical: new Set(),
    trustedKeys: new Map([
      [caller.subject, [publicKeyToRaw(provenanceKeys.publicKey)]],
      [owner, [publicKeyToRaw(delegationKeys.publicKey)]],
    ]),
    consent: {
      bailments: [{ kind: 'bailment', ...shape }],
      grants: [{ kind: 'consent', ...shape }],
    },
    authority: { chain: [link], withdrawn: null },
  };
  const provenanceFor = (payload: { path: string }, keys = provenanceKeys): Provenance =>
    signProvenance(keys.privateKey, keys.publicKey, signer, {
      actor: caller.subject,
      actionHash: mcpActionHash('mcp.tools.call', payload),
      timestamp: new Date(now).toISOString(),
      voiceKind: 'synthetic',
      reviewOrder: 'first-order',
    });
  const request = (payload: { path: string }, provenance = provenanceFor(payload)) =>
    ({
      action: 'mcp.tools.call',
      target: 'notes/read_note',
      payload,
      provenance,
      dataSubject: owner,
      outputMarking: 'gateway',
    }) satisfies DecisionRequest;
  /** Allowed decisions on the same request (and its provenance object), to warm every cache. */
  const warm = (req: DecisionRequest, s: DecisionState = state) => {
    for (let i = 0; i < WARM; i++) expect(decide(caller, req, s).verdict).toBe('allow');
  };
  return {
    caller,
    state,
    link,
    owner,
    request,
    provenanceFor,
    warm,
    provenanceKeys,
    delegationKeys,
  };
}

// Whether mcp-003 (the call's provenance) or provenance-verifiable (its signature) names it, it is refused.
const REFUSED = ['mcp_rule_violated', 'invariant_violated'];

describe('decide(), AI caller: caches never outlive what they cover', () => {
  it('a tampered signature or signed field on a copy of a warm provenance is refused', () => {
    const { caller, state, request, warm } = fixture();
    const payload = { path: 'notes/1.txt' };
    const req = request(payload);
    warm(req);
    const prov = req.provenance;
    const tampered: Provenance[] = [
      { ...prov, signature: flip(prov.signature) },
      { ...prov, timestamp: new Date(state.now + 1).toISOString() },
      { ...prov, reviewOrder: 'derivative' },
      { ...prov, voiceKind: 'system' },
      { ...prov, actionHash: mcpActionHash('mcp.tools.call', { path: 'notes/2.txt' }) },
    ];
    for (const provenance of tampered) {
      const d = decide(caller, { ...req, provenance }, state);
      expect(d.verdict).toBe('deny');
      expect(REFUSED).toContain(d.code);
    }
    // The warm original still passes: the failures were not cached against it either.
    expect(decide(caller, req, state).verdict).toBe('allow');
  });

  it('a warm provenance for another call (payload changed) is refused', () => {
    const { caller, state, request, warm } = fixture();
    const req = request({ path: 'notes/1.txt' });
    warm(req);
    const d = decide(caller, { ...req, payload: { path: 'secrets/all.txt' } }, state);
    expect(REFUSED).toContain(d.code);
    expect(d.reason).toContain('mcp-003');
  });

  it('caller-signed provenance edited in place after it verified is refused', () => {
    const { caller, state, request, warm } = fixture();
    const payload = { path: 'notes/9.txt' };
    // Not frozen, as a request body gives it: only the content-keyed cache applies.
    const mutable = { ...request(payload).provenance } as {
      -readonly [K in keyof Provenance]: Provenance[K];
    };
    const req = request(payload, mutable);
    warm(req);
    mutable.signature = flip(mutable.signature);
    expect(REFUSED).toContain(decide(caller, req, state).code);
    // Put back, it passes again; then a signed field is edited instead.
    mutable.signature = request(payload).provenance.signature;
    expect(decide(caller, req, state).verdict).toBe('allow');
    mutable.timestamp = new Date(state.now + 5).toISOString();
    expect(REFUSED).toContain(decide(caller, req, state).code);
  });

  it('a warm provenance whose key is no longer trusted for the caller is refused', () => {
    const { caller, state, request, warm } = fixture();
    const req = request({ path: 'notes/1.txt' });
    warm(req);
    const other = generateKeyPair();
    const untrusted: DecisionState = {
      ...state,
      trustedKeys: new Map([
        ...state.trustedKeys,
        [caller.subject, [publicKeyToRaw(other.publicKey)]],
      ]),
    };
    expect(REFUSED).toContain(decide(caller, req, untrusted).code);
    const unknown: DecisionState = {
      ...state,
      trustedKeys: new Map([...state.trustedKeys].filter(([did]) => did !== caller.subject)),
    };
    expect(REFUSED).toContain(decide(caller, req, unknown).code);
    // Another actor presenting the same warm provenance is refused too.
    expect(decide({ ...caller, subject: 'did:sigil:other' }, req, state).verdict).toBe('deny');
    // So is the same provenance checked for another delegation.
    const otherSigner = { type: 'ai' as const, delegationId: 'f'.repeat(64) };
    expect(decide({ ...caller, signer: otherSigner }, req, state).verdict).toBe('deny');
  });

  it('a warm delegation link with a tampered signature or widened permissions is refused', () => {
    const { caller, state, link, owner, request, warm, delegationKeys } = fixture();
    const req = request({ path: 'notes/1.txt' });
    warm(req);
    const withChain = (chain: AuthorityLink[]): DecisionState => ({
      ...state,
      authority: { chain, withdrawn: null },
    });
    const bad: AuthorityLink[] = [
      { ...link, signature: flip(link.signature) },
      { ...link, permissions: ['mcp.tools.call', 'canon.write'] },
      { ...link, permissions: [] },
      { ...link, grantor: 'did:sigil:mallory' },
    ];
    for (const l of bad) {
      const d = decide(caller, req, withChain([l]));
      expect(d.verdict).toBe('deny');
    }
    // A link object edited in place after it verified (first verified as this very object).
    const edited = signAuthorityLink(delegationKeys.privateKey, delegationKeys.publicKey, {
      grantor: owner,
      grantee: caller.subject,
      permissions: ['mcp.tools.call', 'memory.read'],
    });
    const s = withChain([edited]);
    warm(req, s);
    edited.permissions.push('canon.write');
    expect(decide(caller, req, s).verdict).toBe('deny');
    // The grantor's key no longer trusted: the warm link is refused.
    const untrusted: DecisionState = {
      ...state,
      trustedKeys: new Map([...state.trustedKeys].filter(([did]) => did === caller.subject)),
    };
    expect(decide(caller, req, untrusted).violations.map((v) => v.invariant)).toContain(
      'authority-chain-valid',
    );
  });

  it('a withdrawn (revoked, expired) chain and withdrawn consent deny on the next request', () => {
    const { caller, state, request, warm } = fixture();
    const req = request({ path: 'notes/1.txt' });
    warm(req);
    const revoked: DecisionState = {
      ...state,
      authority: {
        chain: state.authority!.chain,
        withdrawn: { description: 'Delegation is revoked', evidence: [] },
      },
    };
    expect(decide(caller, req, revoked).violations.map((v) => v.invariant)).toEqual([
      'authority-chain-valid',
    ]);
    const grant = state.consent.grants[0]!;
    const noConsent: DecisionState = {
      ...state,
      consent: {
        bailments: state.consent.bailments,
        grants: [{ ...grant, revokedAt: new Date(state.now).toISOString() }],
      },
    };
    expect(decide(caller, req, noConsent).code).toBe('mcp_rule_violated');
    const later: DecisionState = {
      ...state,
      consent: {
        bailments: state.consent.bailments,
        grants: [{ ...grant, expiresAt: new Date(state.now).toISOString() }],
      },
    };
    expect(decide(caller, req, later).code).toBe('mcp_rule_violated');
  });
});

describe('runtime.check(), AI caller: a warm agent is cut off on the next request', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sigil-ai-cache-'));
  const env = { ...process.env, SIGIL_MASTER_KEY: randomBytes(32).toString('base64') };
  let now = Date.parse('2026-03-01T00:00:00Z');
  let runtime: SigilRuntime;
  let root: Caller;

  beforeAll(async () => {
    const boot = await SigilRuntime.bootstrap({
      config: loadConfig({ env, dataDir: dir }),
      env,
      clock: () => now,
    });
    runtime = boot.runtime;
    root = await runtime.tokens.authenticate(boot.rootToken!);
  });
  afterAll(async () => {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const agentOn = async (subject: string, ttlMs?: number) => {
    const d = await runtime.delegations.create(root, {
      to: subject,
      actions: ['mcp.tools.call'],
      ...(ttlMs === undefined ? {} : { ttlMs }),
    });
    const { token } = await runtime.tokens.create(root, {
      subject,
      loa: 'operator',
      signer: { type: 'ai', delegationId: d.delegation_id },
      scopes: ['mcp.tools.call'],
    });
    const consent = await runtime.consent.grant(root, {
      bailee: subject,
      scope: 'mcp.tools.call',
      purpose: 'retrieval',
    });
    return { agent: await runtime.tokens.authenticate(token), delegation: d, consent };
  };
  const call = (i: number) => ({
    action: 'mcp.tools.call',
    target: 'notes/read_note',
    payload: { path: `notes/${i}.txt` },
  });
  const warm = async (agent: Caller) => {
    for (let i = 0; i < 10; i++)
      expect((await runtime.check(agent, call(i))).verdict).toBe('allow');
  };

  it('revoking the delegation denies the next request', async () => {
    const { agent, delegation } = await agentOn('did:sigil:agent-r');
    await warm(agent);
    await runtime.delegations.revoke(root, delegation.delegation_id);
    const d = await runtime.check(agent, call(0));
    expect(d.verdict).toBe('deny');
    expect(d.violations.map((v) => v.invariant)).toContain('authority-chain-valid');
  });

  it('an expired delegation denies the next request', async () => {
    const { agent } = await agentOn('did:sigil:agent-e', 60_000);
    await warm(agent);
    now += 60_000;
    const d = await runtime.check(agent, call(0));
    expect(d.verdict).toBe('deny');
    expect(d.reason).toMatch(/expired/i);
  });

  it('revoking consent denies the next request', async () => {
    const { agent, consent } = await agentOn('did:sigil:agent-c');
    await warm(agent);
    await runtime.consent.revoke(root, consent.id);
    const d = await runtime.check(agent, call(0));
    expect(d.verdict).toBe('deny');
    expect(d.reason).toContain('mcp-006');
  });

  it('provenance the caller presents, tampered after a warm run, is refused', async () => {
    const { agent } = await agentOn('did:sigil:agent-p');
    await warm(agent);
    // Sigil's own provenance for a call, copied with its signature altered.
    const sealed = await runtime.check(agent, call(1));
    expect(sealed.verdict).toBe('allow');
    const provenance = decisionPayloadOf((await runtime.log.get(sealed.decision_id))!).request
      .provenance!;
    expect(provenance.signature).toBeTypeOf('string');
    const d = await runtime.check(agent, {
      ...call(1),
      provenance: { ...provenance, signature: flip(provenance.signature) },
    });
    expect(REFUSED).toContain(d.code);
    // The untampered copy (not the object Sigil signed) verifies on its own.
    expect(
      (await runtime.check(agent, { ...call(1), provenance: { ...provenance } })).verdict,
    ).toBe('allow');
  });
});
