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
 * The trace of one decision. Freezing it returns the steps as a frozen list; once frozen,
 * nothing can be added, so the sealed decision record covers every step that was taken.
 * (Steps are built inside decide() and sealed whole; the record, not the object, is what
 * later readers trust.)
 */
export class ReasoningChain {
  readonly #steps: ReasoningStep[] = [];
  #frozen = false;

  add(step: ReasoningStep): void {
    if (this.#frozen) throw new SigilError('chain_frozen', 'reasoning chain is frozen');
    this.#steps.push(step);
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
