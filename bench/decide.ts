/**
 * Decision benchmark. One run reports, each beside the limit measured in the same run:
 * - decide() for a human caller (permission, scope, rate, kernel invariants, trust score):
 *   decisions/s, p50 and p99, beside the same access rule ("an operator may run modules/*")
 *   decided by @cedar-policy/cedar-wasm (policies pre-parsed, statefulIsAuthorized) and by
 *   casbin (enforceSync), and beside the bare permission + trust arithmetic;
 * - decide() for an AI caller as runtime.check() asks it (a delegation chain signed by Sigil's
 *   delegation key, provenance Sigil signed for the caller it authenticated, the six MCP
 *   rules, consent) beside raw Ed25519 verify/s, and the same with provenance the caller signs
 *   itself, a new one per request (one verification each);
 * - runtime.check() (decide + seal into the SQLite log) beside durable appends of same-sized
 *   decision records, 64 concurrent appenders each, each side timed after a warm-up of its own.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { newEnforcer, newModelFromString, StringAdapter } from 'casbin';
import { CanonLog } from '../src/canon/log.ts';
import { loadConfig } from '../src/config/index.ts';
import { canonicalJson, type JsonValue } from '../src/core/canonical.ts';
import { generateKeyPair, publicKeyToRaw, sign, verify } from '../src/core/ed25519.ts';
import {
  createKernel,
  mcpActionHash,
  signAuthorityLink,
  signProvenance,
} from '../src/gatekeeper/index.ts';
import {
  DEFAULT_POLICY_FLAGS,
  DEFAULT_TRUST_MODEL,
  authorize,
  extractFeatures,
  scoreTrust,
} from '../src/policy/index.ts';
import { CONSTITUTION_BYTES } from '../src/runtime/constitution.ts';
import {
  decide,
  type Caller,
  type DecisionRequest,
  type DecisionState,
} from '../src/runtime/decide.ts';
import { SigilRuntime } from '../src/runtime/runtime.ts';
import { figure, quantile, say } from './report.ts';

const DECIDE_N = 200_000;
const PEER_N = 20_000;
const AI_N = 20_000;
const VERIFY_N = 5_000;
const FROZEN_N = 4_000;
/** Checks, then appends, before the timed ones: JIT, the sealing and writer threads started. */
const FROZEN_WARM = 1_000;
const CONCURRENCY = 64;

interface Timing {
  rate: number;
  p50us: number;
  p99us: number;
}

/**
 * Calls `fn` n times after a warm-up (`warm`, by default `fn` itself); the rate over the whole
 * loop, quantiles per call.
 */
function timed(n: number, fn: (i: number) => unknown, warm = fn): Timing {
  for (let i = 0; i < Math.min(n, 5000); i++) warm(i);
  const samples = new Float64Array(n);
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    fn(i);
    samples[i] = performance.now() - t;
  }
  const rate = (n * 1000) / (performance.now() - started);
  return { rate, p50us: quantile(samples, 0.5) * 1000, p99us: quantile(samples, 0.99) * 1000 };
}

function baseState(): DecisionState {
  return {
    now: Date.now(),
    mode: 'active',
    threshold: 0.4,
    flags: { ...DEFAULT_POLICY_FLAGS },
    model: DEFAULT_TRUST_MODEL,
    rate: { allowed: true, pressure: 0 },
    kernel: createKernel(CONSTITUTION_BYTES),
    trustedKeys: new Map(),
    humanRootCount: 1,
    subjects: new Map(),
    consent: { bailments: [], grants: [] },
    systemCritical: new Set(['system.propose']),
  };
}

/** The access rule "an operator (LOA rank 2) may run modules/*" as a pre-parsed Cedar policy. */
function cedarDecider(subject: string): () => boolean {
  const parsed = cedar.preparsePolicySet('sigil-bench', {
    staticPolicies:
      'permit(principal, action == Action::"module.run", resource in Module::"modules") when { principal.loa >= 2 };',
  });
  if (parsed.type !== 'success') throw new Error('cedar policy did not parse');
  const call: cedar.StatefulAuthorizationCall = {
    principal: { type: 'User', id: subject },
    action: { type: 'Action', id: 'module.run' },
    resource: { type: 'Module', id: 'modules/echo' },
    context: {},
    preparsedPolicySetId: 'sigil-bench',
    entities: [
      { uid: { type: 'User', id: subject }, attrs: { loa: 2 }, parents: [] },
      {
        uid: { type: 'Module', id: 'modules/echo' },
        attrs: {},
        parents: [{ type: 'Module', id: 'modules' }],
      },
    ],
  };
  return () => {
    const answer = cedar.statefulIsAuthorized(call);
    return answer.type === 'success' && answer.response.decision === 'allow';
  };
}

/** The same rule in casbin: RBAC over the LOA ladder, keyMatch on the target. */
async function casbinDecider(subject: string): Promise<() => boolean> {
  const model = newModelFromString(
    [
      '[request_definition]',
      'r = sub, obj, act',
      '[policy_definition]',
      'p = sub, obj, act',
      '[role_definition]',
      'g = _, _',
      '[policy_effect]',
      'e = some(where (p.eft == allow))',
      '[matchers]',
      'm = g(r.sub, p.sub) && keyMatch(r.obj, p.obj) && r.act == p.act',
    ].join('\n'),
  );
  const policy = [
    'p, operator, modules/*, module.run',
    'g, mentor, operator',
    'g, root, mentor',
    `g, ${subject}, operator`,
  ].join('\n');
  const enforcer = await newEnforcer(model, new StringAdapter(policy));
  return () => enforcer.enforceSync(subject, 'modules/echo', 'module.run');
}

async function benchHumanDecide(): Promise<void> {
  const state = baseState();
  const caller: Caller = {
    subject: 'did:sigil:op',
    loa: 'operator',
    signer: { type: 'human' },
    verified: true,
    source: 'token',
  };
  const request = { action: 'module.run', target: 'modules/echo', payload: { n: 1 } };
  if (decide(caller, request, state).verdict !== 'allow') throw new Error('human decision denied');
  const viaCedar = cedarDecider(caller.subject);
  const viaCasbin = await casbinDecider(caller.subject);
  if (!viaCedar() || !viaCasbin()) throw new Error('peer engines deny the bench rule');
  const cedarRun = timed(PEER_N, viaCedar);
  const casbinRun = timed(PEER_N, viaCasbin);
  const full = timed(DECIDE_N, () => decide(caller, request, state));
  const bare = timed(DECIDE_N, () => {
    authorize('operator', request.action, DEFAULT_POLICY_FLAGS);
    const f = extractFeatures(
      { ...request, loa: 'operator', ratePressure: 0 },
      DEFAULT_TRUST_MODEL,
    );
    scoreTrust(DEFAULT_TRUST_MODEL, f.values);
  });
  figure({
    name: 'decide(), human caller',
    value: full.rate,
    unit: '/s',
    limit: { name: 'the same without gatekeeper steps', value: bare.rate },
    goal: { atLeast: 500_000 },
  });
  figure({
    name: 'decide(), human caller, p50',
    value: full.p50us,
    unit: 'µs',
    goal: { atMost: 2 },
  });
  figure({
    name: 'decide(), human caller, p99',
    value: full.p99us,
    unit: 'µs',
    goal: { atMost: 10 },
  });
  figure({
    name: 'decide() vs cedar-wasm, same rule',
    value: full.rate,
    unit: '/s',
    limit: { name: 'statefulIsAuthorized, pre-parsed', value: cedarRun.rate },
    goal: { ratioAtLeast: 1 },
    note: `cedar p50 ${cedarRun.p50us.toFixed(1)} µs`,
  });
  figure({
    name: 'decide() vs casbin, same rule',
    value: full.rate,
    unit: '/s',
    limit: { name: 'enforceSync', value: casbinRun.rate },
    goal: { ratioAtLeast: 1 },
    note: `casbin p50 ${casbinRun.p50us.toFixed(1)} µs`,
  });
}

/**
 * An AI caller as runtime.check() presents it: a token on a delegation whose one link Sigil's
 * delegation key signed for the owner, and the keys trusted for exactly those subjects.
 */
function aiFixture() {
  const provenanceKeys = generateKeyPair();
  const delegationKeys = generateKeyPair();
  const owner = 'did:sigil:owner';
  const signer = { type: 'ai' as const, delegationId: 'd'.repeat(64) };
  const caller: Caller = {
    subject: 'did:sigil:agent',
    loa: 'operator',
    signer,
    verified: true,
    source: 'token',
    scopes: ['mcp.tools.call'],
    delegatedBy: owner,
  };
  const now = Date.now();
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
    ...baseState(),
    now,
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
  const request = (i: number, keys = provenanceKeys): DecisionRequest => {
    const payload = { path: `notes/${i}.txt` };
    return {
      action: 'mcp.tools.call',
      target: 'notes/read_note',
      payload,
      provenance: signProvenance(keys.privateKey, keys.publicKey, signer, {
        actor: caller.subject,
        actionHash: mcpActionHash('mcp.tools.call', payload),
        timestamp: new Date(now).toISOString(),
        voiceKind: 'synthetic',
        reviewOrder: 'first-order',
      }),
      dataSubject: owner,
      outputMarking: 'gateway',
    };
  };
  return { caller, state, request, provenanceKeys };
}

function benchAiDecide(): void {
  const { caller, state, request, provenanceKeys } = aiFixture();
  // Requests are built (and their provenance signed) before timing: decide() is what is timed.
  const sigilSigned = Array.from({ length: AI_N }, (_, i) => request(i));
  const check = decide(caller, sigilSigned[0]!, state);
  if (check.verdict !== 'allow') throw new Error(`AI decision denied: ${check.reason}`);
  const ai = timed(AI_N, (i) => decide(caller, sigilSigned[i]!, state));
  // Provenance the caller signs: a fresh signature per request, so one verification each.
  const callerKeys = generateKeyPair();
  const callerState: DecisionState = {
    ...state,
    trustedKeys: new Map([
      ...state.trustedKeys,
      [caller.subject, [publicKeyToRaw(callerKeys.publicKey)]],
    ]),
  };
  // Unfrozen, as a request body gives them, and warmed on others: each timed one is verified.
  const callerSigned = Array.from({ length: 2 * VERIFY_N }, (_, i) => {
    const r = request(AI_N + i, callerKeys);
    return { ...r, provenance: { ...r.provenance! } };
  });
  if (decide(caller, callerSigned[VERIFY_N]!, callerState).verdict !== 'allow') {
    throw new Error('AI decision on caller-signed provenance denied');
  }
  const aiVerified = timed(
    VERIFY_N,
    (i) => decide(caller, callerSigned[i]!, callerState),
    (i) => decide(caller, callerSigned[VERIFY_N + i]!, callerState),
  );
  const message = new Uint8Array(64);
  const sig = sign(provenanceKeys.privateKey, message);
  const raw = timed(VERIFY_N, () => verify(provenanceKeys.publicKey, message, sig));
  figure({
    name: 'decide(), AI caller (chain, six MCP rules, consent)',
    value: ai.rate,
    unit: '/s',
    limit: { name: 'raw Ed25519 verify, one thread', value: raw.rate },
    goal: { atLeast: 100_000 },
    note: `p50 ${ai.p50us.toFixed(1)} µs, p99 ${ai.p99us.toFixed(1)} µs`,
  });
  figure({
    name: 'decide(), AI caller, provenance the caller signed (one verify each)',
    value: aiVerified.rate,
    unit: '/s',
    limit: { name: 'raw Ed25519 verify, one thread', value: raw.rate },
    note: `p99 ${aiVerified.p99us.toFixed(1)} µs`,
  });
}

/** Canonical JSON bytes of a value: what a record's payload costs in the log. */
const canonicalBytes = (value: unknown): number =>
  Buffer.byteLength(canonicalJson(value as JsonValue));

/**
 * The size of a real human `trust.check` decision record's payload, with the parts that make
 * it up, so the goal (<= 1 KiB, everything replay needs by reference) can be tracked run to run.
 */
function reportRecordSize(payload: JsonValue): void {
  const p = payload as { [part: string]: JsonValue };
  const parts = Object.keys(p).map((part) => `${part} ${canonicalBytes(p[part])} B`);
  figure({
    name: 'decision record payload, human trust.check (canonical JSON)',
    value: canonicalBytes(payload),
    unit: 'B',
    goal: { atMost: 1024 },
    note: parts.join(', '),
  });
}

async function benchFrozen(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sigil-bench-decide-'));
  const env = { ...process.env, SIGIL_MASTER_KEY: randomBytes(32).toString('base64') };
  try {
    const config = loadConfig({ env, dataDir: dir });
    const perLoa = { rate: 1e9, burst: 1e9 };
    config.rateLimit.perLoa = {
      guest: perLoa,
      observer: perLoa,
      operator: perLoa,
      mentor: perLoa,
      root: perLoa,
    };
    const { runtime, rootToken } = await SigilRuntime.bootstrap({ config, env });
    const root = await runtime.tokens.authenticate(rootToken);
    let next = 0;
    const worker = (until: number) => async (): Promise<void> => {
      while (next < until) {
        next += 1;
        await runtime.check(root, {
          action: 'trust.check',
          target: 'canon/user/x',
          payload: { n: next },
        });
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker(FROZEN_WARM)));
    const started = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker(FROZEN_WARM + FROZEN_N)));
    const frozen = (FROZEN_N * 1000) / (performance.now() - started);
    const sample = await runtime.log.list({ kind: 'decision', limit: 1 });
    const payload = sample.records[0]!.payload;
    await runtime.close();
    reportRecordSize(payload);

    const boundDir = mkdtempSync(join(tmpdir(), 'sigil-bench-append-'));
    try {
      await CanonLog.init({ dataDir: boundDir, env });
      const log = await CanonLog.open({ dataDir: boundDir, env });
      let i = 0;
      const appender = (until: number) => async (): Promise<void> => {
        while (i < until) {
          i += 1;
          await log.append({ kind: 'decision', tenant: 'bench', space: 'user', payload });
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, appender(FROZEN_WARM)));
      const t = performance.now();
      await Promise.all(Array.from({ length: CONCURRENCY }, appender(FROZEN_WARM + FROZEN_N)));
      const bound = (FROZEN_N * 1000) / (performance.now() - t);
      await log.close();
      figure({
        name: `runtime.check() (decide + seal), ${CONCURRENCY} concurrent`,
        value: frozen,
        unit: '/s',
        limit: { name: 'durable appends of same-sized decision records', value: bound },
        goal: { ratioAtLeast: 0.8 },
      });
    } finally {
      rmSync(boundDir, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  say('decisions (one thread)');
  await benchHumanDecide();
  benchAiDecide();
  await benchFrozen();
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
