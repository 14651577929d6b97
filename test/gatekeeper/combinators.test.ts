import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSigilError } from '../../src/core/errors.ts';
import {
  MAX_COMBINATOR_DEPTH,
  MAX_COMBINATOR_NODES,
  MAX_COMBINATOR_WIDTH,
  parseCombinator,
  parseCombinatorJson,
  reduce,
  type Combinator,
  type CombinatorInput,
  type ReduceResult,
} from '../../src/gatekeeper/combinators.ts';

const id: Combinator = { type: 'identity' };
const seq = (...terms: Combinator[]): Combinator => ({ type: 'sequence', terms });
const par = (...terms: Combinator[]): Combinator => ({ type: 'parallel', terms });
const choice = (...terms: Combinator[]): Combinator => ({ type: 'choice', terms });
const guard = (term: Combinator, required_key: string, expected_value?: string): Combinator => ({
  type: 'guard',
  term,
  predicate:
    expected_value === undefined
      ? { name: `has_${required_key}`, required_key }
      : { name: `${required_key}_is_${expected_value}`, required_key, expected_value },
});
const set = (term: Combinator, output_key: string, output_value: string): Combinator => ({
  type: 'transform',
  term,
  transform: { name: `set_${output_key}`, output_key, output_value },
});
const retry = (term: Combinator, max_retries: number, current_attempt = 0): Combinator => ({
  type: 'retry',
  term,
  policy: { max_retries, current_attempt },
});
const timeout = (term: Combinator, budget: number): Combinator => ({
  type: 'timeout',
  term,
  budget,
});
const checkpoint = (term: Combinator, cid: string): Combinator => ({
  type: 'checkpoint',
  term,
  id: cid,
});

const input: CombinatorInput = { fields: { name: 'alice', role: 'judge' } };

function okOutput(result: ReduceResult) {
  if (!result.ok)
    throw new Error(`expected success, got ${result.error.code}: ${result.error.message}`);
  return result.output;
}

function errorOf(result: ReduceResult) {
  if (result.ok) throw new Error('expected failure');
  return result.error;
}

/** A sequence of sequences of identities with exactly `total` nodes (total ≥ 2). */
function treeWithNodes(total: number): Combinator {
  let leaves = total - 1;
  const groups: Combinator[] = [];
  while (leaves > 0) {
    leaves -= 1; // the group node itself
    const size = Math.min(leaves, MAX_COMBINATOR_WIDTH);
    groups.push(seq(...Array.from({ length: size }, () => id)));
    leaves -= size;
  }
  return seq(...groups);
}

function nested(depth: number, leaf: Combinator = id): Combinator {
  let term = leaf;
  for (let i = 0; i < depth; i += 1) term = timeout(term, 1_000_000);
  return term;
}

describe('combinator semantics', () => {
  it('Identity returns the input', () => {
    expect(okOutput(reduce(id, input))).toEqual({ fields: input.fields, checkpoint: null });
  });

  it('Sequence threads outputs; empty returns the input; a failing step is named', () => {
    expect(okOutput(reduce(seq(), input)).fields).toEqual(input.fields);
    const out = okOutput(
      reduce(seq(set(id, 'step1', 'done'), guard(set(id, 'step2', 'done'), 'step1')), input),
    );
    expect(out.fields).toMatchObject({ step1: 'done', step2: 'done' });
    const err = errorOf(reduce(seq(id, guard(id, 'admin')), input));
    expect(err.code).toBe('combinator_guard_failed');
    expect(err.message).toBe("Sequence step 1 failed: Guard predicate 'has_admin' failed");
  });

  it('Parallel gives every branch the original input and merges left to right', () => {
    const out = okOutput(
      reduce(par(set(id, 'a', '1'), set(id, 'b', '2'), set(id, 'a', '3')), input),
    );
    expect(out.fields).toEqual({ a: '3', b: '2', name: 'alice', role: 'judge' });
    // the second branch does not see the first branch's output
    const err = errorOf(reduce(par(set(id, 'a', '1'), guard(id, 'a')), input));
    expect(err.message).toMatch(/^Parallel branch 1 failed/);
    expect(okOutput(reduce(par(), input)).fields).toEqual(input.fields);
  });

  it('Choice returns the first success, swallowing errors; all failing is an error', () => {
    const out = okOutput(
      reduce(
        choice(
          guard(set(id, 'branch', 'first'), 'nope'),
          set(id, 'branch', 'second'),
          set(id, 'branch', 'third'),
        ),
        input,
      ),
    );
    expect(out.fields.branch).toBe('second');
    expect(errorOf(reduce(choice(guard(id, 'x'), guard(id, 'y')), input)).code).toBe(
      'combinator_choice_failed',
    );
    expect(errorOf(reduce(choice(), input)).code).toBe('combinator_choice_failed');
  });

  it('Guard checks presence and, when given, the expected value', () => {
    expect(reduce(guard(id, 'name'), input).ok).toBe(true);
    expect(reduce(guard(id, 'name', 'alice'), input).ok).toBe(true);
    expect(errorOf(reduce(guard(id, 'name', 'bob'), input)).code).toBe('combinator_guard_failed');
    expect(errorOf(reduce(guard(id, 'admin'), input)).code).toBe('combinator_guard_failed');
  });

  it('Transform sets one key on the inner output, keeping the rest', () => {
    const out = okOutput(reduce(set(id, 'status', 'verified'), input));
    expect(out.fields).toEqual({ name: 'alice', role: 'judge', status: 'verified' });
    expect(errorOf(reduce(set(guard(id, 'x'), 'a', 'b'), input)).code).toBe(
      'combinator_guard_failed',
    );
  });

  it('Retry records 0-based attempts and makes max_retries + 1 attempts', () => {
    expect(okOutput(reduce(retry(id, 3), input)).fields.retry_attempts).toBe('0');
    const failing = retry(guard(id, 'never'), 2);
    // 1 retry node + 3 attempts of the guard = 4 node reductions
    expect(errorOf(reduce(failing, input, { maxSteps: 4 })).code).toBe('combinator_guard_failed');
    expect(errorOf(reduce(failing, input, { maxSteps: 3 })).code).toBe('combinator_step_limit');
  });

  it('Retry policies are bounded', () => {
    expect(errorOf(reduce(retry(id, 101), input)).code).toBe('combinator_limit_exceeded');
    expect(errorOf(reduce(retry(id, 2, 3), input)).code).toBe('combinator_invalid');
    expect(reduce(retry(id, 100, 100), input).ok).toBe(true);
  });

  it('Timeout is a deterministic budget: Timeout(Sequence[Id, Id], 3) passes, with 2 it fails', () => {
    const passed = okOutput(reduce(timeout(seq(id, id), 3), input));
    expect(passed.fields.timeout_budget_ms).toBe('3');
    const err = errorOf(reduce(timeout(seq(id, id), 2), input));
    expect(err.code).toBe('combinator_timeout');
  });

  it('every node spends one unit of every enclosing budget', () => {
    // the inner timeout node, the sequence and two identities: 4 units of the outer budget
    expect(reduce(timeout(timeout(seq(id, id), 10), 4), input).ok).toBe(true);
    expect(errorOf(reduce(timeout(timeout(seq(id, id), 10), 3), input)).code).toBe(
      'combinator_timeout',
    );
    // a budget is restored when its Timeout ends
    expect(reduce(seq(timeout(id, 1), id, id, id), input).ok).toBe(true);
    expect(errorOf(reduce(timeout(id, 0), input)).code).toBe('combinator_timeout');
  });

  it('Checkpoint sets the checkpoint, which later steps carry forward', () => {
    expect(okOutput(reduce(checkpoint(id, 'cp-001'), input)).checkpoint).toBe('cp-001');
    expect(okOutput(reduce(seq(checkpoint(id, 'a'), id), input)).checkpoint).toBe('a');
    expect(okOutput(reduce(seq(checkpoint(id, 'a'), checkpoint(id, 'b')), input)).checkpoint).toBe(
      'b',
    );
    expect(okOutput(reduce(par(checkpoint(id, 'a'), id), input)).checkpoint).toBe('a');
    expect(okOutput(reduce(id, { fields: {}, checkpoint: 'resume' })).checkpoint).toBe('resume');
  });

  it('output keys are sorted and prototype-looking keys are plain data', () => {
    const hostile = JSON.parse('{"fields":{"z":"1","__proto__":"x","a":"2"}}') as CombinatorInput;
    const out = okOutput(reduce(guard(set(id, 'constructor', 'c'), '__proto__', 'x'), hostile));
    expect(Object.keys(out.fields)).toEqual(['__proto__', 'a', 'constructor', 'z']);
    expect(Object.hasOwn(out.fields, '__proto__')).toBe(true);
    expect(errorOf(reduce(guard(id, 'toString'), input)).code).toBe('combinator_guard_failed');
  });

  it('rejects a bad step limit', () => {
    for (const maxSteps of [0, -1, Number.NaN, 1.5]) {
      expect(errorOf(reduce(id, input, { maxSteps })).code).toBe('combinator_options_invalid');
    }
  });

  it('rejects malformed input without throwing', () => {
    for (const bad of [
      null,
      1,
      'x',
      { fields: null },
      { fields: { a: 1 } },
      { fields: {}, checkpoint: 3 },
    ]) {
      expect(errorOf(reduce(id, bad as unknown as CombinatorInput)).code).toBe(
        'combinator_input_invalid',
      );
    }
  });

  it('a composed program guards, fans out and checkpoints', () => {
    const program = seq(
      guard(id, 'authorized', 'true'),
      par(set(id, 'audited', 'yes'), set(id, 'logged', 'yes')),
      checkpoint(id, 'final'),
    );
    const out = okOutput(reduce(program, { fields: { authorized: 'true', user: 'alice' } }));
    expect(out).toEqual({
      fields: { audited: 'yes', authorized: 'true', logged: 'yes', user: 'alice' },
      checkpoint: 'final',
    });
  });
});

describe('combinator JSON and limits', () => {
  it('parses the tagged JSON form and round-trips', () => {
    const term = seq(
      guard(id, 'k', 'v'),
      par(set(id, 'a', 'b')),
      choice(retry(id, 2), timeout(checkpoint(id, 'c'), 5)),
    );
    const text = JSON.stringify(term);
    expect(parseCombinatorJson(text)).toEqual(term);
    expect(JSON.stringify(parseCombinator(JSON.parse(text)))).toBe(text);
  });

  it('rejects unknown types, unknown fields, missing fields and bad values', () => {
    const cases: unknown[] = [
      null,
      'identity',
      [],
      { type: 'nope' },
      { type: 'identity', extra: 1 },
      { type: 'sequence' },
      { type: 'sequence', terms: {} },
      { type: 'guard', term: id },
      { type: 'guard', term: id, predicate: { name: 'n', required_key: 3 } },
      { type: 'transform', term: id, transform: { name: 'n', output_key: 'k' } },
      { type: 'timeout', term: id, budget: -1 },
      { type: 'timeout', term: id, budget: 1.5 },
      { type: 'checkpoint', term: id, id: 7 },
      { type: 'retry', term: id, policy: { max_retries: '1', current_attempt: 0 } },
    ];
    for (const raw of cases) {
      expect(() => parseCombinator(raw), JSON.stringify(raw)).toThrow(
        expect.objectContaining({ code: 'combinator_invalid' }),
      );
    }
    expect(() => parseCombinatorJson('{"type":')).toThrow(
      expect.objectContaining({ code: 'combinator_invalid' }),
    );
  });

  it('depth: 128 levels pass, 129 fail, while parsing and before reducing', () => {
    expect(reduce(nested(MAX_COMBINATOR_DEPTH), input).ok).toBe(true);
    expect(() => parseCombinator(nested(MAX_COMBINATOR_DEPTH + 1))).toThrow(
      expect.objectContaining({ code: 'combinator_limit_exceeded' }),
    );
    expect(errorOf(reduce(nested(MAX_COMBINATOR_DEPTH + 1), input)).code).toBe(
      'combinator_limit_exceeded',
    );
  });

  it('width: 256 children pass, 257 fail', () => {
    expect(reduce(seq(...Array.from({ length: MAX_COMBINATOR_WIDTH }, () => id)), input).ok).toBe(
      true,
    );
    for (const make of [seq, par, choice]) {
      const wide = make(...Array.from({ length: MAX_COMBINATOR_WIDTH + 1 }, () => id));
      expect(errorOf(reduce(wide, input)).code).toBe('combinator_limit_exceeded');
      expect(() => parseCombinatorJson(JSON.stringify(wide))).toThrow(
        expect.objectContaining({ code: 'combinator_limit_exceeded' }),
      );
    }
  });

  it('node count: 10,000 nodes pass, 10,001 fail', () => {
    expect(reduce(treeWithNodes(MAX_COMBINATOR_NODES), input).ok).toBe(true);
    expect(errorOf(reduce(treeWithNodes(MAX_COMBINATOR_NODES + 1), input)).code).toBe(
      'combinator_limit_exceeded',
    );
    expect(() =>
      parseCombinatorJson(JSON.stringify(treeWithNodes(MAX_COMBINATOR_NODES + 1))),
    ).toThrow(expect.objectContaining({ code: 'combinator_limit_exceeded' }));
  });

  it('hostile depth cannot overflow the stack', () => {
    let deep: unknown = id;
    for (let i = 0; i < 200_000; i += 1) deep = { type: 'checkpoint', term: deep, id: 'x' };
    expect(() => parseCombinator(deep)).toThrow(
      expect.objectContaining({ code: 'combinator_limit_exceeded' }),
    );
    const text =
      '{"type":"timeout","budget":1,"term":'.repeat(100_000) +
      '{"type":"identity"}' +
      '}'.repeat(100_000);
    expect(() => parseCombinatorJson(text)).toThrow(
      expect.objectContaining({ code: 'combinator_limit_exceeded' }),
    );
    const cyclic: { type: string; term?: unknown; budget: number } = { type: 'timeout', budget: 1 };
    cyclic.term = cyclic;
    expect(errorOf(reduce(cyclic as Combinator, input)).code).toBe('combinator_limit_exceeded');
  });

  it('throwing getters and proxies become typed errors', () => {
    const trap = {
      type: 'sequence',
      get terms(): unknown[] {
        throw new Error('boom');
      },
    };
    expect(() => parseCombinator(trap)).toThrow(
      expect.objectContaining({ code: 'combinator_invalid' }),
    );
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(errorOf(reduce(proxy as Combinator, input)).code).toBe('combinator_invalid');
  });

  it('exponential retry nesting is cut off by the step limit', () => {
    let term: Combinator = guard(id, 'never');
    for (let i = 0; i < 20; i += 1) term = retry(term, 100);
    expect(errorOf(reduce(term, input)).code).toBe('combinator_step_limit');
    // the limit aborts the whole reduction: a Choice cannot swallow it and fall through
    expect(errorOf(reduce(choice(term, id), input)).code).toBe('combinator_step_limit');
  });
});

// ---------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------

const keyArb = fc.constantFrom('a', 'b', 'c', 'd');
const valueArb = fc.constantFrom('0', '1', '2');
const inputArb = fc.record({ fields: fc.dictionary(keyArb, valueArb, { maxKeys: 4 }) });

const { term: termArb } = fc.letrec<{ term: Combinator }>((tie) => ({
  term: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant<Combinator>(id),
    fc
      .array(tie('term'), { maxLength: 3 })
      .map((terms): Combinator => ({ type: 'sequence', terms })),
    fc
      .array(tie('term'), { maxLength: 3 })
      .map((terms): Combinator => ({ type: 'parallel', terms })),
    fc.array(tie('term'), { maxLength: 3 }).map((terms): Combinator => ({ type: 'choice', terms })),
    fc
      .tuple(tie('term'), keyArb, fc.option(valueArb, { nil: undefined }))
      .map(([t, k, v]) => guard(t, k, v)),
    fc.tuple(tie('term'), keyArb, valueArb).map(([t, k, v]) => set(t, k, v)),
    fc.tuple(tie('term'), fc.integer({ min: 0, max: 3 })).map(([t, n]) => retry(t, n)),
    fc.tuple(tie('term'), fc.integer({ min: 0, max: 12 })).map(([t, n]) => timeout(t, n)),
    fc.tuple(tie('term'), fc.constantFrom('p', 'q')).map(([t, c]) => checkpoint(t, c)),
  ),
}));

/** Compares results by outcome: outputs exactly, errors by code. */
function sameOutcome(a: ReduceResult, b: ReduceResult): void {
  expect(a.ok).toBe(b.ok);
  if (a.ok && b.ok) expect(a.output).toEqual(b.output);
  if (!a.ok && !b.ok) expect(a.error.code).toBe(b.error.code);
}

describe('combinator properties', () => {
  it('Identity is a left and right unit of Sequence', () => {
    fc.assert(
      fc.property(termArb, inputArb, (t, inp) => {
        const plain = reduce(t, inp);
        sameOutcome(reduce(seq(id, t), inp), plain);
        sameOutcome(reduce(seq(t, id), inp), plain);
      }),
      { numRuns: 300 },
    );
  });

  it('Sequence is associative', () => {
    fc.assert(
      fc.property(termArb, termArb, termArb, inputArb, (a, b, c, inp) => {
        const left = reduce(seq(seq(a, b), c), inp);
        sameOutcome(left, reduce(seq(a, seq(b, c)), inp));
      }),
      { numRuns: 300 },
    );
  });

  it('Choice picks the first alternative that succeeds on its own', () => {
    fc.assert(
      fc.property(fc.array(termArb, { maxLength: 4 }), inputArb, (alternatives, inp) => {
        const result = reduce(choice(...alternatives), inp);
        const first = alternatives.map((t) => reduce(t, inp)).find((r) => r.ok);
        if (first === undefined) expect(errorOf(result).code).toBe('combinator_choice_failed');
        else expect(okOutput(result)).toEqual(okOutput(first));
      }),
      { numRuns: 300 },
    );
  });

  it('a false Guard never runs its body', () => {
    fc.assert(
      fc.property(termArb, inputArb, (body, inp) => {
        const falseGuard = guard(set(body, 'ran', 'yes'), 'absent');
        // a step limit of 1 admits the guard node only: reducing any body node would exceed it
        expect(errorOf(reduce(falseGuard, inp, { maxSteps: 1 })).code).toBe(
          'combinator_guard_failed',
        );
        // likewise a budget of 1 inside a Timeout
        expect(errorOf(reduce(timeout(falseGuard, 1), inp)).code).toBe('combinator_guard_failed');
        const out = okOutput(reduce(choice(falseGuard, id), inp));
        expect(out.fields.ran).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it('reduction is deterministic and survives a JSON round trip', () => {
    fc.assert(
      fc.property(termArb, inputArb, (t, inp) => {
        const first = reduce(t, inp);
        expect(reduce(t, inp)).toEqual(first);
        expect(reduce(parseCombinatorJson(JSON.stringify(t)), inp)).toEqual(first);
      }),
      { numRuns: 300 },
    );
  });

  it('arbitrary JSON never crashes parse or reduce', () => {
    const garbage = fc.oneof(
      fc.jsonValue({ maxDepth: 6 }),
      fc.anything({ maxDepth: 4 }),
      termArb.chain((t) =>
        fc
          .tuple(fc.constant(JSON.stringify(t)), fc.nat(), fc.string({ maxLength: 3 }))
          .map(([text, at, junk]) => {
            const cut = at % (text.length + 1);
            try {
              return JSON.parse(text.slice(0, cut) + junk + text.slice(cut)) as unknown;
            } catch {
              return text.slice(0, cut);
            }
          }),
      ),
    );
    fc.assert(
      fc.property(garbage, (raw) => {
        try {
          parseCombinator(raw);
        } catch (err) {
          expect(isSigilError(err)).toBe(true);
          expect(['combinator_invalid', 'combinator_limit_exceeded']).toContain(
            (err as { code: string }).code,
          );
        }
        const result = reduce(raw as Combinator, input, { maxSteps: 10_000 });
        expect(typeof result.ok).toBe('boolean');
        if (!result.ok) expect(result.error.code).toMatch(/^combinator_[a-z_]+$/);
      }),
      { numRuns: 500 },
    );
  });

  it('deep and wide random trees stay within the limits and never throw', () => {
    const shapeArb = fc.array(
      fc.tuple(fc.constantFrom('deep', 'wide'), fc.integer({ min: 1, max: 300 })),
      {
        minLength: 1,
        maxLength: 6,
      },
    );
    fc.assert(
      fc.property(shapeArb, (shape) => {
        let term: Combinator = id;
        for (const [kind, n] of shape) {
          term = kind === 'deep' ? nested(n, term) : par(...Array.from({ length: n }, () => term));
        }
        const result = reduce(term, input, { maxSteps: 50_000 });
        if (!result.ok) {
          expect(['combinator_limit_exceeded', 'combinator_step_limit']).toContain(
            result.error.code,
          );
        }
      }),
      { numRuns: 60 },
    );
  });
});
