/**
 * The decision policies this log holds: each configuration decisions are made under (constitution
 * and model by hash, flags, system-critical actions, mode, threshold) is sealed once as a
 * `decision_policy` record, and every decision record names it by hash, so replay resolves it
 * from the log alone.
 */
import type { JsonValue } from '../../core/canonical.ts';
import { forEachRecordOfKind, type RuntimeCore } from '../core.ts';
import type { DecisionState } from '../decide.ts';
import { decisionPolicyOf } from '../decision-record.ts';
import { decisionPolicy, modelHash, policyHash, type DecisionPolicy } from '../frozen.ts';

export class DecisionPolicies {
  /** Policies sealed in this log, by the hash of their content (computed here, never read). */
  readonly #byHash = new Map<string, DecisionPolicy>();
  /** Seals in flight, so concurrent decisions under a new policy seal it once. */
  readonly #sealing = new Map<string, Promise<void>>();
  /**
   * The last state's policy: a configuration changes rarely, decisions under it are many. The
   * objects it came from are kept too, so a decision under the very same ones (the runtime
   * hands out one flags object per configuration) skips building the key.
   */
  #last:
    | {
        key: string;
        hash: string;
        from: readonly [
          DecisionState['model'],
          DecisionState['flags'],
          DecisionState['systemCritical'],
        ];
        mode: DecisionState['mode'];
        threshold: number;
      }
    | undefined;

  get byHash(): ReadonlyMap<string, DecisionPolicy> {
    return this.#byHash;
  }

  /** Reads every `decision_policy` record of the log (another instance may have sealed one). */
  async load(core: RuntimeCore): Promise<void> {
    await forEachRecordOfKind(core, 'decision_policy', (record) => {
      const policy = decisionPolicyOf(record);
      this.#byHash.set(policyHash(policy), policy);
    });
  }

  /**
   * The hash of the policy `state` applies, sealed first when this log does not hold it yet. A
   * failed seal throws (the decision is not made) and is retried by the next decision.
   */
  async ensure(core: RuntimeCore, state: DecisionState): Promise<string> {
    const last = this.#last;
    if (
      last !== undefined &&
      last.from[0] === state.model &&
      last.from[1] === state.flags &&
      last.from[2] === state.systemCritical &&
      last.mode === state.mode &&
      last.threshold === state.threshold &&
      this.#byHash.has(last.hash)
    ) {
      return last.hash;
    }
    const key = `${modelHash(state.model)}\0${state.mode}\0${state.threshold}\0${JSON.stringify(state.flags)}\0${[...state.systemCritical].join(',')}`;
    let hash = this.#last?.key === key ? this.#last.hash : undefined;
    if (hash !== undefined && this.#byHash.has(hash)) return hash;
    const policy = decisionPolicy(state);
    hash = policyHash(policy);
    if (!this.#byHash.has(hash)) {
      let pending = this.#sealing.get(hash);
      if (pending === undefined) {
        const sealed = hash;
        pending = core
          .append('decision_policy', policy as unknown as JsonValue)
          .then(() => void this.#byHash.set(sealed, policy))
          .finally(() => this.#sealing.delete(sealed));
        this.#sealing.set(hash, pending);
      }
      await pending;
    }
    this.#last = {
      key,
      hash,
      from: [state.model, state.flags, state.systemCritical],
      mode: state.mode,
      threshold: state.threshold,
    };
    return hash;
  }
}
