import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  globToRegExp,
  namespacedName,
  namespacedUri,
  PolicyTable,
  splitNamespaced,
  splitNamespacedUri,
  type PolicyRule,
} from '../../src/mcp/index.ts';

const rules: PolicyRule[] = [
  { kind: 'tool', pattern: 'notes__delete_*', minLoa: 'mentor', approval: false, index: 1 },
  { kind: 'tool', pattern: 'notes__*', minLoa: 'operator', approval: false, index: 2 },
  {
    kind: 'tool',
    pattern: 'fs__write_?ile',
    minLoa: 'operator',
    scope: 'mcp.fs.write',
    approval: true,
    index: 3,
  },
  { kind: 'resource', pattern: 'notes__notes://*', minLoa: 'observer', approval: false, index: 4 },
];

describe('globs', () => {
  it('match * as any run and ? as one character, everything else literally', () => {
    expect(globToRegExp('a*c').test('abbbc')).toBe(true);
    expect(globToRegExp('a?c').test('abc')).toBe(true);
    expect(globToRegExp('a?c').test('abbc')).toBe(false);
    expect(globToRegExp('a.c').test('abc')).toBe(false);
    expect(globToRegExp('x(y)+[z]').test('x(y)+[z]')).toBe(true);
  });

  it('match every literal string exactly (property)', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !/[*?]/.test(s)),
        fc.string(),
        (lit, other) => {
          expect(globToRegExp(lit).test(lit)).toBe(true);
          if (other !== lit) expect(globToRegExp(lit).test(other)).toBe(false);
        },
      ),
    );
  });
});

describe('the policy table', () => {
  const table = new PolicyTable(rules);

  it('takes the first matching row', () => {
    expect(table.match('tool', 'notes__delete_note')?.index).toBe(1);
    expect(table.match('tool', 'notes__read_note')?.index).toBe(2);
    expect(table.match('resource', 'notes__delete_note')).toBeNull();
  });

  it('denies by default, below the minimum LOA and outside the scope', () => {
    expect(table.check('tool', 'other__x', 'root', undefined)?.code).toBe('tool_not_allowed');
    expect(table.check('tool', 'notes__delete_note', 'operator', ['mcp.tools.call'])?.code).toBe(
      'loa_insufficient',
    );
    expect(table.check('tool', 'notes__delete_note', 'mentor', ['mcp.tools.call'])).toBeNull();
    expect(table.check('tool', 'fs__write_file', 'root', ['mcp.tools.call'])?.code).toBe(
      'scope_denied',
    );
    expect(
      table.check('tool', 'fs__write_file', 'operator', ['mcp.tools.call', 'mcp.fs.*']),
    ).toBeNull();
    expect(table.check('prompt', 'notes__x', 'root', undefined)?.code).toBe('tool_not_allowed');
  });
});

describe('namespacing', () => {
  it('round-trips tool names and resource URIs', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]|_[a-z0-9-]){0,10}$/),
        fc.string({ minLength: 1 }),
        (upstream, name) => {
          expect(splitNamespaced(namespacedName(upstream, name))).toEqual({ upstream, name });
          expect(splitNamespacedUri(namespacedUri(upstream, name))).toEqual({
            upstream,
            uri: name,
          });
        },
      ),
    );
    expect(splitNamespaced('plain')).toBeNull();
    expect(splitNamespaced('__x')).toBeNull();
    expect(splitNamespacedUri('file:///etc/passwd')).toBeNull();
  });
});
