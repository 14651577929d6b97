/**
 * Two approvers deciding one pending approval at the same moment: the store's compare-and-set on
 * the approval's view row seals exactly one verdict, across two runtimes on one store (SQLite
 * file or PostgreSQL database) as within one runtime; the other gets approval_not_pending.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSigilError } from '../../src/core/errors.ts';
import type { Caller, SigilRuntime } from '../../src/runtime/index.ts';
import { BACKENDS } from '../canon/helpers/log.ts';
import { humanApprover, verdictSignature } from '../mcp/helpers.ts';
import { recordsOfKind, twoInstances, type Instances } from './instances.ts';

const ROUNDS = 6;

describe.each(BACKENDS)('racing verdicts on $name', ({ name, skip }) => {
  let inst: Instances;
  let root: Caller;
  let first: Awaited<ReturnType<typeof humanApprover>>;
  let second: Awaited<ReturnType<typeof humanApprover>>;

  beforeAll(async () => {
    if (skip) return;
    inst = await twoInstances(name);
    root = await inst.a.tokens.authenticate(inst.rootToken);
    first = await humanApprover(inst.a, root, 'did:sigil:approver-1');
    second = await humanApprover(inst.a, root, 'did:sigil:approver-2');
  });
  afterAll(async () => {
    if (!skip) await inst.cleanup();
  });

  async function race(x: SigilRuntime, y: SigilRuntime, i: number): Promise<void> {
    const { id } = await x.approvals.request(root, {
      decision_id: `race-${i}`,
      action: 'mcp.tools.call',
      target: `race/${i}`,
      tool: 'up__write_file',
      arguments: { path: '/etc/passwd', i },
      summary: 'race',
    });
    const pending = (await x.approvals.list(first.caller)).find((a) => a.id === id)!;
    const onX = await x.tokens.authenticate(first.token);
    const onY = await y.tokens.authenticate(second.token);
    const results = await Promise.all([
      x.approvals
        .decide(onX, id, {
          verdict: 'approved',
          signature: verdictSignature(pending, 'approved', first.privateKey),
        })
        .then(
          (r) => r.status,
          (err: unknown) => (isSigilError(err) ? err.code : String(err)),
        ),
      y.approvals
        .decide(onY, id, {
          verdict: 'rejected',
          signature: verdictSignature(pending, 'rejected', second.privateKey),
        })
        .then(
          (r) => r.status,
          (err: unknown) => (isSigilError(err) ? err.code : String(err)),
        ),
    ]);
    const won = results.filter((r) => r === 'approved' || r === 'rejected');
    expect(won).toHaveLength(1);
    expect(results.filter((r) => r === 'approval_not_pending')).toHaveLength(1);

    // The log holds exactly the winner's verdict, and both runtimes see it.
    const verdicts = (await recordsOfKind(x.log, 'governance_event'))
      .map((r) => r.payload as { event?: string; approval?: { id?: string } })
      .filter((p) => p.approval?.id === id && p.event !== 'approval_requested')
      .map((p) => p.event);
    expect(verdicts).toEqual([`approval_${won[0]}`]);
    for (const r of [x, y]) {
      const seen = (await r.approvals.list(root)).find((a) => a.id === id)!;
      expect(seen.status).toBe(won[0]);
    }
  }

  it.skipIf(skip)('two runtimes on one store: one verdict sealed, the other refused', async () => {
    for (let i = 0; i < ROUNDS; i += 1) await race(inst.a, inst.b, i);
    expect(await inst.b.log.validate()).toMatchObject({ ok: true });
    expect(await inst.a.log.checkViews()).toEqual([]);
  });

  it.skipIf(skip)('two concurrent calls on one runtime: one verdict sealed', async () => {
    for (let i = 0; i < ROUNDS; i += 1) await race(inst.a, inst.a, 100 + i);
    expect(await inst.a.log.validate()).toMatchObject({ ok: true });
    expect(await inst.b.log.checkViews()).toEqual([]);
  });
});
