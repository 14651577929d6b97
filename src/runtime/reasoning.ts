import type { JsonValue } from '../core/canonical.ts';
import { SigilError } from '../core/errors.ts';

/** One step of a decision: what was checked, on what inputs, and what it found. */
export interface ReasoningStep {
  step: string;
  verdict: 'pass' | 'fail' | 'skip' | 'warn';
  reason: string;
  inputs: { [key: string]: JsonValue };
}

/**
 * The mutable trace of one decision. Freezing it returns an immutable copy; once frozen,
 * nothing can be added, so the sealed decision record covers every step that was taken.
 */
export class ReasoningChain {
  readonly #steps: ReasoningStep[] = [];
  #frozen = false;

  add(step: ReasoningStep): void {
    if (this.#frozen) throw new SigilError('chain_frozen', 'reasoning chain is frozen');
    // A copy, frozen now: whatever the caller does with its object later cannot reach the chain.
    this.#steps.push(Object.freeze({ ...step }));
  }

  get steps(): readonly ReasoningStep[] {
    return this.#steps;
  }

  freeze(): readonly ReasoningStep[] {
    this.#frozen = true;
    return Object.freeze(this.#steps);
  }

  get frozen(): boolean {
    return this.#frozen;
  }
}
