/**
 * The decision policies this log holds: each configuration decisions are made under (constitution
 * and model by hash, flags, system-critical actions, mode, threshold) is sealed once as a
 * `decision_policy` record, and every decision record names it by hash, so replay resolves it
 * from the log alone.
 */
import type { RuntimeCore } from '../core.ts';
import type { DecisionState } from '../decide.ts';
import { decisionPolicyOf } from '../decision-record.ts';
import { decisionPolicy, modelHash, policyHash, type DecisionPolicy } from '../frozen.ts';
import { SealedByHash } from './sealed-by-hash.ts';

export class DecisionPolicies {
  readonly #sealed = new SealedByHash('decision_policy', decisionPolicyOf, policyHash);
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
    return this.#sealed.byHash;
  }

  load(core: RuntimeCore): Promise<void> {
    return this.#sealed.load(core);
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
      this.#sealed.has(last.hash)
    ) {
      return last.hash;
    }
    const key = `${modelHash(state.model)}\0${state.mode}\0${state.threshold}\0${JSON.stringify(state.flags)}\0${[...state.systemCritical].join(',')}`;
    let hash = this.#last?.key === key ? this.#last.hash : undefined;
    if (hash !== undefined && this.#sealed.has(hash)) return hash;
    const policy = decisionPolicy(state);
    hash = policyHash(policy);
    await this.#sealed.ensure(core, hash, policy);
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
