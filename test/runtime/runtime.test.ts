import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CanonLog } from '../../src/canon/log.ts';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { verifyRecord } from '../../src/canon/record.ts';
import { loadConfig } from '../../src/config/index.ts';
import { signFindings } from '../../src/gatekeeper/index.ts';
import { signAttestation } from '../../src/quorum/index.ts';
import { sealGenesis, type TestWitness } from '../quorum/ceremony.ts';
import {
  ROOT_SUBJECT,
  SigilRuntime,
  replayDecision,
  type Caller,
  type DecisionPayload,
} from '../../src/runtime/index.ts';

const AI = { type: 'ai' as const, delegationId: 'c'.repeat(64) };

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isSigilError(err) ? err.code : err).toBe(code);
}

function setup(extraEnv: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sigil-rt-'));
  const env = { ...process.env, SIGIL_MASTER_KEY: randomBytes(32).toString('base64'), ...extraEnv };
  let now = Date.parse('2026-01-01T00:00:00Z');
  const clock = () => now;
  const advance = (ms: number) => {
    now += ms;
  };
  const config = () => loadConfig({ env, dataDir: dir });
  return { dir, env, clock, advance, config };
}

describe('SigilRuntime', () => {
  const ctx = setup();
  let runtime: SigilRuntime;
  let rootToken: string;
  let root: Caller;

  beforeAll(async () => {
    const boot = await SigilRuntime.bootstrap({
      config: ctx.config(),
      env: ctx.env,
      clock: ctx.clock,
    });
    runtime = boot.runtime;
    rootToken = boot.rootToken!;
    root = await runtime.tokens.authenticate(rootToken);
  });
  afterAll(async () => {
    await runtime.close();
    rmSync(ctx.dir, { recursive: true, force: true });
  });
  /** Root delegates `actions` to `agent`; the signer an AI token built on it carries. */
  const delegatedTo = async (agent: string, actions = ['mcp.tools.call']) => {
    const d = await runtime.delegations.create(root, { to: agent, actions });
    return { type: 'ai' as const, delegationId: d.delegation_id };
  };

  it('bootstraps one Root license (mode 0600) and a Root token', () => {
    expect(runtime.identity()).toMatchObject({
      loa: 'root',
      source: 'license',
      subject: ROOT_SUBJECT,
    });
    expect(statSync(join(ctx.dir, 'license.json')).mode & 0o777).toBe(0o600);
    expect(root).toMatchObject({
      subject: ROOT_SUBJECT,
      loa: 'root',
      verified: true,
      source: 'token',
    });
  });

  it('treats a caller without credentials as an anonymous Guest that may read', async () => {
    const anon = await runtime.tokens.authenticate(undefined);
    expect(anon).toMatchObject({ loa: 'guest', verified: false, source: 'anonymous' });
    expect(
      (await runtime.check(anon, { action: 'canon.read', target: 'canon/records' })).verdict,
    ).toBe('allow');
    expect((await runtime.check(anon, { action: 'trust.check', target: 'x' })).code).toBe(
      'loa_insufficient',
    );
  });

  it('refuses to initialise an existing store', async () => {
    await rejects(
      SigilRuntime.bootstrap({ config: ctx.config(), env: ctx.env, refuseExisting: true }),
      'store_exists',
    );
  });

  it('stores only token hashes, and rejects revoked, expired and unknown tokens', async () => {
    const { token, info } = await runtime.tokens.create(root, {
      subject: 'did:sigil:alice',
      loa: 'operator',
      signer: { type: 'human' },
      ttlMs: 60_000,
    });
    const alice = await runtime.tokens.authenticate(token);
    expect(alice).toMatchObject({ subject: 'did:sigil:alice', loa: 'operator', tokenId: info.id });
    expect(JSON.stringify(await runtime.tokens.list(root))).not.toContain(token);
    for (const file of readdirSync(ctx.dir).filter((f) => f.startsWith('canon'))) {
      expect(readFileSync(join(ctx.dir, file)).includes(token)).toBe(false);
    }
    ctx.advance(60_000);
    await rejects(runtime.tokens.authenticate(token), 'token_invalid');
    const second = await runtime.tokens.create(root, {
      subject: 'did:sigil:bob',
      loa: 'observer',
      signer: { type: 'human' },
    });
    await runtime.tokens.revoke(root, second.info.id);
    await rejects(runtime.tokens.authenticate(second.token), 'token_invalid');
    await rejects(runtime.tokens.authenticate(`sgl_${'A'.repeat(43)}`), 'token_invalid');
    await rejects(runtime.tokens.authenticate('not a token'), 'token_invalid');
  });

  it('never lets a token carry more than its issuer, nor a non-Root mint tokens', async () => {
    const { token } = await runtime.tokens.create(root, {
      subject: 'did:sigil:mentor',
      loa: 'mentor',
      signer: { type: 'human' },
    });
    const mentor = await runtime.tokens.authenticate(token);
    await rejects(
      runtime.tokens.create(mentor, {
        subject: 'did:sigil:x',
        loa: 'root',
        signer: { type: 'human' },
      }),
      'loa_insufficient',
    );
  });

  it('refuses a second Root license (single root)', async () => {
    await rejects(
      runtime.licenses.generate(root, { subject: 'did:sigil:other', loa: 'root', expiresAt: null }),
      'single_root_violation',
    );
    const lic = await runtime.licenses.generate(root, {
      subject: 'did:sigil:carol',
      loa: 'mentor',
      expiresAt: '2027-01-01T00:00:00Z',
    });
    expect(await runtime.licenses.validate(lic)).toMatchObject({ ok: true, loa: 'mentor' });
    const tampered = { ...lic, loa: 'root' };
    expect(await runtime.licenses.validate(tampered)).toMatchObject({
      ok: false,
      reason: 'license_tampered',
    });
  });

  it('writes user records after a decision, and turns a system write into a proposal', async () => {
    const out = await runtime.records.write(root, { payload: { note: 'hello' } });
    expect(out.record?.links).toContainEqual({ rel: 'decision', id: out.decision_id });
    expect(await runtime.records.get(root, out.record!.id)).toMatchObject({
      payload: { note: 'hello' },
    });
    const sys = await runtime.records.write(root, { payload: { flag: true }, space: 'system' });
    expect(sys.record).toBeUndefined();
    expect(sys.proposal?.status).toBe('pending');
  });

  it('seals a write with its decision in one commit; a write refused at the append leaves its decision sealed', async () => {
    const decisions = async () => {
      const page = await runtime.log.list({ kind: 'decision', limit: 1000 });
      return page.records.filter((r) => JSON.stringify(r.payload).includes('canon/user/dup-1'));
    };
    const appendMany = vi.spyOn(runtime.log as unknown as CanonLog, 'appendMany');
    const out = await runtime.records.write(root, { id: 'dup-1', payload: { n: 1 } });
    const decision = await runtime.log.get(out.decision_id);
    // The decision just before its record, in one transaction.
    expect(decision!.seq).toBe(out.record!.seq - 1);
    expect(appendMany).toHaveBeenCalledTimes(1);
    expect(appendMany.mock.calls[0]![0].map((d) => d.kind)).toEqual(['decision', 'user_data']);
    appendMany.mockRestore();
    expect(await decisions()).toHaveLength(1);
    const size = await runtime.log.size();
    // The id is taken: the append fails, and the allowed decision is sealed alone all the same.
    await expect(runtime.records.write(root, { id: 'dup-1', payload: { n: 2 } })).rejects.toThrow();
    expect(await decisions()).toHaveLength(2);
    expect(await runtime.log.size()).toBe(size + 1);
    expect(await runtime.records.get(root, 'dup-1')).toMatchObject({ payload: { n: 1 } });
  });

  let witnesses: TestWitness[] | undefined;
  /** Genesis, sealed once for the tests that need a quorum. */
  const quorum = async () => (witnesses ??= await sealGenesis(runtime, root));

  it('applies a system change only after genesis, with Root + 3 human Mentor votes', async () => {
    const proposal = await runtime.quorum.propose(root, { setting: 'irl.threshold', value: 0.5 });
    await rejects(runtime.quorum.commit(root, proposal.id), 'genesis_required');
    const ws = await quorum();
    const vote = (w: TestWitness, signer: typeof AI | { type: 'human' } = { type: 'human' }) =>
      runtime.quorum.attest(w.caller, {
        proposal_id: proposal.id,
        ...signAttestation(proposal, w.did, w.keys.privateKey, signer),
      });
    await vote(ws[0]!);
    await vote(ws[1]!);
    await vote(ws[2]!);
    await rejects(runtime.quorum.commit(root, proposal.id), 'quorum_required');
    // An AI-typed signature by an enrolled key never counts.
    await rejects(vote(ws[3]!, AI), 'signature_invalid');
    await rejects(vote(ws[1]!), 'duplicate_attestation');
    // Root voting with Mentor 3's key votes as Root, who has voted: it adds nothing.
    await rejects(vote({ ...ws[3]!, caller: root, did: root.subject }), 'duplicate_attestation');
    await rejects(runtime.quorum.commit(root, proposal.id), 'quorum_required');
    await vote(ws[3]!);
    const { record } = await runtime.quorum.commit(root, proposal.id);
    expect(record.kind).toBe('system_config');
    expect((record.payload as { attestations: unknown[] }).attestations).toHaveLength(4);
    await rejects(runtime.quorum.commit(root, proposal.id), 'proposal_not_pending');
  });

  it('needs consent for an AI caller, and sees a revocation at once', async () => {
    const { token } = await runtime.tokens.create(root, {
      subject: 'did:sigil:agent',
      loa: 'operator',
      signer: await delegatedTo('did:sigil:agent'),
      scopes: ['mcp.tools.call'],
    });
    const agent = await runtime.tokens.authenticate(token);
    const call = {
      action: 'mcp.tools.call',
      target: 'notes/read_note',
      payload: { id: 1 },
      outputMarking: 'gateway' as const,
    };
    expect((await runtime.check(agent, call)).code).toBe('mcp_rule_violated');
    const consent = await runtime.consent.grant(root, {
      bailee: 'did:sigil:agent',
      scope: 'mcp.tools.call',
      purpose: 'retrieval',
    });
    expect((await runtime.check(agent, call)).verdict).toBe('allow');
    // The agent cannot claim to be a human or someone else.
    expect((await runtime.check(agent, { ...call, claimed: { signerType: 'human' } })).code).toBe(
      'mcp_rule_violated',
    );
    expect((await runtime.check(agent, { ...call, action: 'module.run' })).code).toBe(
      'scope_denied',
    );
    await runtime.consent.revoke(root, consent.id);
    expect((await runtime.check(agent, call)).code).toBe('mcp_rule_violated');
  });

  it("relies on its principal's consent to this agent alone, among many, and sees each change at once", async () => {
    const subject = 'did:sigil:indexed-agent';
    const { token } = await runtime.tokens.create(root, {
      subject,
      loa: 'operator',
      signer: await delegatedTo(subject),
      scopes: ['mcp.tools.call'],
    });
    const agent = await runtime.tokens.authenticate(token);
    const op = await runtime.tokens.authenticate(
      (
        await runtime.tokens.create(root, {
          subject: 'did:sigil:other-bailor',
          loa: 'operator',
          signer: { type: 'human' },
        })
      ).token,
    );
    const grant = (by: typeof root, bailee: string) =>
      runtime.consent.grant(by, { bailee, scope: 'mcp.tools.call', purpose: 'retrieval' });
    const call = {
      action: 'mcp.tools.call',
      target: 'notes/read_note',
      payload: { id: 1 },
      outputMarking: 'gateway' as const,
    };
    // Root's consent to other agents, and another human's to this one, are not its principal's.
    for (let i = 0; i < 20; i++) await grant(root, `did:sigil:indexed-other-${i}`);
    await grant(op, subject);
    expect((await runtime.check(agent, call)).code).toBe('mcp_rule_violated');
    const given = await grant(root, subject);
    expect((await runtime.check(agent, call)).verdict).toBe('allow');
    await grant(root, 'did:sigil:indexed-other-late');
    expect((await runtime.check(agent, call)).verdict).toBe('allow');
    await runtime.consent.revoke(root, given.id);
    expect((await runtime.check(agent, call)).code).toBe('mcp_rule_violated');
  });

  it('keeps memory blocks to their owner (and an auditor, not Root), 16 KiB each', async () => {
    const { token } = await runtime.tokens.create(root, {
      subject: 'did:sigil:op',
      loa: 'operator',
      signer: { type: 'human' },
    });
    const op = await runtime.tokens.authenticate(token);
    await runtime.memory.write(op, { key: 'notes', value: { a: 1 } });
    expect((await runtime.memory.read(op, 'notes')).value).toEqual({ a: 1 });
    await rejects(runtime.memory.read(root, 'notes', 'did:sigil:op'), 'forbidden');
    expect((await runtime.memory.list(root)).map((m) => m.owner)).not.toContain('did:sigil:op');
    const auditor = await runtime.tokens.authenticate(
      (
        await runtime.tokens.create(root, {
          subject: 'did:sigil:mem-auditor',
          loa: 'operator',
          signer: { type: 'human' },
          scopes: ['memory.read', 'canon.audit'],
        })
      ).token,
    );
    expect((await runtime.memory.read(auditor, 'notes', 'did:sigil:op')).value).toEqual({ a: 1 });
    expect((await runtime.memory.list(auditor)).map((m) => m.owner)).toContain('did:sigil:op');
    expect(await runtime.memory.list(op)).toHaveLength(1);
    await rejects(runtime.memory.read(root, 'notes'), 'memory_not_found');
    await rejects(
      runtime.memory.write(op, { key: 'big', value: 'x'.repeat(17_000) }),
      'payload_too_large',
    );
  });

  it('runs registered modules and refuses unknown ones', async () => {
    expect(runtime.modules.list()).toEqual(['canon-stats', 'echo']);
    expect((await runtime.modules.run(root, 'echo', { x: 1 })).output).toEqual({ x: 1 });
    await rejects(runtime.modules.run(root, 'nope', null), 'module_not_found');
  });

  it('lets only a human Root halt a holon, and records each transition', async () => {
    await runtime.holons.spawn(root, {
      id: 'h1',
      capabilities: ['holon.step'],
      program: { type: 'identity' },
    });
    const { token } = await runtime.tokens.create(root, {
      subject: 'did:sigil:op2',
      loa: 'operator',
      signer: { type: 'human' },
    });
    await rejects(
      runtime.holons.halt(await runtime.tokens.authenticate(token), 'h1', { mode: 'terminate' }),
      'loa_insufficient',
    );
    const h = await runtime.holons.halt(root, 'h1', { mode: 'terminate' });
    expect(h.state).toBe('terminated');
    const events = await runtime.log.list({ kind: 'holon_event' });
    expect(events.records.map((r) => (r.payload as { to: string }).to)).toEqual([
      'idle',
      'terminated',
    ]);
  });

  it('steps a holon through the kernel and seals the verdict', async () => {
    await runtime.holons.spawn(root, {
      id: 'h2',
      capabilities: ['holon.step'],
      program: { type: 'identity' },
    });
    const h = await runtime.holons.step(root, 'h2', { x: '1' });
    expect(h.state).toBe('idle');
    expect(h.last_output).toMatchObject({ fields: { x: '1' } });
    const verdicts = await runtime.log.list({ kind: 'kernel_verdict' });
    expect(verdicts.records.at(-1)?.payload).toMatchObject({
      holon: 'h2',
      verdict: { kind: 'permitted' },
    });
  });

  it('trips the circuit breaker on signed critical findings and then stops AI actors', async () => {
    // The scanner is registered by Root (a sealed governance_event), never taken from the report.
    const scanner = generateKeyPair();
    await runtime.governance.registerScanner(root, {
      did: 'did:sigil:scanner',
      public_key: toBase64Url(publicKeyToRaw(scanner.publicKey)),
    });
    const { token } = await runtime.tokens.create(root, {
      subject: 'did:sigil:agent2',
      loa: 'operator',
      signer: await delegatedTo('did:sigil:agent2'),
      scopes: ['mcp.tools.call'],
    });
    const agent = await runtime.tokens.authenticate(token);
    await runtime.consent.grant(root, {
      bailee: 'did:sigil:agent2',
      scope: 'mcp.tools.call',
      purpose: 'retrieval',
    });
    const call = { action: 'mcp.tools.call', target: 'a/b', outputMarking: 'gateway' as const };
    expect((await runtime.check(agent, call)).verdict).toBe('allow');

    const findings = [1, 2, 3, 4].map((i) => ({
      finding_id: `f${i}`,
      severity: 'critical' as const,
      title: `issue ${i}`,
    }));
    const attestation = signFindings(
      findings,
      'did:sigil:scanner',
      { type: 'human' },
      scanner.privateKey,
    );
    // A digest that does not match the findings is refused before anything is counted.
    await rejects(
      runtime.governance.reportFindings(root, { attestation, findings: findings.slice(1) }),
      'findings_digest_mismatch',
    );
    expect((await runtime.trustStatus(root)).breaker.open).toBe(false);
    const { intake, tripped_now } = await runtime.governance.reportFindings(root, {
      attestation,
      findings,
    });
    expect(tripped_now).toBe(true);
    expect(intake).toMatchObject({
      status: { tripped: true, critical_in_window: 4 },
      approval_required: true,
    });
    expect((await runtime.check(agent, call)).code).toBe('breaker_open');
    expect((await runtime.check(root, { action: 'trust.check', target: 'x' })).verdict).toBe(
      'allow',
    );
    ctx.advance(25 * 3_600_000);
    expect((await runtime.check(agent, call)).verdict).toBe('allow');
    // The trip and the reset are sealed records.
    const events = (await runtime.log.list({ kind: 'governance_event', limit: 100 })).records.map(
      (r) => (r.payload as { event: string }).event,
    );
    expect(events).toEqual(['scanner_registered', 'findings', 'breaker_tripped', 'breaker_reset']);
  });

  it('seals every decision, allowed or denied, so it verifies and replays to the same verdict', async () => {
    let cursor: string | undefined;
    let count = 0;
    let denied = 0;
    do {
      const page = await runtime.log.list({
        kind: 'decision',
        limit: 200,
        ...(cursor ? { cursor } : {}),
      });
      for (const record of page.records) {
        const { seq: _seq, ...canonical } = record;
        expect(verifyRecord(canonical)).toEqual({ ok: true });
        const payload = record.payload as unknown as DecisionPayload;
        const replayed = replayDecision(payload, runtime.decisionInputs);
        expect({ verdict: replayed.verdict, code: replayed.code }).toEqual({
          verdict: payload.decision.verdict,
          code: payload.decision.code,
        });
        count += 1;
        if (payload.decision.verdict === 'deny') denied += 1;
      }
      cursor = page.cursor;
    } while (cursor);
    expect(count).toBeGreaterThan(20);
    const last = (await runtime.log.list({ kind: 'decision', limit: 1 })).records[0]!;
    const { recorded, replayed } = await runtime.replay(last.id);
    expect(replayed.verdict).toBe(recorded.verdict);
    expect(denied).toBeGreaterThan(3);
    expect((await runtime.log.validate()).ok).toBe(true);
  });
});

describe('SigilRuntime: licenses and limits', () => {
  it('falls back to the default LOA with a distinct reason for each bad license', async () => {
    const ctx = setup();
    const boot = await SigilRuntime.bootstrap({ config: ctx.config(), env: ctx.env });
    const rt = boot.runtime;
    const root = await rt.tokens.authenticate(boot.rootToken);
    const good = await rt.licenses.generate(root, {
      subject: 'did:sigil:dave',
      loa: 'mentor',
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    });
    await rt.close();
    const path = join(ctx.dir, 'license.json');
    const later = () => Date.now() + 2 * 86_400_000;
    const cases: Array<[unknown, string, (() => number) | undefined]> = [
      [{ ...good, loa: 'root' }, 'license_tampered', undefined],
      [good, 'license_expired', later],
      ['not json', 'license_malformed', undefined],
    ];
    const reasons: string[] = [];
    for (const [license, reason, clock] of cases) {
      writeFileSync(path, typeof license === 'string' ? license : JSON.stringify(license), {
        mode: 0o600,
      });
      const opened = await SigilRuntime.open({
        config: ctx.config(),
        env: ctx.env,
        ...(clock ? { clock } : {}),
      });
      expect(opened.identity()).toMatchObject({ loa: 'observer', source: 'default', reason });
      reasons.push(opened.identity().reason);
      await opened.close();
    }
    // A license signed for another runtime (another secret → another fingerprint).
    writeFileSync(path, JSON.stringify(good), { mode: 0o600 });
    const foreign = await SigilRuntime.open({
      config: loadConfig({
        env: { ...ctx.env, MMF_LICENSE_SECRET: 'another-secret' },
        dataDir: ctx.dir,
      }),
      env: ctx.env,
    });
    expect(foreign.identity()).toMatchObject({
      loa: 'observer',
      reason: 'license_foreign_fingerprint',
    });
    reasons.push(foreign.identity().reason);
    await foreign.close();
    rmSync(path);
    const missing = await SigilRuntime.open({ config: ctx.config(), env: ctx.env });
    expect(missing.identity()).toMatchObject({ loa: 'observer', reason: 'license_missing' });
    reasons.push(missing.identity().reason);
    await missing.close();
    expect(new Set(reasons).size).toBe(reasons.length);
    rmSync(ctx.dir, { recursive: true, force: true });
  });

  it('answers rate_limited with a retry delay once the burst is spent', async () => {
    const ctx = setup();
    writeFileSync(join(ctx.dir, 'mmf.toml'), '[rate_limit]\nroot = { rate = 1, burst = 3 }\n');
    const boot = await SigilRuntime.bootstrap({
      config: ctx.config(),
      env: ctx.env,
      clock: ctx.clock,
    });
    const root = await boot.runtime.tokens.authenticate(boot.rootToken);
    const verdicts: Array<string | null> = [];
    for (let i = 0; i < 5; i++) {
      verdicts.push((await boot.runtime.check(root, { action: 'trust.check', target: 'x' })).code);
    }
    expect(verdicts.slice(-1)).toEqual(['rate_limited']);
    const last = await boot.runtime.check(root, { action: 'trust.check', target: 'x' });
    expect(last.retry_after_ms).toBeGreaterThan(0);
    ctx.advance(10_000);
    expect((await boot.runtime.check(root, { action: 'trust.check', target: 'x' })).verdict).toBe(
      'allow',
    );
    await boot.runtime.close();
    rmSync(ctx.dir, { recursive: true, force: true });
  });
});
