/**
 * Decision records by reference: a record keeps the inputs particular to its decision and names
 * the policy it was made under (constitution, model, flags, system-critical actions, mode,
 * threshold) by the hash of a `decision_policy` record sealed once. What it leaves out (the
 * reasoning steps, the trust score's breakdown) replay recomputes: every decision of a varied
 * log, under three policies and across reopenings, replays to the verdict, code, steps and trust
 * the live decision had. An AI caller's consent and an allowed decision's MCP rule results are
 * named the same way, by the hash of a `decision_input` record. Old (version 1) records still
 * replay; a record naming a policy or input the log does not hold, a forged one, or one whose
 * stored row was edited or deleted, does not.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, type JsonValue } from '../../src/core/canonical.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { loadConfig } from '../../src/config/index.ts';
import { decryptBody, encryptBody, unwrapDataKey } from '../../src/canon/envelope.ts';
import { CanonLog } from '../../src/canon/log.ts';
import { resolveMasterKey } from '../../src/canon/masterkey.ts';
import { openStore } from '../../src/canon/store/index.ts';
import { utf8Decode, utf8Encode } from '../../src/core/encoding.ts';
import {
  SigilRuntime,
  replayDecision,
  type Caller,
  type DecisionPayload,
  type DecisionRequest,
  type FrozenDecision,
} from '../../src/runtime/index.ts';
import {
  inputHash,
  policyHash,
  type DecisionInput,
  type DecisionPolicy,
} from '../../src/runtime/frozen.ts';

const dir = mkdtempSync(join(tmpdir(), 'sigil-replay-records-'));
const masterKey = randomBytes(32).toString('base64');
let now = Date.parse('2026-03-01T00:00:00Z');
const clock = () => now;

/** Opens the store under the given IRL mode and threshold (a new policy each). */
async function open(mode: string, threshold: string): Promise<SigilRuntime> {
  const env = {
    ...process.env,
    SIGIL_MASTER_KEY: masterKey,
    MMF_IRL_ENFORCEMENT_MODE: mode,
    MMF_IRL_THRESHOLD: threshold,
  };
  const config = loadConfig({ env, dataDir: dir });
  const boot = await SigilRuntime.bootstrap({ config, env, clock });
  rootToken ??= boot.rootToken;
  return boot.runtime;
}
let rootToken: string | undefined;

/**
 * Seals records straight into the log, as an older Sigil (or someone holding the log key)
 * would: the runtime is closed and reopened around it.
 */
async function appendRaw(
  drafts: Array<{ kind: 'decision' | 'decision_policy' | 'decision_input'; payload: JsonValue }>,
) {
  await runtime.close();
  const env = { ...process.env, SIGIL_MASTER_KEY: masterKey };
  const log = await CanonLog.open({ dataDir: dir, env });
  const sealed = [];
  for (const d of drafts) sealed.push(await log.append({ ...d, tenant: 'default', space: 'user' }));
  await log.close();
  runtime = await open('active', '0.4');
  root = await runtime.tokens.authenticate(rootToken);
  return sealed;
}

/** Every live decision by record id, with what decide() returned. */
const live = new Map<string, FrozenDecision>();
let runtime: SigilRuntime;
let root: Caller;

async function check(caller: Caller, request: DecisionRequest): Promise<FrozenDecision> {
  now += 1000;
  const d = await runtime.check(caller, request);
  live.set(d.decision_id, d);
  return d;
}

async function allDecisionRecords(rt: SigilRuntime) {
  const out = [];
  let cursor: string | undefined;
  do {
    const page = await rt.log.list({ kind: 'decision', limit: 500, ...(cursor && { cursor }) });
    out.push(...page.records);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return out;
}

/** Callers of every kind, made once (their tokens outlive a reopening). */
let callers: { humans: Caller[]; agentToken: string } | undefined;

async function makeCallers(): Promise<NonNullable<typeof callers>> {
  const human = async (subject: string, loa: 'observer' | 'operator' | 'mentor') =>
    (await runtime.tokens.create(root, { subject, loa, signer: { type: 'human' } })).token;
  const tokens = [
    await human('did:sigil:obs', 'observer'),
    await human('did:sigil:op', 'operator'),
    await human('did:sigil:men', 'mentor'),
  ];
  const delegation = await runtime.delegations.create(root, {
    to: 'did:sigil:agent',
    actions: ['mcp.tools.call'],
  });
  const agentToken = (
    await runtime.tokens.create(root, {
      subject: 'did:sigil:agent',
      loa: 'operator',
      signer: { type: 'ai', delegationId: delegation.delegation_id },
      scopes: ['mcp.tools.call'],
    })
  ).token;
  const humans = await Promise.all(tokens.map((t) => runtime.tokens.authenticate(t)));
  return { humans, agentToken };
}

/** A varied batch: humans of every level, allowed and denied, system changes, AI callers. */
async function variedDecisions(): Promise<void> {
  callers ??= await makeCallers();
  const anon = await runtime.tokens.authenticate(undefined);
  for (const caller of [anon, ...callers.humans, root]) {
    await check(caller, { action: 'canon.read', target: 'canon/records' });
    await check(caller, { action: 'trust.check', target: 'canon/user/x', payload: { n: 1 } });
    await check(caller, {
      action: 'module.run',
      target: 'modules/echo',
      payload: { q: 'x'.repeat(300) },
    });
    await check(caller, { action: 'token.create', target: 'tokens' });
    await check(caller, { action: 'system.propose', target: 'system/x' });
    await check(caller, { action: 'no.such.action', target: 'x' });
  }
  const agent = await runtime.tokens.authenticate(callers.agentToken);
  const call = { action: 'mcp.tools.call', target: 'notes/read_note', payload: { id: 1 } };
  await check(agent, call);
  await check(agent, { ...call, claimed: { signerType: 'human' } });
  await check(agent, { ...call, action: 'module.run' });
  await check(agent, { ...call, action: 'token.create' });
}

beforeAll(async () => {
  runtime = await open('active', '0.4');
  root = await runtime.tokens.authenticate(rootToken);
});

afterAll(async () => {
  await runtime.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The policy a version 2 record names, from the log. */
const policyOf = (rt: SigilRuntime, p: DecisionPayload) =>
  'v' in p ? rt.decisionPolicies.get(p.state.policy) : undefined;

describe('decision records by reference', () => {
  it('replays every decision of a varied log, under three policies and across reopenings, to the live verdict, code, steps and trust', async () => {
    await variedDecisions();
    // The agent's requests without and then with the owner's consent.
    await runtime.consent.grant(root, {
      bailee: 'did:sigil:agent',
      scope: 'mcp.tools.call',
      purpose: 'retrieval',
    });
    await variedDecisions();
    await runtime.close();
    // Passive mode with a high threshold: allowed with would_deny; strict with a higher one: denied.
    runtime = await open('passive', '0.97');
    root = await runtime.tokens.authenticate(rootToken);
    await variedDecisions();
    await runtime.close();
    runtime = await open('strict', '0.99');
    root = await runtime.tokens.authenticate(rootToken);
    await variedDecisions();
    await runtime.close();
    // A fresh process replays what the three before it sealed, from the log alone.
    runtime = await open('active', '0.4');
    root = await runtime.tokens.authenticate(rootToken);

    const records = await allDecisionRecords(runtime);
    const codes = new Set<string>();
    let compared = 0;
    for (const record of records) {
      const payload = record.payload as unknown as DecisionPayload;
      expect('v' in payload && payload.v).toBe(3);
      const replayed = replayDecision(payload, runtime.decisionInputs);
      const { recorded, resealed } = await runtime.replay(record.id);
      expect(canonicalJson(resealed as unknown as JsonValue)).toBe(
        canonicalJson(recorded as unknown as JsonValue),
      );
      const d = live.get(record.id);
      if (d === undefined) continue; // decisions the services made on the way (token.create …)
      compared += 1;
      codes.add(`${d.verdict}:${d.code ?? ''}:${d.would_deny}`);
      expect({
        verdict: replayed.verdict,
        code: replayed.code,
        reason: replayed.reason,
        steps: replayed.steps,
        trust: replayed.trust,
        rules: replayed.rules,
        violations: replayed.violations,
        would_deny: replayed.would_deny,
        threshold: replayed.threshold,
        mode: replayed.mode,
      }).toEqual({
        verdict: d.verdict,
        code: d.code,
        reason: d.reason,
        steps: d.steps,
        trust: d.trust,
        rules: d.rules,
        violations: d.violations,
        would_deny: d.would_deny,
        threshold: d.threshold,
        mode: d.mode,
      });
    }
    expect(compared).toBe(live.size);
    for (const outcome of [
      'allow::false',
      'allow::true',
      'deny:loa_insufficient:false',
      'deny:unknown_action:false',
      'deny:mcp_rule_violated:false',
      'deny:scope_denied:false',
      'deny:trust_below_threshold:false',
    ]) {
      expect([...codes]).toContain(outcome);
    }
    // Three configurations, three policies, each sealed once however many decisions named it.
    const policies = (await runtime.log.list({ kind: 'decision_policy', limit: 100 })).records;
    expect(policies).toHaveLength(3);
    expect(new Set(policies.map((r) => (r.payload as unknown as DecisionPolicy).mode))).toEqual(
      new Set(['active', 'passive', 'strict']),
    );
  });

  it('keeps a plain human trust.check record within 1 KiB, naming its policy by the hash of its content', async () => {
    const d = await check(root, {
      action: 'trust.check',
      target: 'canon/user/x',
      payload: { n: 1 },
    });
    const record = await runtime.log.get(d.decision_id);
    const payload = record!.payload as unknown as DecisionPayload;
    expect(Buffer.byteLength(canonicalJson(record!.payload))).toBeLessThanOrEqual(1024);
    const policy = policyOf(runtime, payload)!;
    expect(policyHash(policy)).toBe((payload as { state: { policy: string } }).state.policy);
    expect(policy).toMatchObject({ mode: 'active', threshold: 0.4 });
    // Derived data is not sealed: replay recomputes it.
    expect(payload.decision).not.toHaveProperty('steps');
    expect(payload.decision).not.toHaveProperty('trust');
    expect((payload.decision as { score: number }).score).toBe(d.trust!.score);
  });

  it('still replays a version 1 record (every input and the whole decision in the record)', async () => {
    const d = await check(root, { action: 'canon.read', target: 'canon/records' });
    const v2 = (await runtime.log.get(d.decision_id))!.payload as unknown as DecisionPayload & {
      state: { policy: string };
    };
    const policy = runtime.decisionPolicies.get(v2.state.policy)!;
    const { policy: _named, ...particular } = v2.state;
    const { decision_id: _id, seq: _seq, hash: _hash, ...whole } = d;
    const v1 = JSON.parse(
      JSON.stringify({
        caller: v2.caller,
        request: v2.request,
        state: {
          ...particular,
          mode: policy.mode,
          threshold: policy.threshold,
          flags: policy.flags,
          model: policy.model,
          constitution: policy.constitution,
          system_critical: policy.system_critical,
        },
        decision: whole,
      }),
    ) as JsonValue;
    const [old] = await appendRaw([{ kind: 'decision', payload: v1 }]);
    const replay = await runtime.replayFor(root, old!.id);
    expect(replay).toMatchObject({ matches: true, identical: true });
    expect(replay.recorded).toEqual(JSON.parse(JSON.stringify(whole)));
    expect(replay.replayed.steps).toEqual(d.steps);
  });

  it('refuses to replay a record naming a policy the log does not hold, or a forged policy', async () => {
    const d = await check(root, { action: 'canon.read', target: 'canon/records' });
    const v2 = (await runtime.log.get(d.decision_id))!.payload as unknown as {
      state: { policy: string };
    };
    const policy = runtime.decisionPolicies.get(v2.state.policy)!;
    // A policy record with a looser flag: its content hash differs, so it names nothing.
    const forged = { ...policy, flags: { ...policy.flags, allow_admin_export: true } };
    const orphan = JSON.parse(JSON.stringify(v2)) as { state: { policy: string } };
    orphan.state.policy = '0'.repeat(64);
    const [, rec] = await appendRaw([
      { kind: 'decision_policy', payload: forged as unknown as JsonValue },
      { kind: 'decision', payload: orphan as unknown as JsonValue },
    ]);
    const err = await runtime.replay(rec!.id).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSigilError(err) ? err.code : err).toBe('replay_unsupported');
    // The forged policy is known under its own hash only, and the real one is unchanged.
    expect(runtime.decisionPolicies.get(v2.state.policy)).toEqual(policy);
    expect((await runtime.replay(d.decision_id)).replayed.verdict).toBe('allow');
  });

  /** An allowed AI decision of the agent (consent granted by the first test). */
  async function agentCall(): Promise<{ d: FrozenDecision; payload: AiPayload }> {
    const agent = await runtime.tokens.authenticate(callers!.agentToken);
    const d = await check(agent, {
      action: 'mcp.tools.call',
      target: 'notes/read_note',
      payload: { id: 1 },
    });
    expect(d.verdict).toBe('allow');
    const payload = (await runtime.log.get(d.decision_id))!.payload as unknown as AiPayload;
    return { d, payload };
  }
  type AiPayload = {
    state: { consent: string | JsonValue };
    decision: { rules: string | JsonValue };
  } & { [key: string]: JsonValue };

  /** Replays `id`: whether the re-run is the sealed decision, field for field. */
  async function identical(id: string): Promise<boolean> {
    const { recorded, resealed } = await runtime.replay(id);
    return (
      canonicalJson(recorded as unknown as JsonValue) ===
      canonicalJson(resealed as unknown as JsonValue)
    );
  }

  const codeOf = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => (isSigilError(e) ? e.code : String(e)),
    );

  it("names an AI caller's consent and an allowed decision's rule results by the hash of an input sealed once", async () => {
    const first = await agentCall();
    const second = await agentCall();
    for (const { payload } of [first, second]) {
      expect(typeof payload.state.consent).toBe('string');
      expect(typeof payload.decision.rules).toBe('string');
      expect(Buffer.byteLength(canonicalJson(payload))).toBeLessThanOrEqual(2048);
    }
    expect(second.payload.state.consent).toBe(first.payload.state.consent);
    expect(second.payload.decision.rules).toBe(first.payload.decision.rules);
    const { inputs } = runtime.decisionInputs;
    const consent = inputs.get(first.payload.state.consent as string)!;
    const rules = inputs.get(first.payload.decision.rules as string)!;
    expect(consent).toMatchObject({
      input: 'consent',
      value: { grants: [{ scope: 'mcp.tools.call' }] },
    });
    expect(rules.input).toBe('mcp_rules');
    expect(rules.value).toEqual(first.d.rules);
    expect(inputHash(rules)).toBe(first.payload.decision.rules);
    // Every allowed AI decision of every test so far, under three policies, named these two.
    const sealed = (await runtime.log.list({ kind: 'decision_input', limit: 100 })).records;
    expect(sealed.map((r) => inputHash(r.payload as unknown as DecisionInput)).sort()).toEqual(
      [first.payload.state.consent, first.payload.decision.rules].sort(),
    );
    // A denial keeps its rule results, evidence and all, in the record.
    const agent = await runtime.tokens.authenticate(callers!.agentToken);
    const denied = await check(agent, {
      action: 'mcp.tools.call',
      target: 'notes/read_note',
      payload: { id: 1 },
      claimed: { signerType: 'human' },
    });
    const deniedPayload = (await runtime.log.get(denied.decision_id))!.payload as AiPayload;
    expect(deniedPayload.decision.rules).toEqual(JSON.parse(JSON.stringify(denied.rules)));
    expect(await identical(first.d.decision_id)).toBe(true);
    expect((await runtime.replay(first.d.decision_id)).recorded.rules).toEqual(first.d.rules);
  });

  it('refuses to replay an AI decision naming a consent or rule set the log does not hold, and re-runs it on a forged one', async () => {
    const { d, payload } = await agentCall();
    const copy = (edit: (p: AiPayload) => void): JsonValue => {
      const p = JSON.parse(JSON.stringify(payload)) as AiPayload;
      edit(p);
      return p;
    };
    const rules = runtime.decisionInputs.inputs.get(payload.decision.rules as string)!;
    // Rule results claiming consent was never checked: a different content, so its own hash.
    const forgedRules = {
      input: 'mcp_rules',
      value: (rules.value as unknown as Array<{ [key: string]: JsonValue }>).map((r) =>
        r.rule === 'mcp-006-consent-boundaries' ? { ...r, exempt: true } : r,
      ),
    } as unknown as DecisionInput;
    // Consent for another scope than the one the agent used.
    const consent = runtime.decisionInputs.inputs.get(payload.state.consent as string)!;
    const forgedConsent = JSON.parse(JSON.stringify(consent)) as {
      input: 'consent';
      value: { bailments: Array<{ scope: string }>; grants: Array<{ scope: string }> };
    };
    for (const c of [...forgedConsent.value.bailments, ...forgedConsent.value.grants]) {
      c.scope = 'memory.read';
    }
    const [orphanConsent, orphanRules, , onForgedRules, , onForgedConsent] = await appendRaw([
      { kind: 'decision', payload: copy((p) => (p.state.consent = '0'.repeat(64))) },
      { kind: 'decision', payload: copy((p) => (p.decision.rules = '0'.repeat(64))) },
      { kind: 'decision_input', payload: forgedRules as unknown as JsonValue },
      { kind: 'decision', payload: copy((p) => (p.decision.rules = inputHash(forgedRules))) },
      { kind: 'decision_input', payload: forgedConsent as unknown as JsonValue },
      {
        kind: 'decision',
        payload: copy(
          (p) => (p.state.consent = inputHash(forgedConsent as unknown as DecisionInput)),
        ),
      },
    ]);
    expect(await codeOf(runtime.replay(orphanConsent!.id))).toBe('replay_unsupported');
    expect(await codeOf(runtime.replay(orphanRules!.id))).toBe('replay_unsupported');
    // The forged rule set is not what decide() finds: the record does not replay to itself.
    expect(await identical(onForgedRules!.id)).toBe(false);
    // Replay re-runs the decision on the consent it names: without consent for the scope, denied.
    const rerun = await runtime.replay(onForgedConsent!.id);
    expect(rerun.recorded.verdict).toBe('allow');
    expect(rerun.replayed.verdict).toBe('deny');
    // The real inputs are unchanged.
    expect(await identical(d.decision_id)).toBe(true);
  });

  it('fails validate, and replay of the decisions naming it, when the stored row of a rule set is edited or deleted', async () => {
    const { d, payload } = await agentCall();
    const [input] = (await runtime.log.list({ kind: 'decision_input', limit: 100 })).records.filter(
      (r) => inputHash(r.payload as unknown as DecisionInput) === payload.decision.rules,
    );
    await runtime.close();
    const env = { ...process.env, SIGIL_MASTER_KEY: masterKey };
    const store = await openStore({ dataDir: dir, env }, { create: false });
    const dataKey = unwrapDataKey(
      (await store.readMeta())!.wrappedKey,
      resolveMasterKey({ dataDir: dir, env, create: false }).kek,
    );
    await store.close();
    const db = new Database(join(dir, 'canon.db'));
    const row = db.prepare('SELECT * FROM records WHERE seq = ?').get(input!.seq) as {
      id: string;
      body: Buffer;
    } & { [column: string]: unknown };
    const text = utf8Decode(decryptBody(dataKey, input!.seq, row.id, row.body));
    const edited = text.replace('"exempt":false', '"exempt":true');
    expect(edited).not.toBe(text);
    /** Validates the log and replays `d` with the row changed by `change`, then restores it. */
    const withRow = async (change: () => void) => {
      change();
      try {
        const log = await CanonLog.open({ dataDir: dir, env });
        const validation = await log.validate({ workers: 0 });
        await log.close();
        runtime = await open('active', '0.4');
        const replay = await codeOf(runtime.replay(d.decision_id)).finally(() => runtime.close());
        return { validation, replay };
      } finally {
        db.prepare('DELETE FROM records WHERE seq = ?').run(input!.seq);
        db.prepare(
          `INSERT INTO records (${Object.keys(row).join(', ')}) VALUES (${Object.keys(row)
            .map(() => '?')
            .join(', ')})`,
        ).run(...Object.values(row));
      }
    };
    const update = db.prepare('UPDATE records SET body = ? WHERE seq = ?');
    const reencrypted = await withRow(() => {
      update.run(encryptBody(dataKey, input!.seq, row.id, utf8Encode(edited)), input!.seq);
    });
    // The edited rule set reads as another content (its own hash): the decision names nothing.
    expect(reencrypted).toEqual({
      validation: expect.objectContaining({ ok: false, seq: input!.seq, code: 'hash_mismatch' }),
      replay: 'replay_unsupported',
    });
    const deleted = await withRow(() => {
      db.prepare('DELETE FROM records WHERE seq = ?').run(input!.seq);
    });
    expect(deleted).toEqual({
      validation: expect.objectContaining({ ok: false, seq: input!.seq, code: 'missing_record' }),
      replay: 'replay_unsupported',
    });
    db.close();
    // Restored, it validates and replays again.
    const log = await CanonLog.open({ dataDir: dir, env });
    expect((await log.validate({ workers: 0 })).ok).toBe(true);
    await log.close();
    runtime = await open('active', '0.4');
    root = await runtime.tokens.authenticate(rootToken);
    expect(await identical(d.decision_id)).toBe(true);
  });
});
