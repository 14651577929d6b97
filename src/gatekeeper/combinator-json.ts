import { SigilError } from '../core/errors.ts';

/** Deepest nesting accepted: the root is at depth 0, its children at 1 … */
export const MAX_COMBINATOR_DEPTH = 128;
/** Most children accepted in one Sequence, Parallel or Choice. */
export const MAX_COMBINATOR_WIDTH = 256;
/** Most nodes accepted in one combinator tree. */
export const MAX_COMBINATOR_NODES = 10_000;
/** Largest retry budget accepted by a Retry node. */
export const MAX_RETRIES = 100;

/** Guard predicate: `required_key` must be present (and equal `expected_value` when given). */
export interface Predicate {
  readonly name: string;
  readonly required_key: string;
  readonly expected_value?: string;
}

/** Transform: sets `output_key` to `output_value` on the inner term's output. */
export interface TransformFn {
  readonly name: string;
  readonly output_key: string;
  readonly output_value: string;
}

/** Retry policy: up to `max_retries` + 1 attempts; `current_attempt` ≤ `max_retries`. */
export interface RetryPolicy {
  readonly max_retries: number;
  readonly current_attempt: number;
}

/**
 * A combinator term. The TypeScript shape is also the JSON form: a tagged object
 * (`{"type":"sequence","terms":[…]}`), so a parsed term serialises back unchanged.
 */
export type Combinator =
  | { readonly type: 'identity' }
  | { readonly type: 'sequence'; readonly terms: readonly Combinator[] }
  | { readonly type: 'parallel'; readonly terms: readonly Combinator[] }
  | { readonly type: 'choice'; readonly terms: readonly Combinator[] }
  | { readonly type: 'guard'; readonly term: Combinator; readonly predicate: Predicate }
  | { readonly type: 'transform'; readonly term: Combinator; readonly transform: TransformFn }
  | { readonly type: 'retry'; readonly term: Combinator; readonly policy: RetryPolicy }
  | { readonly type: 'timeout'; readonly term: Combinator; readonly budget: number }
  | { readonly type: 'checkpoint'; readonly term: Combinator; readonly id: string };

type Obj = Record<string, unknown>;

/** A node still to be parsed and the slot its result goes into. */
interface Pending {
  readonly raw: unknown;
  readonly depth: number;
  readonly path: string;
  readonly place: (node: Combinator) => void;
}

const invalid = (path: string, why: string): SigilError =>
  new SigilError('combinator_invalid', `combinator at ${path}: ${why}`, { path });

const tooBig = (path: string, why: string): SigilError =>
  new SigilError('combinator_limit_exceeded', `combinator at ${path}: ${why}`, { path });

function asObject(
  raw: unknown,
  path: string,
  keys: readonly string[],
  optional: readonly string[] = [],
): Obj {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw invalid(path, 'expected an object');
  }
  const obj = raw as Obj;
  for (const key of Object.keys(obj)) {
    if (!keys.includes(key) && !optional.includes(key))
      throw invalid(path, `unknown field "${key}"`);
  }
  for (const key of keys) {
    if (!Object.hasOwn(obj, key)) throw invalid(path, `missing field "${key}"`);
  }
  return obj;
}

function str(obj: Obj, key: string, path: string): string {
  const value = obj[key];
  if (typeof value !== 'string') throw invalid(path, `"${key}" must be a string`);
  return value;
}

function int(obj: Obj, key: string, path: string): number {
  const value = obj[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(path, `"${key}" must be a non-negative safe integer`);
  }
  return value;
}

function parsePredicate(raw: unknown, path: string): Predicate {
  const obj = asObject(raw, path, ['name', 'required_key'], ['expected_value']);
  const name = str(obj, 'name', path);
  const required_key = str(obj, 'required_key', path);
  if (obj.expected_value === undefined) return { name, required_key };
  return { name, required_key, expected_value: str(obj, 'expected_value', path) };
}

function parseTransform(raw: unknown, path: string): TransformFn {
  const obj = asObject(raw, path, ['name', 'output_key', 'output_value']);
  return {
    name: str(obj, 'name', path),
    output_key: str(obj, 'output_key', path),
    output_value: str(obj, 'output_value', path),
  };
}

function parsePolicy(raw: unknown, path: string): RetryPolicy {
  const obj = asObject(raw, path, ['max_retries', 'current_attempt']);
  const max_retries = int(obj, 'max_retries', path);
  const current_attempt = int(obj, 'current_attempt', path);
  if (max_retries > MAX_RETRIES) {
    throw tooBig(path, `max_retries ${max_retries} exceeds ${MAX_RETRIES}`);
  }
  if (current_attempt > max_retries) {
    throw invalid(path, `current_attempt ${current_attempt} exceeds max_retries ${max_retries}`);
  }
  return { max_retries, current_attempt };
}

/**
 * Parses one node's own fields, pushing its children onto `queue` with slots that
 * fill the node's child fields once they are parsed. Returns the (still hollow) node.
 */
function parseNode(item: Pending, queue: Pending[]): Combinator {
  const { raw, path } = item;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw invalid(path, 'expected an object');
  }
  const type = (raw as Obj).type;
  const depth = item.depth + 1;
  const child = (value: unknown, childPath: string, place: (node: Combinator) => void): void => {
    queue.push({ raw: value, depth, path: childPath, place });
  };
  switch (type) {
    case 'identity':
      asObject(raw, path, ['type']);
      return { type };
    case 'sequence':
    case 'parallel':
    case 'choice': {
      const obj = asObject(raw, path, ['type', 'terms']);
      const terms = obj.terms;
      if (!Array.isArray(terms)) throw invalid(path, '"terms" must be an array');
      if (terms.length > MAX_COMBINATOR_WIDTH) {
        throw tooBig(path, `${terms.length} children exceed ${MAX_COMBINATOR_WIDTH}`);
      }
      const parsed: Combinator[] = new Array<Combinator>(terms.length);
      for (let i = terms.length - 1; i >= 0; i -= 1) {
        child(terms[i], `${path}.terms[${i}]`, (node) => {
          parsed[i] = node;
        });
      }
      return { type, terms: parsed };
    }
    case 'guard': {
      const obj = asObject(raw, path, ['type', 'term', 'predicate']);
      const node = {
        type,
        term: IDENTITY,
        predicate: parsePredicate(obj.predicate, `${path}.predicate`),
      };
      child(obj.term, `${path}.term`, (inner) => (node.term = inner));
      return node;
    }
    case 'transform': {
      const obj = asObject(raw, path, ['type', 'term', 'transform']);
      const node = {
        type,
        term: IDENTITY,
        transform: parseTransform(obj.transform, `${path}.transform`),
      };
      child(obj.term, `${path}.term`, (inner) => (node.term = inner));
      return node;
    }
    case 'retry': {
      const obj = asObject(raw, path, ['type', 'term', 'policy']);
      const node = { type, term: IDENTITY, policy: parsePolicy(obj.policy, `${path}.policy`) };
      child(obj.term, `${path}.term`, (inner) => (node.term = inner));
      return node;
    }
    case 'timeout': {
      const obj = asObject(raw, path, ['type', 'term', 'budget']);
      const node = { type, term: IDENTITY, budget: int(obj, 'budget', path) };
      child(obj.term, `${path}.term`, (inner) => (node.term = inner));
      return node;
    }
    case 'checkpoint': {
      const obj = asObject(raw, path, ['type', 'term', 'id']);
      const node = { type, term: IDENTITY, id: str(obj, 'id', path) };
      child(obj.term, `${path}.term`, (inner) => (node.term = inner));
      return node;
    }
    default:
      throw invalid(path, `unknown type ${JSON.stringify(String(type)).slice(0, 64)}`);
  }
}

const IDENTITY: Combinator = Object.freeze({ type: 'identity' });

/**
 * Parses a combinator from its JSON form into a fresh, validated term.
 * Iterative (no recursion), so hostile nesting cannot overflow the stack; depth,
 * width and node-count limits are enforced while walking, before any child is read
 * past a limit. Throws SigilError 'combinator_invalid' or 'combinator_limit_exceeded'
 * and nothing else, whatever `json` is (including cycles, proxies and throwing getters).
 */
export function parseCombinator(json: unknown): Combinator {
  let root: Combinator = IDENTITY;
  const queue: Pending[] = [{ raw: json, depth: 0, path: '$', place: (node) => (root = node) }];
  let nodes = 0;
  try {
    for (let item = queue.pop(); item !== undefined; item = queue.pop()) {
      if (item.depth > MAX_COMBINATOR_DEPTH) {
        throw tooBig(item.path, `nesting depth exceeds ${MAX_COMBINATOR_DEPTH}`);
      }
      nodes += 1;
      if (nodes > MAX_COMBINATOR_NODES) {
        throw tooBig(item.path, `more than ${MAX_COMBINATOR_NODES} nodes`);
      }
      item.place(parseNode(item, queue));
    }
  } catch (err) {
    if (err instanceof SigilError) throw err;
    throw new SigilError('combinator_invalid', 'combinator could not be read');
  }
  return root;
}

/** Parses combinator JSON text; malformed text is SigilError 'combinator_invalid'. */
export function parseCombinatorJson(text: string): Combinator {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SigilError('combinator_invalid', 'combinator is not valid JSON');
  }
  return parseCombinator(value);
}
