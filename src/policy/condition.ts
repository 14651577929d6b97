/**
 * `when` conditions on gateway policy rows: CEL expressions (the maintained
 * `@marcbachmann/cel-js`) over `args`, `caller` and `tool`. They are pure and bounded:
 *
 * - compiled once (at load, and cached by hash for decisions and replay), refusing expressions
 *   over 4 KiB, 1,000 AST nodes or depth 50, `matches` (a regular expression over an agent's
 *   arguments can backtrack without bound) and a comprehension inside another;
 * - evaluated over at most 64 KiB of canonical arguments nested at most 32 deep;
 * - anything but `true` or `false`, or any error, is an error, and an error denies.
 *
 * The result depends only on the expression and its inputs, all sealed in the decision, so a
 * replay re-evaluates it and gets the same answer.
 */
import { Environment } from '@marcbachmann/cel-js';
import { canonicalBytes, type JsonValue } from '../core/canonical.ts';
import { SigilError } from '../core/errors.ts';
import { sha256Hex } from '../core/hash.ts';

export const MAX_CONDITION_CHARS = 4096;
export const MAX_CONDITION_INPUT_BYTES = 64 * 1024;
export const MAX_CONDITION_INPUT_DEPTH = 32;
const MAX_CACHED = 1024;
const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

const env = new Environment({
  limits: {
    maxAstNodes: 1000,
    maxDepth: 50,
    maxListElements: 100,
    maxMapEntries: 100,
    maxCallArguments: 8,
  },
})
  .registerVariable('args', 'map')
  .registerVariable('caller', 'map')
  .registerVariable('tool', 'map');

/** What a condition sees. */
export interface ConditionInput {
  args: JsonValue;
  caller: JsonValue;
  tool: JsonValue;
}

export interface CompiledCondition {
  expression: string;
  /** Hex SHA-256 of the expression's UTF-8 text: how a decision names it. */
  hash: string;
  evaluate(input: ConditionInput): { ok: true; value: boolean } | { ok: false; error: string };
}

const cache = new Map<string, CompiledCondition>();

/** Refuses what parses but cannot be bounded: `matches`, nested comprehensions. */
function checkShape(node: unknown, inComprehension: boolean): void {
  if (Array.isArray(node)) {
    for (const n of node) checkShape(n, inComprehension);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const { op, args } = node as { op?: unknown; args?: unknown };
  let nested = inComprehension;
  if ((op === 'rcall' || op === 'call') && Array.isArray(args) && typeof args[0] === 'string') {
    if (args[0] === 'matches') {
      throw new Error('matches() is not allowed (use startsWith, endsWith or contains)');
    }
    if (COMPREHENSIONS.has(args[0])) {
      if (inComprehension)
        throw new Error(`${args[0]}() inside another comprehension is not allowed`);
      nested = true;
    }
  }
  checkShape(args, nested);
}

function depthOf(value: unknown, depth = 0): number {
  if (depth > MAX_CONDITION_INPUT_DEPTH) return depth;
  if (typeof value !== 'object' || value === null) return depth;
  let max = depth;
  for (const v of Object.values(value)) max = Math.max(max, depthOf(v, depth + 1));
  return max;
}

/** Compiles a condition; 'config_invalid' with the reason when it is not one. */
export function compileCondition(expression: string): CompiledCondition {
  const hash = sha256Hex(new TextEncoder().encode(expression));
  const hit = cache.get(hash);
  if (hit) return hit;
  let run: ReturnType<typeof env.parse>;
  try {
    if (expression.length > MAX_CONDITION_CHARS) {
      throw new Error(`longer than ${MAX_CONDITION_CHARS} characters`);
    }
    run = env.parse(expression);
    checkShape(run.ast, false);
    const checked = run.check();
    if (!checked.valid) throw checked.error ?? new Error('does not type-check');
    if (checked.type !== 'bool' && checked.type !== 'dyn') {
      throw new Error(`is of type ${checked.type}, not bool`);
    }
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
    throw new SigilError('config_invalid', `not a valid condition: ${first}`);
  }
  const compiled: CompiledCondition = {
    expression,
    hash,
    evaluate(input) {
      try {
        if (canonicalBytes(input.args).length > MAX_CONDITION_INPUT_BYTES) {
          return { ok: false, error: `arguments over ${MAX_CONDITION_INPUT_BYTES} bytes` };
        }
        if (depthOf(input.args) > MAX_CONDITION_INPUT_DEPTH) {
          return { ok: false, error: `arguments nested over ${MAX_CONDITION_INPUT_DEPTH} deep` };
        }
        const value: unknown = run(input as never);
        if (typeof value !== 'boolean') return { ok: false, error: 'did not yield a bool' };
        return { ok: true, value };
      } catch (err) {
        const first = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
        return { ok: false, error: first };
      }
    },
  };
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
  cache.set(hash, compiled);
  return compiled;
}
