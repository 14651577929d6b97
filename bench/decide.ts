/**
 * Decision benchmark. One run prints, each beside the limit measured in the same run:
 * - decide() alone for a human caller (permission, rate, kernel invariants, trust score):
 *   decisions/s and p99 latency, next to the same decision without the gatekeeper steps
 *   (the bare permission + trust arithmetic) so the cost of the gatekeeper is visible;
 * - decide() for an AI caller (the six MCP rules, whose provenance check is an Ed25519 verify)
 *   next to raw Ed25519 verify/s;
 * - runtime.check() (decide + freeze into the SQLite log) next to the canon append bound on
 *   the same machine (durable appends/s of a same-sized record, 64 concurrent appenders).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CanonLog } from '../src/canon/log.ts';
import { loadConfig } from '../src/config/index.ts';
import { generateKeyPair, publicKeyToRaw, sign, verify } from '../src/core/ed25519.ts';
import { createKernel, mcpActionHash, signProvenance } from '../src/gatekeeper/index.ts';
import {
  DEFAULT_POLICY_FLAGS,
  DEFAULT_TRUST_MODEL,
  authorize,
  extractFeatures,
  scoreTrust,
} from '../src/policy/index.ts';
import { CONSTITUTION_BYTES } from '../src/runtime/constitution.ts';
import { decide, type Caller, type DecisionState } from '../src/runtime/decide.ts';
import { SigilRuntime } from '../src/runtime/runtime.ts';

const DECIDE_N = 100_000;
const AI_N = 5_000;
const FROZEN_N = 4_000;
const CONCURRENCY = 64;

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const pct = (a: number, b: number): string => `${Math.round((100 * a) / b)}%`;

function timed(n: number, fn: (i: number) => void): { rate: number; p99us: number } {
  const samples = new Float64Array(n);
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    fn(i);
    samples[i] = performance.now() - t;
  }
  const rate = (n * 1000) / (performance.now() - started);
  samples.sort();
  return { rate, p99us: samples[Math.floor(0.99 * n)]! * 1000 };
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

function benchDecide(): void {
  const state = baseState();
  const caller: Caller = {
    subject: 'did:sigil:op',
    loa: 'operator',
    signer: { type: 'human' },
    verified: true,
    source: 'token',
  };
  const request = { action: 'module.run', target: 'modules/echo', payload: { n: 1 } };
  for (let i = 0; i < 5000; i++) decide(caller, request, state);
  const full = timed(DECIDE_N, () => decide(caller, request, state));
  const bare = timed(DECIDE_N, () => {
    authorize('operator', request.action, DEFAULT_POLICY_FLAGS);
    const f = extractFeatures(
      { ...request, loa: 'operator', ratePressure: 0 },
      DEFAULT_TRUST_MODEL,
    );
    scoreTrust(DEFAULT_TRUST_MODEL, f.values);
  });
  console.log(
    `  decide(), human caller: ${fmt(full.rate)} decisions/s, p99 ${full.p99us.toFixed(1)} µs` +
      ` (goal >= 200,000/s, p99 <= 50 µs) | without gatekeeper steps: ${fmt(bare.rate)}/s,` +
      ` p99 ${bare.p99us.toFixed(1)} µs | ratio ${pct(full.rate, bare.rate)}`,
  );
}

function benchAiDecide(): void {
  const keys = generateKeyPair();
  const delegation = { type: 'ai' as const, delegationId: 'd'.repeat(64) };
  const caller: Caller = {
    subject: 'did:sigil:agent',
    loa: 'operator',
    signer: delegation,
    verified: true,
    source: 'token',
    scopes: ['mcp.tools.call'],
  };
  const now = Date.now();
  const shape = {
    bailor: 'did:sigil:owner',
    bailee: caller.subject,
    scope: 'mcp.tools.call',
    purpose: 'retrieval' as const,
    createdAt: new Date(now - 1000).toISOString(),
    expiresAt: null,
    revokedAt: null,
    id: 'c1',
  };
  const state: DecisionState = {
    ...baseState(),
    trustedKeys: new Map([[caller.subject, [publicKeyToRaw(keys.publicKey)]]]),
    consent: {
      bailments: [{ kind: 'bailment', ...shape }],
      grants: [{ kind: 'consent', ...shape }],
    },
  };
  // A fresh provenance per call, signed before timing: each decision verifies one signature.
  const requests = Array.from({ length: AI_N }, (_, i) => {
    const payload = { path: `notes/${i}.txt` };
    const provenance = signProvenance(keys.privateKey, keys.publicKey, delegation, {
      actor: caller.subject,
      actionHash: mcpActionHash('mcp.tools.call', payload),
      timestamp: new Date(now).toISOString(),
      voiceKind: 'synthetic',
    });
    return {
      action: 'mcp.tools.call',
      target: 'notes/read_note',
      payload,
      provenance,
      dataSubject: 'did:sigil:owner',
      outputMarking: 'gateway' as const,
    };
  });
  const check = decide(caller, requests[0]!, state);
  if (check.verdict !== 'allow') throw new Error(`AI decision denied: ${check.reason}`);
  const ai = timed(AI_N, (i) => decide(caller, requests[i]!, state));
  const message = new Uint8Array(64);
  const sig = sign(keys.privateKey, message);
  const raw = timed(AI_N, () => verify(keys.publicKey, message, sig));
  console.log(
    `  decide(), AI caller (6 MCP rules, provenance verify): ${fmt(ai.rate)} decisions/s,` +
      ` p99 ${ai.p99us.toFixed(1)} µs | raw Ed25519 verify: ${fmt(raw.rate)}/s | ratio ${pct(ai.rate, raw.rate)}`,
  );
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
    const worker = async (): Promise<void> => {
      while (next < FROZEN_N) {
        next += 1;
        await runtime.check(root, {
          action: 'trust.check',
          target: 'canon/user/x',
          payload: { n: next },
        });
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const frozen = (FROZEN_N * 1000) / (performance.now() - started);
    const sample = await runtime.log.list({ kind: 'decision', limit: 1 });
    const payload = sample.records[0]!.payload;
    await runtime.close();

    const boundDir = mkdtempSync(join(tmpdir(), 'sigil-bench-append-'));
    try {
      await CanonLog.init({ dataDir: boundDir, env });
      const log = await CanonLog.open({ dataDir: boundDir, env });
      let i = 0;
      const appender = async (): Promise<void> => {
        while (i < FROZEN_N) {
          i += 1;
          await log.append({ kind: 'decision', tenant: 'bench', space: 'user', payload });
        }
      };
      const t = performance.now();
      await Promise.all(Array.from({ length: CONCURRENCY }, appender));
      const bound = (FROZEN_N * 1000) / (performance.now() - t);
      await log.close();
      console.log(
        `  runtime.check() (decide + freeze into SQLite, ${CONCURRENCY} concurrent): ${fmt(frozen)} decisions/s` +
          ` | canon append bound (same-sized decision records): ${fmt(bound)} appends/s` +
          ` | ratio ${pct(frozen, bound)} (goal >= 80%)`,
      );
    } finally {
      rmSync(boundDir, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  console.log('decisions');
  benchDecide();
  benchAiDecide();
  await benchFrozen();
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
