/**
 * The kernel: created once from the constitution's bytes (it keeps their SHA-256) and a set
 * of invariants, then adjudicates requests. Pure and deterministic: the same request and
 * context always give the same verdict.
 *
 * Verdict, in order:
 * - no violations: escalated with the challenge's reason if a challenge is active, else permitted;
 * - any kernel-immutability, human-override or human-credentials violation: denied, challenge or not;
 * - a challenge is active and every violation is quorum-legitimate or authority-chain-valid: escalated;
 * - exactly one violation, quorum-legitimate or authority-chain-valid: escalated with its description;
 * - otherwise denied with every violation.
 */
import { constantTimeEqual, fromHex } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { sha256, sha256Hex } from '../core/hash.ts';
import type { InvariantContext } from './invariants.ts';
import { ALL_INVARIANTS, enforceAll } from './invariants.ts';
import type { GatekeeperRequest, InvariantId, Violation } from './types.ts';
import { INVARIANT_IDS, parseGatekeeperRequest } from './types.ts';

/** Violations a human or quorum can resolve: they escalate rather than deny. */
export const ESCALATABLE: readonly InvariantId[] = ['quorum-legitimate', 'authority-chain-valid'];
/** Violations that deny whatever else holds, even under a challenge. */
export const ALWAYS_DENIED: readonly InvariantId[] = [
  'kernel-immutability',
  'human-override',
  'human-credentials',
];

/** An open challenge against the actor or action; it sends every otherwise-allowed request to review. */
export interface Challenge {
  reason: string;
}

/** The invariant context plus any active challenge. */
export interface AdjudicationContext extends InvariantContext {
  challenge?: Challenge | null;
}

/** The kernel's ruling. `escalated` carries the violations that sent it to review (possibly none). */
export type Verdict =
  | { kind: 'permitted' }
  | { kind: 'denied'; violations: Violation[] }
  | { kind: 'escalated'; reason: string; violations: Violation[] };

/** An immutable kernel. */
export interface Kernel {
  /** Hex SHA-256 of the constitution bytes. */
  readonly constitutionHash: string;
  /** The invariants this kernel enforces, in evaluation order. */
  readonly invariants: readonly InvariantId[];
  /** True when `constitution` is byte-for-byte the constitution this kernel was created from. */
  verifyIntegrity(constitution: Uint8Array): boolean;
  /** Adjudicates a request; throws SigilError 'invalid_request' for a malformed request. */
  adjudicate(request: GatekeeperRequest, context: AdjudicationContext): Verdict;
  /**
   * The same for a request `parseGatekeeperRequest` returned, not changed since: decide() parses
   * its request once for the MCP rules and the kernel.
   */
  adjudicateParsed(request: GatekeeperRequest, context: AdjudicationContext): Verdict;
}

/** Applies the verdict rules to a list of violations and an optional challenge. */
export function verdictFor(
  violations: readonly Violation[],
  challenge?: Challenge | null,
): Verdict {
  const active = challenge !== null && challenge !== undefined;
  if (violations.length === 0) {
    return active
      ? { kind: 'escalated', reason: challenge.reason, violations: [] }
      : { kind: 'permitted' };
  }
  const list = [...violations];
  if (list.some((v) => ALWAYS_DENIED.includes(v.invariant))) {
    return { kind: 'denied', violations: list };
  }
  const allEscalatable = list.every((v) => ESCALATABLE.includes(v.invariant));
  if (active && allEscalatable) {
    return { kind: 'escalated', reason: challenge.reason, violations: list };
  }
  if (list.length === 1 && allEscalatable) {
    return { kind: 'escalated', reason: list[0]!.description, violations: list };
  }
  return { kind: 'denied', violations: list };
}

/**
 * Creates a kernel over `constitution` enforcing `invariants` (default: all nine).
 * Throws SigilError 'invalid_constitution' or 'invalid_invariant_set'.
 */
export function createKernel(
  constitution: Uint8Array,
  invariants: readonly InvariantId[] = ALL_INVARIANTS,
): Kernel {
  if (!(constitution instanceof Uint8Array)) {
    throw new SigilError('invalid_constitution', 'the constitution must be bytes');
  }
  const unknown = invariants.filter((id) => !(INVARIANT_IDS as readonly string[]).includes(id));
  if (unknown.length > 0 || new Set(invariants).size !== invariants.length) {
    throw new SigilError('invalid_invariant_set', 'invariant set has unknown or repeated ids', {
      unknown,
    });
  }
  const set = Object.freeze(INVARIANT_IDS.filter((id) => invariants.includes(id)));
  const constitutionHash = sha256Hex(constitution);
  const hashBytes = fromHex(constitutionHash);
  return Object.freeze({
    constitutionHash,
    invariants: set,
    verifyIntegrity(bytes: Uint8Array): boolean {
      return bytes instanceof Uint8Array && constantTimeEqual(sha256(bytes), hashBytes);
    },
    adjudicate(request: GatekeeperRequest, context: AdjudicationContext): Verdict {
      const parsed = parseGatekeeperRequest(request);
      return verdictFor(enforceAll(parsed, context, set), context.challenge);
    },
    adjudicateParsed(request: GatekeeperRequest, context: AdjudicationContext): Verdict {
      return verdictFor(enforceAll(request, context, set), context.challenge);
    },
  });
}
