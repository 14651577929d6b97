/**
 * Holons: autonomous agents that run a combinator program, one kernel-adjudicated step at
 * a time. Pure and immutable: every operation takes a holon and returns the next holon plus
 * the state transitions it made, which the runtime seals into the log.
 *
 *   Idle ──step (permitted)──▶ Executing ──▶ Idle
 *   Idle ──step (escalated)──▶ Suspended ──resume──▶ Idle
 *   Idle ──step (denied)─────▶ Terminated          (nothing leaves Terminated)
 *   any ──halt by a human Root──▶ Suspended | Terminated
 */
import type { SignerType } from '../core/typed-signature.ts';
import { SigilError } from '../core/errors.ts';
import type { Loa } from '../policy/loa.ts';
import {
  parseCombinator,
  reduce,
  type Combinator,
  type CombinatorError,
  type CombinatorInput,
  type CombinatorOutput,
} from './combinators.ts';

export type HolonState = 'idle' | 'executing' | 'suspended' | 'terminated';

/** A holon: its identity (DID), the capabilities it asks for at each step, its program and state. */
export interface Holon {
  readonly id: string;
  readonly capabilities: readonly string[];
  readonly program: Combinator;
  readonly state: HolonState;
  readonly last_output: CombinatorOutput | null;
}

/** One state change, for the log. `detail` carries the escalation reason or the halting subject. */
export interface Transition {
  readonly holon_id: string;
  readonly from: HolonState;
  readonly to: HolonState;
  readonly reason: string;
  readonly detail?: string;
  readonly at: string;
}

/** What `suspend` hands back so the holon can be resumed later. */
export interface HolonCheckpoint {
  readonly id: string;
  readonly holon_id: string;
  readonly state: HolonState;
  readonly last_output: CombinatorOutput | null;
}

/** The kernel verdict shape a holon depends on (the runtime wires the real kernel). */
export type Verdict =
  | { kind: 'permitted' }
  | { kind: 'denied'; violations: unknown[] }
  | { kind: 'escalated'; reason: string };

/** The kernel's adjudication, as far as a holon needs it. */
export type Adjudicate = (req: {
  actor: string;
  action: 'holon.step';
  permissions: string[];
}) => Verdict;

/** How a step ended. */
export type StepOutcome =
  | { readonly kind: 'completed'; readonly output: CombinatorOutput }
  | { readonly kind: 'failed'; readonly error: CombinatorError }
  | { readonly kind: 'denied'; readonly code: 'capability_denied'; readonly violations: unknown[] }
  | { readonly kind: 'escalated'; readonly reason: string };

export interface HolonUpdate {
  readonly holon: Holon;
  readonly transitions: readonly Transition[];
}

/** Who asks to halt a holon: a verified subject, its level of access and signer type. */
export interface HaltAuthority {
  readonly subject: string;
  readonly loa: Loa;
  readonly signer: SignerType;
}

function timestamp(now: number): string {
  if (!Number.isSafeInteger(now) || now < 0) {
    throw new SigilError('invalid_time', '`now` must be epoch milliseconds');
  }
  return new Date(now).toISOString();
}

function move(
  holon: Holon,
  to: HolonState,
  reason: string,
  at: string,
  detail?: string,
): Transition {
  const base = { holon_id: holon.id, from: holon.state, to, reason, at };
  return detail === undefined ? base : { ...base, detail };
}

/**
 * A new Idle holon. The program is validated now (same limits as parsed JSON), so a step
 * never meets a malformed program. 'holon_invalid' for an empty id or bad capabilities.
 */
export function spawnHolon(spec: {
  id: string;
  capabilities: readonly string[];
  program: unknown;
}): Holon {
  if (typeof spec.id !== 'string' || spec.id.length === 0) {
    throw new SigilError('holon_invalid', 'a holon needs a non-empty id');
  }
  if (!Array.isArray(spec.capabilities) || !spec.capabilities.every((c) => typeof c === 'string')) {
    throw new SigilError('holon_invalid', 'capabilities must be a list of strings');
  }
  return Object.freeze({
    id: spec.id,
    capabilities: Object.freeze([...spec.capabilities]),
    program: parseCombinator(spec.program),
    state: 'idle',
    last_output: null,
  });
}

function refuseUnlessRunnable(holon: Holon): void {
  if (holon.state === 'terminated') {
    throw new SigilError('holon_terminated', `holon ${holon.id} is terminated`);
  }
  if (holon.state === 'suspended') {
    throw new SigilError('holon_suspended', `holon ${holon.id} is suspended; resume it first`);
  }
}

/**
 * Runs one step: asks the kernel whether the holon may act with its capabilities, then
 * reduces its program on `input`. Denied → Terminated ('capability_denied'); escalated →
 * Suspended; permitted → Executing → Idle with the output stored (a failing program
 * returns to Idle with the error, keeping the previous output). Throws 'holon_suspended'
 * or 'holon_terminated' without adjudicating, and 'adjudication_failed' if the kernel
 * throws or answers something unrecognised (the step does not run).
 */
export function step(
  holon: Holon,
  input: CombinatorInput,
  adjudicate: Adjudicate,
  now: number,
): HolonUpdate & { readonly outcome: StepOutcome } {
  refuseUnlessRunnable(holon);
  const at = timestamp(now);
  let verdict: Verdict;
  try {
    verdict = adjudicate({
      actor: holon.id,
      action: 'holon.step',
      permissions: [...holon.capabilities],
    });
  } catch (err) {
    throw new SigilError('adjudication_failed', `adjudicating holon ${holon.id} failed`, {
      cause: err instanceof Error ? err.message : String(err),
    });
  }

  switch (verdict?.kind) {
    case 'denied': {
      const next = { ...holon, state: 'terminated' as const };
      return {
        holon: next,
        transitions: [move(holon, 'terminated', 'capability_denied', at)],
        outcome: {
          kind: 'denied',
          code: 'capability_denied',
          violations: Array.isArray(verdict.violations) ? [...verdict.violations] : [],
        },
      };
    }
    case 'escalated': {
      const next = { ...holon, state: 'suspended' as const };
      return {
        holon: next,
        transitions: [move(holon, 'suspended', 'escalated', at, String(verdict.reason))],
        outcome: { kind: 'escalated', reason: String(verdict.reason) },
      };
    }
    case 'permitted': {
      const executing: Holon = { ...holon, state: 'executing' };
      const started = move(holon, 'executing', 'step_started', at);
      const result = reduce(holon.program, input);
      if (!result.ok) {
        return {
          holon: { ...executing, state: 'idle' },
          transitions: [started, move(executing, 'idle', 'step_failed', at, result.error.code)],
          outcome: { kind: 'failed', error: result.error },
        };
      }
      return {
        holon: { ...executing, state: 'idle', last_output: result.output },
        transitions: [started, move(executing, 'idle', 'step_completed', at)],
        outcome: { kind: 'completed', output: result.output },
      };
    }
    default:
      throw new SigilError('adjudication_failed', 'the kernel returned no recognised verdict');
  }
}

/**
 * Suspends a holon and returns the checkpoint to resume it from. Suspending a suspended
 * holon returns its checkpoint again with no transition; 'holon_terminated' if terminated.
 */
export function suspend(
  holon: Holon,
  now: number,
): HolonUpdate & { readonly checkpoint: HolonCheckpoint } {
  if (holon.state === 'terminated') {
    throw new SigilError('holon_terminated', `holon ${holon.id} is terminated`);
  }
  const at = timestamp(now);
  const transitions =
    holon.state === 'suspended' ? [] : [move(holon, 'suspended', 'suspended', at)];
  const next: Holon = { ...holon, state: 'suspended' };
  const checkpoint: HolonCheckpoint = {
    id: `checkpoint-${holon.id}`,
    holon_id: holon.id,
    state: 'suspended',
    last_output: holon.last_output,
  };
  return { holon: next, transitions, checkpoint };
}

/**
 * Resumes a suspended holon from its checkpoint, restoring the checkpoint's last output.
 * 'holon_not_suspended' unless Suspended; 'checkpoint_mismatch' for another holon's checkpoint.
 */
export function resume(holon: Holon, checkpoint: HolonCheckpoint, now: number): HolonUpdate {
  if (holon.state !== 'suspended') {
    throw new SigilError(
      'holon_not_suspended',
      `holon ${holon.id} is ${holon.state}, not suspended`,
    );
  }
  if (checkpoint?.holon_id !== holon.id) {
    throw new SigilError('checkpoint_mismatch', `checkpoint does not belong to holon ${holon.id}`);
  }
  const at = timestamp(now);
  const last_output = checkpoint.last_output === null ? null : readOutput(checkpoint.last_output);
  return {
    holon: { ...holon, state: 'idle', last_output },
    transitions: [move(holon, 'idle', 'resumed', at)],
  };
}

/** Re-reads a stored output through the combinator input checks ('checkpoint_invalid' if malformed). */
function readOutput(output: CombinatorOutput): CombinatorOutput {
  const result = reduce({ type: 'identity' }, output);
  if (!result.ok)
    throw new SigilError('checkpoint_invalid', `checkpoint output: ${result.error.message}`);
  return result.output;
}

/**
 * The human override: a human Root suspends or terminates any holon, whatever its state.
 * Anyone else (an AI signer, or a human below Root) gets 'halt_not_permitted'. A terminated
 * holon stays terminated, and halting into the state it is already in changes nothing.
 */
export function halt(
  holon: Holon,
  by: HaltAuthority,
  mode: 'suspend' | 'terminate',
  now: number,
): HolonUpdate {
  if (by?.loa !== 'root' || by.signer?.type !== 'human') {
    throw new SigilError('halt_not_permitted', 'only a human Root may halt a holon', {
      subject: by?.subject,
    });
  }
  if (mode !== 'suspend' && mode !== 'terminate') {
    throw new SigilError('halt_invalid', "halt mode must be 'suspend' or 'terminate'");
  }
  const at = timestamp(now);
  const to: HolonState = mode === 'terminate' ? 'terminated' : 'suspended';
  if (holon.state === 'terminated' || holon.state === to) return { holon, transitions: [] };
  return {
    holon: { ...holon, state: to },
    transitions: [move(holon, to, 'halted_by_root', at, by.subject)],
  };
}
