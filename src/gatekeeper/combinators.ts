import { isSigilError } from '../core/errors.ts';
import { parseCombinator, type Combinator } from './combinator-json.ts';

export {
  MAX_COMBINATOR_DEPTH,
  MAX_COMBINATOR_NODES,
  MAX_COMBINATOR_WIDTH,
  MAX_RETRIES,
  parseCombinator,
  parseCombinatorJson,
} from './combinator-json.ts';
export type { Combinator, Predicate, RetryPolicy, TransformFn } from './combinator-json.ts';

/** Default cap on node reductions in one `reduce` (retries multiply work; this bounds it). */
export const DEFAULT_MAX_REDUCTION_STEPS = 1_000_000;

/** What a term reads: string fields and, optionally, the checkpoint reached so far. */
export interface CombinatorInput {
  readonly fields: Readonly<Record<string, string>>;
  readonly checkpoint?: string | null;
}

/** What a term produces: fields with keys in sorted order, and the last checkpoint reached. */
export interface CombinatorOutput {
  readonly fields: Readonly<Record<string, string>>;
  readonly checkpoint: string | null;
}

/** A typed reduction failure; `code` is stable, `message` says which node failed and why. */
export interface CombinatorError {
  readonly code: string;
  readonly message: string;
}

export type ReduceResult =
  | { readonly ok: true; readonly output: CombinatorOutput }
  | { readonly ok: false; readonly error: CombinatorError };

export interface ReduceOptions {
  /** Most node reductions allowed before failing with 'combinator_step_limit'. */
  readonly maxSteps?: number;
}

/** Working value during reduction: fields in a Map (no prototype keys), never mutated once made. */
interface Value {
  readonly fields: ReadonlyMap<string, string>;
  readonly checkpoint: string | null;
}

type Step =
  | { readonly ok: true; readonly value: Value }
  | { readonly ok: false; readonly error: CombinatorError };

/**
 * Aborts the whole reduction: unlike node failures, no Choice or Retry may swallow it,
 * so the step limit bounds the work of every reduction, whatever the term.
 */
class StepLimitExceeded extends Error {
  constructor(maxSteps: number) {
    super(`reduction exceeded ${maxSteps} steps`);
  }
}

/**
 * Reduction state. Timeout budgets are deterministic: `spent` counts node reductions,
 * and `deadline` is the smallest `spent` value any enclosing Timeout allows, so spending
 * one unit of every enclosing budget is one increment and one compare.
 */
class Reducer {
  private spent = 0;
  private deadline = Number.POSITIVE_INFINITY;
  private steps = 0;

  constructor(private readonly maxSteps: number) {}

  run(term: Combinator, input: Value): Step {
    this.steps += 1;
    if (this.steps > this.maxSteps) throw new StepLimitExceeded(this.maxSteps);
    if (this.spent + 1 > this.deadline) {
      return fail('combinator_timeout', `timeout budget exhausted at ${term.type}`);
    }
    this.spent += 1;

    switch (term.type) {
      case 'identity':
        return { ok: true, value: input };
      case 'sequence': {
        let current = input;
        for (const [i, inner] of term.terms.entries()) {
          const out = this.run(inner, current);
          if (!out.ok) return wrap(out.error, `Sequence step ${i} failed`);
          current = out.value;
        }
        return { ok: true, value: current };
      }
      case 'parallel': {
        const merged = new Map(input.fields);
        let checkpoint = input.checkpoint;
        for (const [i, inner] of term.terms.entries()) {
          const out = this.run(inner, input);
          if (!out.ok) return wrap(out.error, `Parallel branch ${i} failed`);
          for (const [key, value] of out.value.fields) merged.set(key, value);
          if (out.value.checkpoint !== null) checkpoint = out.value.checkpoint;
        }
        return { ok: true, value: { fields: merged, checkpoint } };
      }
      case 'choice': {
        for (const inner of term.terms) {
          const out = this.run(inner, input);
          if (out.ok) return out;
        }
        return fail('combinator_choice_failed', 'Choice: all alternatives failed');
      }
      case 'guard': {
        const { required_key, expected_value, name } = term.predicate;
        const actual = input.fields.get(required_key);
        if (actual === undefined || (expected_value !== undefined && actual !== expected_value)) {
          return fail('combinator_guard_failed', `Guard predicate '${name}' failed`);
        }
        return this.run(term.term, input);
      }
      case 'transform': {
        const out = this.run(term.term, input);
        if (!out.ok) return out;
        return {
          ok: true,
          value: withField(out.value, term.transform.output_key, term.transform.output_value),
        };
      }
      case 'retry': {
        for (let attempt = 0; ; attempt += 1) {
          const out = this.run(term.term, input);
          if (out.ok)
            return { ok: true, value: withField(out.value, 'retry_attempts', String(attempt)) };
          if (attempt >= term.policy.max_retries) return out;
        }
      }
      case 'timeout': {
        const outer = this.deadline;
        this.deadline = Math.min(outer, this.spent + term.budget);
        const out = this.run(term.term, input);
        this.deadline = outer;
        if (!out.ok) return out;
        return { ok: true, value: withField(out.value, 'timeout_budget_ms', String(term.budget)) };
      }
      case 'checkpoint': {
        const out = this.run(term.term, input);
        if (!out.ok) return out;
        return { ok: true, value: { fields: out.value.fields, checkpoint: term.id } };
      }
    }
  }
}

function fail(code: string, message: string): Step {
  return { ok: false, error: { code, message } };
}

function wrap(error: CombinatorError, prefix: string): Step {
  return { ok: false, error: { code: error.code, message: `${prefix}: ${error.message}` } };
}

function withField(value: Value, key: string, field: string): Value {
  const fields = new Map(value.fields);
  fields.set(key, field);
  return { fields, checkpoint: value.checkpoint };
}

/** Reads untrusted input into a Value, or explains why it is not a string map. */
function readInput(input: unknown): Value | CombinatorError {
  const bad = (message: string): CombinatorError => ({ code: 'combinator_input_invalid', message });
  if (typeof input !== 'object' || input === null) return bad('input must be an object');
  const { fields, checkpoint } = input as { fields?: unknown; checkpoint?: unknown };
  if (checkpoint !== undefined && checkpoint !== null && typeof checkpoint !== 'string') {
    return bad('input checkpoint must be a string or null');
  }
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    return bad('input fields must be an object');
  }
  const map = new Map<string, string>();
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value !== 'string') return bad(`input field "${key}" must be a string`);
    map.set(key, value);
  }
  return { fields: map, checkpoint: checkpoint ?? null };
}

/** Output fields as a plain object with keys sorted (code-unit order, as RFC 8785 sorts). */
function toOutput(value: Value): CombinatorOutput {
  const entries = [...value.fields].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { fields: Object.fromEntries(entries), checkpoint: value.checkpoint };
}

/**
 * Reduces `term` with `input`. Pure and deterministic: the same term and input always
 * give the same result. The term is re-validated first (shape, depth, width, node count,
 * retry budgets), so a term built in code obeys the same limits as parsed JSON.
 * Never throws: every failure is returned as `{ ok: false, error: { code, message } }`.
 */
export function reduce(
  term: Combinator,
  input: CombinatorInput,
  options: ReduceOptions = {},
): ReduceResult {
  try {
    const valid = parseCombinator(term);
    const start = readInput(input);
    if (!('fields' in start)) return { ok: false, error: start };
    const maxSteps = options.maxSteps ?? DEFAULT_MAX_REDUCTION_STEPS;
    if (!Number.isSafeInteger(maxSteps) || maxSteps < 1) {
      return {
        ok: false,
        error: {
          code: 'combinator_options_invalid',
          message: 'maxSteps must be a positive integer',
        },
      };
    }
    const out = new Reducer(maxSteps).run(valid, start);
    return out.ok ? { ok: true, output: toOutput(out.value) } : out;
  } catch (err) {
    if (err instanceof StepLimitExceeded) {
      return { ok: false, error: { code: 'combinator_step_limit', message: err.message } };
    }
    if (isSigilError(err)) return { ok: false, error: { code: err.code, message: err.message } };
    return { ok: false, error: { code: 'combinator_failed', message: 'reduction failed' } };
  }
}
