/**
 * A committed setting change takes effect on every instance of a store, at its next decision,
 * without a restart; a change Sigil could not apply is refused when proposed; nothing but a
 * change the quorum committed moves the configuration.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/core/canonical.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { signAttestation } from '../../src/quorum/index.ts';
import { anonymousCaller } from '../../src/runtime/index.ts';
import { passChange, sealGenesis } from '../quorum/ceremony.ts';
import { pgUrl } from '../canon/helpers/pg.ts';
import { CanonLog } from '../../src/canon/log.ts';
import { twoInstances, type Instances } from './instances.ts';

async function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: unknown) => (isSigilError(e) ? e.code : String(e)),
  );
}

/** Proposes, collects every witness's vote and commits, all through `runtime`. */
const commitThrough = passChange;

const READ = { action: 'module.run', target: 'modules/echo' };

describe.each([
  { backend: 'sqlite' as const, skip: false },
  { backend: 'postgres' as const, skip: !pgUrl },
])('committed settings on two instances ($backend)', ({ backend, skip }) => {
  let env: Instances | undefined;
  afterEach(async () => {
    await env?.cleanup();
    env = undefined;
  });

  it.skipIf(skip)(
    'a threshold committed through one instance decides the next request on the other',
    async () => {
      env = await twoInstances(backend);
      const { a, b } = env;
      const rootA = await a.tokens.authenticate(env.rootToken);
      const rootB = await b.tokens.authenticate(env.rootToken);
      const { token } = await a.tokens.create(rootA, {
        subject: 'did:sigil:op',
        loa: 'operator',
        signer: { type: 'human' },
      });
      const op = await b.tokens.authenticate(token);
      const guestRead = { action: 'canon.read', target: 'canon/records' };
      const before = await b.check(anonymousCaller(), guestRead);
      expect(before).toMatchObject({ verdict: 'allow' });
      expect(before.trust!.score).toBeLessThan(0.8);

      const witnesses = await sealGenesis(a, rootA);
      const { record } = await commitThrough(a, rootA, witnesses, {
        setting: 'irl.threshold',
        value: 0.8,
      });
      expect(record.kind).toBe('system_config');

      const after = await b.check(anonymousCaller(), guestRead);
      expect(after).toMatchObject({ verdict: 'deny', code: 'trust_below_threshold' });
      expect(b.config.irl.threshold).toBe(0.8);
      // The sealed decision names the threshold it was made against (in the policy it names).
      const sealed = await b.log.get(after.decision_id);
      const policy = (sealed!.payload as { state: { policy: string } }).state.policy;
      expect(b.decisionPolicies.get(policy)).toMatchObject({ threshold: 0.8 });

      // A flag committed on a: b's next decision names a policy with it (a new one, sealed once).
      await commitThrough(a, rootA, witnesses, {
        setting: 'trust.allow_admin_export',
        value: true,
      });
      const flagged = await b.check(anonymousCaller(), guestRead);
      const flaggedPolicy = (
        (await b.log.get(flagged.decision_id))!.payload as {
          state: { policy: string };
        }
      ).state.policy;
      expect(flaggedPolicy).not.toBe(policy);
      expect(b.decisionPolicies.get(flaggedPolicy)).toMatchObject({
        threshold: 0.8,
        flags: { allow_admin_export: true, allow_operator_canon_write: false },
      });

      // Enforcement mode, rate limits and the quorum itself follow the same way.
      await commitThrough(a, rootA, witnesses, {
        setting: 'irl.enforcement_mode',
        value: 'passive',
      });
      const passive = await b.check(op, READ);
      expect(passive).toMatchObject({ verdict: 'allow', mode: 'passive' });
      await commitThrough(a, rootA, witnesses, {
        setting: 'rate_limit.operator',
        value: { rate: 0.001, burst: 1 },
      });
      const first = await b.check(op, { ...READ, target: 'modules/echo/1' });
      const second = await b.check(op, { ...READ, target: 'modules/echo/2' });
      expect(first.code).not.toBe('rate_limited');
      expect(second).toMatchObject({ verdict: 'deny', code: 'rate_limited' });
      await commitThrough(a, rootA, witnesses, { setting: 'quorum.mentors_required', value: 1 });
      const next = await b.quorum.propose(rootB, { setting: 'irl.threshold', value: 0.4 });
      expect(next.required).toEqual({ root: 1, mentors: 1 });

      // A restart derives the same configuration from the log.
      const c = await env.reopen();
      expect(c.config.irl).toMatchObject({ threshold: 0.8, enforcementMode: 'passive' });
      expect(c.config.quorum.mentorsRequired).toBe(1);
      expect(c.config.rateLimit.perLoa.operator).toEqual({ rate: 0.001, burst: 1 });
    },
    60_000,
  );

  it.skipIf(skip)(
    "a setting an instance commits decides its own next request, and the other instance's next one too",
    async () => {
      env = await twoInstances(backend);
      const { a, b } = env;
      const rootA = await a.tokens.authenticate(env.rootToken);
      const rootB = await b.tokens.authenticate(env.rootToken);
      const guestRead = { action: 'canon.read', target: 'canon/records' };
      expect(await a.check(anonymousCaller(), guestRead)).toMatchObject({ verdict: 'allow' });
      // The settings reads a makes of the store from here on.
      let reads = 0;
      const list = a.log.list.bind(a.log);
      a.log.list = (opts = {}) => {
        if (opts.kind === 'system_config') reads++;
        return list(opts);
      };
      const witnesses = await sealGenesis(a, rootA);
      await commitThrough(a, rootA, witnesses, { setting: 'irl.threshold', value: 0.8 });
      const started = reads;
      const own = await a.check(anonymousCaller(), guestRead);
      expect(own).toMatchObject({ verdict: 'deny', code: 'trust_below_threshold' });
      // On SQLite what a sealed itself reaches its settings without being read back.
      if (backend === 'sqlite') expect(reads).toBe(started);
      // Committed on b, after a's own records: read from the store at a's next decision.
      await commitThrough(b, rootB, witnesses, { setting: 'irl.threshold', value: 0.1 });
      const other = await a.check(anonymousCaller(), guestRead);
      expect(other).toMatchObject({ verdict: 'allow' });
      expect(a.config.irl.threshold).toBe(0.1);
      expect(reads).toBeGreaterThan(started);
    },
    60_000,
  );
});

describe('what a proposal may change', () => {
  let env: Instances | undefined;
  afterEach(async () => {
    await env?.cleanup();
    env = undefined;
  });

  it('refuses, at propose time, a key Sigil does not know, a bad value or an unknown shape', async () => {
    env = await twoInstances('sqlite');
    const { a } = env;
    const root = await a.tokens.authenticate(env.rootToken);
    const refused: Array<[JsonValue, string]> = [
      [{ setting: 'threshold', value: 0.5 }, 'unknown_setting'],
      [{ setting: 'irl.thresold', value: 0.5 }, 'unknown_setting'],
      [{ setting: 'server.port', value: 80 }, 'unknown_setting'],
      [{ setting: 'database_url', value: 'postgres://evil' }, 'unknown_setting'],
      [{ setting: '__proto__', value: {} }, 'unknown_setting'],
      [{ setting: 'toString', value: 1 }, 'unknown_setting'],
      [{ setting: 'irl.threshold', value: 1.5 }, 'setting_invalid'],
      [{ setting: 'irl.threshold', value: '0.5' }, 'setting_invalid'],
      [{ setting: 'irl.threshold' }, 'setting_invalid'],
      [{ setting: 'irl.threshold', value: 0.5, also: 'irl.enforcement_mode' }, 'setting_invalid'],
      [{ setting: 'irl.enforcement_mode', value: 'off' }, 'setting_invalid'],
      // A threshold Root's own commit could not pass would lock the quorum out for good.
      [{ setting: 'irl.threshold', value: 0.95 }, 'setting_invalid'],
      [{ setting: 'irl.threshold', value: 1 }, 'setting_invalid'],
      [{ setting: 'quorum.mentors_required', value: 0 }, 'setting_invalid'],
      [{ setting: 'rate_limit.guest', value: { rate: 0, burst: 1 } }, 'setting_invalid'],
      [{ setting: 'rate_limit.guest', value: { rate: 1e9 } }, 'setting_invalid'],
      [{ max_widgets: 7 }, 'change_invalid'],
      [{ model: { version: 'x' } }, 'model_invalid'],
      [{ model: null, setting_like: 1 }, 'change_invalid'],
      [[{ setting: 'irl.threshold', value: 0 }], 'change_invalid'],
      ['irl.threshold=0', 'change_invalid'],
      [null, 'change_invalid'],
    ];
    const sizeBefore = await a.log.size();
    for (const [change, code] of refused) {
      expect(`${JSON.stringify(change)}: ${await codeOf(a.quorum.propose(root, change))}`).toBe(
        `${JSON.stringify(change)}: ${code}`,
      );
    }
    // Nothing was opened and nothing sealed: a refused change is not a proposal.
    expect(await a.quorum.list(root)).toEqual([]);
    expect((await a.log.list({ kind: 'quorum_event' })).records).toEqual([]);
    // The listProposals decision, and the policy this instance's first decision sealed.
    expect(await a.log.size()).toBe(sizeBefore + 2);
  });

  it('never moves the configuration without the quorum', async () => {
    env = await twoInstances('sqlite');
    const { a, b } = env;
    const root = await a.tokens.authenticate(env.rootToken);
    const early = await a.quorum.propose(root, { setting: 'irl.threshold', value: 0 });
    // Before genesis nothing commits, not even with a vote.
    expect(await codeOf(a.quorum.commit(root, early.id))).toBe('genesis_required');
    const witnesses = await sealGenesis(a, root);
    const proposal = await a.quorum.propose(root, { setting: 'irl.threshold', value: 0 });
    // Root's own witness and two Mentors: one signature short.
    for (const w of witnesses.slice(0, 3)) {
      await a.quorum.attest(w.caller, {
        proposal_id: proposal.id,
        ...signAttestation(proposal, w.did, w.keys.privateKey),
      });
    }
    expect(await codeOf(a.quorum.commit(root, proposal.id))).toBe('quorum_required');
    await b.check(await b.tokens.authenticate(env.rootToken), READ);
    expect(b.config.irl.threshold).toBe(0.4);
    expect(a.config.irl.threshold).toBe(0.4);
    // A change the quorum sealed before Sigil checked settings (an unknown key) stays a no-op.
    // (Sealed with the log key itself: the runtime's surfaces hold a read-only log.)
    const log = await CanonLog.open({ dataDir: env.dataDir, env: env.env });
    try {
      await log.append({
        kind: 'system_config',
        tenant: 'default',
        space: 'system',
        payload: { change: { setting: 'threshold', value: 0 } },
      });
    } finally {
      await log.close();
    }
    await b.check(await b.tokens.authenticate(env.rootToken), READ);
    expect(b.config.irl.threshold).toBe(0.4);
  });
});
