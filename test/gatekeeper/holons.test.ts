import { describe, expect, it } from 'vitest';
import type { Combinator } from '../../src/gatekeeper/combinators.ts';
import {
  halt,
  resume,
  spawnHolon,
  step,
  suspend,
  type Adjudicate,
  type Holon,
  type HolonState,
} from '../../src/gatekeeper/holons.ts';

const NOW = Date.UTC(2025, 0, 2, 3, 4, 5);
const AT = new Date(NOW).toISOString();
const AI = { type: 'ai', delegationId: 'ab'.repeat(32) } as const;
const HUMAN = { type: 'human' } as const;
const root = { subject: 'did:key:root', loa: 'root', signer: HUMAN } as const;

const enrich: Combinator = {
  type: 'transform',
  term: { type: 'identity' },
  transform: { name: 'enrich', output_key: 'enriched', output_value: 'true' },
};

const permit: Adjudicate = () => ({ kind: 'permitted' });
const deny: Adjudicate = () => ({
  kind: 'denied',
  violations: [{ invariant: 'consent-required', description: 'no consent', evidence: [] }],
});
const escalate: Adjudicate = () => ({ kind: 'escalated', reason: 'challenge active' });

function holon(program: Combinator = enrich): Holon {
  return spawnHolon({ id: 'did:key:holon1', capabilities: ['read', 'advance_pace'], program });
}

function inState(state: HolonState): Holon {
  return { ...holon(), state };
}

describe('holon steps', () => {
  it('spawns idle with no output and validates its program', () => {
    const h = holon();
    expect(h.state).toBe('idle');
    expect(h.last_output).toBeNull();
    expect(() => spawnHolon({ id: 'h', capabilities: [], program: { type: 'bogus' } })).toThrow(
      expect.objectContaining({ code: 'combinator_invalid' }),
    );
    expect(() => spawnHolon({ id: '', capabilities: [], program: enrich })).toThrow(
      expect.objectContaining({ code: 'holon_invalid' }),
    );
  });

  it('asks the kernel with the holon id, holon.step and its capabilities', () => {
    const seen: unknown[] = [];
    step(holon(), { fields: {} }, (req) => (seen.push(req), { kind: 'permitted' }), NOW);
    expect(seen).toEqual([
      { actor: 'did:key:holon1', action: 'holon.step', permissions: ['read', 'advance_pace'] },
    ]);
  });

  it('permitted: Idle → Executing → Idle with the output stored', () => {
    const h = holon();
    const { holon: next, transitions, outcome } = step(h, { fields: { d: 'r' } }, permit, NOW);
    expect(outcome).toEqual({
      kind: 'completed',
      output: { fields: { d: 'r', enriched: 'true' }, checkpoint: null },
    });
    expect(next.state).toBe('idle');
    expect(next.last_output).toEqual({ fields: { d: 'r', enriched: 'true' }, checkpoint: null });
    expect(transitions).toEqual([
      { holon_id: h.id, from: 'idle', to: 'executing', reason: 'step_started', at: AT },
      { holon_id: h.id, from: 'executing', to: 'idle', reason: 'step_completed', at: AT },
    ]);
    expect(h.state).toBe('idle');
    expect(h.last_output).toBeNull(); // the input holon is untouched
  });

  it('a failing program returns to Idle with the error and keeps the last output', () => {
    const guarded = holon({
      type: 'guard',
      term: { type: 'identity' },
      predicate: { name: 't', required_key: 'token' },
    });
    const first = step(guarded, { fields: { token: 'abc' } }, permit, NOW).holon;
    const { holon: next, transitions, outcome } = step(first, { fields: {} }, permit, NOW);
    expect(outcome).toMatchObject({ kind: 'failed', error: { code: 'combinator_guard_failed' } });
    expect(next.state).toBe('idle');
    expect(next.last_output).toEqual(first.last_output);
    expect(transitions.map((t) => t.reason)).toEqual(['step_started', 'step_failed']);
  });

  it('denied: Terminated with capability_denied, and nothing leaves Terminated', () => {
    const { holon: dead, transitions, outcome } = step(holon(), { fields: {} }, deny, NOW);
    expect(dead.state).toBe('terminated');
    expect(outcome).toMatchObject({ kind: 'denied', code: 'capability_denied' });
    expect(transitions).toEqual([
      { holon_id: dead.id, from: 'idle', to: 'terminated', reason: 'capability_denied', at: AT },
    ]);
    expect(() => step(dead, { fields: {} }, permit, NOW)).toThrow(
      expect.objectContaining({ code: 'holon_terminated' }),
    );
    expect(() => suspend(dead, NOW)).toThrow(expect.objectContaining({ code: 'holon_terminated' }));
    expect(() => resume(dead, suspend(holon(), NOW).checkpoint, NOW)).toThrow(
      expect.objectContaining({ code: 'holon_not_suspended' }),
    );
    expect(halt(dead, root, 'suspend', NOW)).toEqual({ holon: dead, transitions: [] });
  });

  it('escalated: Suspended with the reason; a suspended holon refuses to step', () => {
    const { holon: held, transitions, outcome } = step(holon(), { fields: {} }, escalate, NOW);
    expect(held.state).toBe('suspended');
    expect(outcome).toEqual({ kind: 'escalated', reason: 'challenge active' });
    expect(transitions[0]).toMatchObject({
      from: 'idle',
      to: 'suspended',
      reason: 'escalated',
      detail: 'challenge active',
    });
    let asked = false;
    const spy: Adjudicate = () => ((asked = true), { kind: 'permitted' });
    expect(() => step(held, { fields: {} }, spy, NOW)).toThrow(
      expect.objectContaining({ code: 'holon_suspended' }),
    );
    expect(asked).toBe(false);
  });

  it('a kernel that throws or answers nonsense fails closed without running the step', () => {
    const boom: Adjudicate = () => {
      throw new Error('kernel down');
    };
    expect(() => step(holon(), { fields: {} }, boom, NOW)).toThrow(
      expect.objectContaining({ code: 'adjudication_failed' }),
    );
    const nonsense = (() => ({ kind: 'maybe' })) as unknown as Adjudicate;
    expect(() => step(holon(), { fields: {} }, nonsense, NOW)).toThrow(
      expect.objectContaining({ code: 'adjudication_failed' }),
    );
  });
});

describe('suspend and resume', () => {
  it('suspend returns a checkpoint; resume restores its output and returns to Idle', () => {
    const ran = step(holon(), { fields: { x: '1' } }, permit, NOW).holon;
    const { holon: held, checkpoint, transitions } = suspend(ran, NOW);
    expect(held.state).toBe('suspended');
    expect(checkpoint).toEqual({
      id: 'checkpoint-did:key:holon1',
      holon_id: ran.id,
      state: 'suspended',
      last_output: ran.last_output,
    });
    expect(transitions).toEqual([
      { holon_id: ran.id, from: 'idle', to: 'suspended', reason: 'suspended', at: AT },
    ]);
    const back = resume({ ...held, last_output: null }, checkpoint, NOW);
    expect(back.holon.state).toBe('idle');
    expect(back.holon.last_output).toEqual(ran.last_output);
    expect(back.transitions).toEqual([
      { holon_id: ran.id, from: 'suspended', to: 'idle', reason: 'resumed', at: AT },
    ]);
    expect(step(back.holon, { fields: { x: '1' } }, permit, NOW).outcome.kind).toBe('completed');
  });

  it('suspending a suspended holon adds no transition', () => {
    const held = suspend(holon(), NOW).holon;
    expect(suspend(held, NOW).transitions).toEqual([]);
  });

  it('resume needs a suspended holon and its own checkpoint', () => {
    const { holon: held, checkpoint } = suspend(holon(), NOW);
    expect(() => resume(holon(), checkpoint, NOW)).toThrow(
      expect.objectContaining({ code: 'holon_not_suspended' }),
    );
    expect(() => resume(held, { ...checkpoint, holon_id: 'did:key:other' }, NOW)).toThrow(
      expect.objectContaining({ code: 'checkpoint_mismatch' }),
    );
    const forged = { ...checkpoint, last_output: { fields: { a: 1 }, checkpoint: null } } as never;
    expect(() => resume(held, forged, NOW)).toThrow(
      expect.objectContaining({ code: 'checkpoint_invalid' }),
    );
  });

  it('rejects a time that is not epoch milliseconds', () => {
    expect(() => suspend(holon(), Number.NaN)).toThrow(
      expect.objectContaining({ code: 'invalid_time' }),
    );
  });
});

describe('halt (human override)', () => {
  it('a human Root suspends or terminates a holon in any live state', () => {
    for (const state of ['idle', 'executing', 'suspended'] as const) {
      const h = inState(state);
      const stopped = halt(h, root, 'terminate', NOW);
      expect(stopped.holon.state).toBe('terminated');
      expect(stopped.transitions).toEqual([
        {
          holon_id: h.id,
          from: state,
          to: 'terminated',
          reason: 'halted_by_root',
          detail: 'did:key:root',
          at: AT,
        },
      ]);
    }
    const paused = halt(inState('idle'), root, 'suspend', NOW);
    expect(paused.holon.state).toBe('suspended');
    expect(halt(paused.holon, root, 'suspend', NOW).transitions).toEqual([]);
  });

  it('an AI signer or a non-Root human may not halt', () => {
    const attempts = [
      { subject: 'did:key:agent', loa: 'root', signer: AI },
      { subject: 'did:key:mentor', loa: 'mentor', signer: HUMAN },
      { subject: 'did:key:op', loa: 'operator', signer: HUMAN },
    ] as const;
    for (const by of attempts) {
      expect(() => halt(holon(), by, 'terminate', NOW)).toThrow(
        expect.objectContaining({ code: 'halt_not_permitted' }),
      );
    }
  });

  it('rejects an unknown halt mode', () => {
    expect(() => halt(holon(), root, 'pause' as never, NOW)).toThrow(
      expect.objectContaining({ code: 'halt_invalid' }),
    );
  });
});
