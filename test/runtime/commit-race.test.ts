/**
 * A proposal commits once across instances: the commit's append expects the proposal's view row
 * still at the pending record it read, inside the store transaction. Two commits of one
 * proposal racing, on two runtimes over one store (SQLite file or PostgreSQL database) or on
 * one runtime, seal exactly one `system_config`; the other gets proposal_not_pending.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSigilError } from '../../src/core/errors.ts';
import type { Caller, SigilRuntime } from '../../src/runtime/index.ts';
import { BACKENDS } from '../canon/helpers/log.ts';
import { sealGenesis, voteAll, type TestWitness } from '../quorum/ceremony.ts';
import { recordsOfKind, twoInstances, type Instances } from './instances.ts';

const ROUNDS = 5;

const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'committed',
    (err: unknown) => (isSigilError(err) ? err.code : String(err)),
  );

describe.each(BACKENDS)('racing commits on $name', ({ name, skip }) => {
  let inst: Instances;
  let rootA: Caller;
  let rootB: Caller;
  let witnesses: TestWitness[];

  beforeAll(async () => {
    if (skip) return;
    inst = await twoInstances(name);
    rootA = await inst.a.tokens.authenticate(inst.rootToken);
    rootB = await inst.b.tokens.authenticate(inst.rootToken);
    witnesses = await sealGenesis(inst.a, rootA);
  });
  afterAll(async () => {
    if (!skip) await inst.cleanup();
  });

  async function sealed(r: SigilRuntime, proposalId: string): Promise<number> {
    return (await recordsOfKind(r.log, 'system_config')).filter(
      (rec) => (rec.payload as { proposal_id?: string }).proposal_id === proposalId,
    ).length;
  }

  /** One fully voted proposal committed on `x` and `y` at once: one record, one refusal. */
  async function race(x: SigilRuntime, y: SigilRuntime, value: number): Promise<void> {
    const proposal = await inst.a.quorum.propose(rootA, { setting: 'irl.threshold', value });
    await voteAll(inst.a, proposal, witnesses);
    const rootOf = (r: SigilRuntime) => (r === inst.a ? rootA : rootB);
    const results = await Promise.all([
      outcome(x.quorum.commit(rootOf(x), proposal.id)),
      outcome(y.quorum.commit(rootOf(y), proposal.id)),
    ]);
    expect(results.sort()).toEqual(['committed', 'proposal_not_pending']);
    expect(await sealed(y, proposal.id)).toBe(1);
    // Committed for good: a third commit, on either runtime, is refused.
    expect(await outcome(inst.b.quorum.commit(rootB, proposal.id))).toBe('proposal_not_pending');
  }

  it.skipIf(skip)('one proposal committed on two runtimes: one system_config', async () => {
    for (let i = 0; i < ROUNDS; i += 1) await race(inst.a, inst.b, 0.3 + i / 100);
    expect(await inst.b.log.validate()).toMatchObject({ ok: true });
    expect(await inst.a.log.checkViews()).toEqual([]);
  });

  it.skipIf(skip)('one proposal committed twice on one runtime: one system_config', async () => {
    await race(inst.b, inst.b, 0.36);
    expect(await inst.a.log.checkViews()).toEqual([]);
  });
});
