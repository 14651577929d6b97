/**
 * The decision inputs this log holds: what many decisions share besides their policy (the
 * consent between an agent and its data subject, an allowed decision's MCP rule results) is
 * sealed once as a `decision_input` record, and each decision record names it by hash, so
 * replay resolves it from the log alone.
 */
import type { RuntimeCore } from '../core.ts';
import type { Decision, DecisionState } from '../decide.ts';
import { decisionInputOf } from '../decision-record.ts';
import { inputHash, type DecisionInput, type InputRefs } from '../frozen.ts';
import { SealedByHash } from './sealed-by-hash.ts';

/**
 * An input's hash, kept by the identity of the rows its lists hold when every row is frozen
 * (the consent rows the view mirror serves and the rule results every passing request shares,
 * frozen through and through): the same frozen rows are the same content, so an agent's
 * requests skip the canonical form.
 */
interface KnownRows {
  rows: readonly object[];
  /** Where the second list starts (consent: the grants after the bailments). */
  split: number;
  hash: string;
}

export class DecisionInputs {
  readonly #sealed = new SealedByHash('decision_input', decisionInputOf, inputHash);
  /** By the first row of each input whose rows are all frozen; bounded by those rows' life. */
  readonly #byFirstRow = new WeakMap<object, KnownRows>();

  get byHash(): ReadonlyMap<string, DecisionInput> {
    return this.#sealed.byHash;
  }

  load(core: RuntimeCore): Promise<void> {
    return this.#sealed.load(core);
  }

  /**
   * The hashes a decision's record names instead of carrying them: the consent when there is
   * any, the rule results of an allowed decision (a denial keeps its evidence inline), each
   * sealed first when this log does not hold it yet. A failed seal throws (the decision is not
   * sealed) and is retried by the next decision.
   */
  async refs(core: RuntimeCore, decision: Decision, state: DecisionState): Promise<InputRefs> {
    const { consent } = state;
    const byConsent =
      consent.bailments.length > 0 || consent.grants.length > 0
        ? this.#ensure(core, { input: 'consent', value: consent })
        : undefined;
    const byRules =
      decision.verdict === 'allow' && decision.rules.length > 0
        ? this.#ensure(core, { input: 'mcp_rules', value: decision.rules })
        : undefined;
    const [c, r] = await Promise.all([byConsent, byRules]);
    return { ...(c === undefined ? {} : { consent: c }), ...(r === undefined ? {} : { rules: r }) };
  }

  /** The content hash of `input`, whose value lists `lists` (in order). */
  #hashOf(input: DecisionInput, lists: ReadonlyArray<readonly object[]>): string {
    const rows = lists.length === 1 ? lists[0]! : lists.flat();
    const split = lists[0]!.length;
    const first = rows[0];
    if (first === undefined || !rows.every((r) => Object.isFrozen(r))) return inputHash(input);
    const known = this.#byFirstRow.get(first);
    if (
      known !== undefined &&
      known.split === split &&
      known.rows.length === rows.length &&
      known.rows.every((r, i) => r === rows[i])
    ) {
      return known.hash;
    }
    const hash = inputHash(input);
    this.#byFirstRow.set(first, { rows: [...rows], split, hash });
    return hash;
  }

  async #ensure(core: RuntimeCore, input: DecisionInput): Promise<string> {
    const hash = this.#hashOf(
      input,
      input.input === 'consent' ? [input.value.bailments, input.value.grants] : [input.value],
    );
    // A copy: what replay resolves is what was sealed, whatever later becomes of `input`.
    if (!this.#sealed.has(hash)) {
      await this.#sealed.ensure(core, hash, JSON.parse(JSON.stringify(input)) as DecisionInput);
    }
    return hash;
  }
}
