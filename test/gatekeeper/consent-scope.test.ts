import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  GENERIC_PERMISSION_VERBS,
  scopeClauses,
  scopeCovers,
  scopeCoversAll,
  scopeTokens,
} from '../../src/gatekeeper/consent-scope.ts';

describe('scopeCovers: the reference examples', () => {
  it('pace:advance covers advance_pace', () => {
    expect(scopeCovers('pace:advance', 'advance_pace')).toBe(true);
  });
  it('governance:decision covers enact:decision', () => {
    expect(scopeCovers('governance:decision', 'enact:decision')).toBe(true);
  });
  it('data:profile does not cover profile:delete', () => {
    expect(scopeCovers('data:profile', 'profile:delete')).toBe(false);
  });
});

describe('scopeCovers: edge cases', () => {
  const cases: [scope: string, permission: string, covers: boolean, why: string][] = [
    ['', 'read', false, 'empty scope never covers'],
    ['   ', 'read', false, 'blank scope never covers'],
    ['read', '', false, 'empty permission is never covered'],
    ['read', ' \t ', false, 'blank permission is never covered'],
    ['', '', false, 'empty never covers empty'],
    ['READ', 'read', true, 'equal ignoring ASCII case'],
    ['  data:medical  ', 'data:medical', true, 'trimmed before comparing'],
    ['\u0085read\u3000', 'read', true, 'NEL and ideographic space are White_Space'],
    ['read', '\ufeffread', false, 'BOM is not White_Space (unlike JS trim)'],
    ['Äpfel', 'äpfel', false, 'case folding is ASCII only'],
    ['DATA:Medical', 'data:medical:read', true, 'tokens are lowercased'],
    ['data:medical', 'medical', true, 'one-token permission equal to the last token'],
    ['data:medical', 'data', false, 'one-token permission equal to a non-last token'],
    ['records:write', 'write', true, 'rule 1 applies even to generic verbs'],
    ['data', 'data:medical', false, 'a one-token clause is never a prefix'],
    ['data:medical', 'data:medical:read', true, 'multi-token clause is a prefix'],
    ['data/medical', 'data.medical.read', true, 'separators are interchangeable'],
    ['data medical', 'data-medical-x', true, 'space and dash separate tokens'],
    ['a:b:c', 'a:b', false, 'a longer clause is not a prefix of a shorter permission'],
    ['data:export', 'profile:export', true, 'shared non-generic last token'],
    ['data:read', 'profile:read', false, 'shared generic last token does not count'],
    ['data:delete', 'profile:delete', false, 'delete is generic'],
    ['read:data', 'data:read', true, 'same token set'],
    ['x:y:x', 'y:x:y', true, 'token sets are de-duplicated'],
    ['a:b', 'a:b:c:d', true, 'prefix of a longer permission'],
    ['data:medical, data:profile', 'data:profile:read', true, 'any comma clause may cover'],
    ['data:medical;data:profile', 'profile', true, 'semicolon separates clauses'],
    ['a;b', 'b', true, 'one-token clause equal to the permission'],
    [',,;', 'read', false, 'no non-empty clauses'],
    ['a', 'a,b', false, 'commas in the permission do not split it'],
    [':::', ':::', true, 'equal strings cover even without tokens'],
    ['x', ':::', false, 'a permission with no tokens is covered only by equality'],
    ['data::medical', 'data:medical:read', true, 'empty tokens are dropped'],
    ['Data_Medical', 'data:medical', true, 'underscore separates, case ignored'],
    ['governance:decision', 'decision', true, 'one token equal to last'],
    ['governance:decision', 'governance', false, 'one token equal to first only'],
    ['tools:read_file', 'read_file', true, 'shared non-generic last token "file"'],
    ['tools:search', 'search', true, 'tool name equal to last token'],
  ];
  for (const [scope, permission, covers, why] of cases) {
    it(`${JSON.stringify(scope)} ${covers ? 'covers' : 'does not cover'} ${JSON.stringify(permission)} (${why})`, () => {
      expect(scopeCovers(scope, permission)).toBe(covers);
    });
  }
});

describe('scope helpers', () => {
  it('splits clauses on , and ; and drops empty ones', () => {
    expect(scopeClauses(' a , b;; c ;')).toEqual(['a', 'b', 'c']);
  });
  it('tokenises on : _ . / - and space, lowercasing ASCII', () => {
    expect(scopeTokens('Data:Medical_Record.v1/Read-Only x')).toEqual([
      'data',
      'medical',
      'record',
      'v1',
      'read',
      'only',
      'x',
    ]);
  });
  it('has the fifteen generic verbs', () => {
    expect([...GENERIC_PERMISSION_VERBS].sort()).toEqual(
      [
        'attest',
        'create',
        'delete',
        'execute',
        'grant',
        'propose',
        'publish',
        'read',
        'recommend',
        'revoke',
        'sign',
        'update',
        'validate',
        'verify',
        'write',
      ].sort(),
    );
  });
  it('an empty request is always covered, even by an empty scope', () => {
    expect(scopeCoversAll('', [])).toBe(true);
    expect(scopeCoversAll('data:medical', [])).toBe(true);
  });
  it('every permission must be covered', () => {
    expect(scopeCoversAll('data:medical', ['medical', 'data:medical:read'])).toBe(true);
    expect(scopeCoversAll('data:medical', ['medical', 'profile:delete'])).toBe(false);
  });
});

describe('scopeCovers: properties', () => {
  const text = fc.string({ unit: fc.constantFrom(...'aAbB:_./- ,;\t'.split('')), maxLength: 12 });
  const upper = (s: string) => s.replace(/[a-z]/g, (c) => c.toUpperCase());

  it('a non-blank value covers itself', () => {
    fc.assert(
      fc.property(text, (s) => {
        fc.pre(s.trim() !== '');
        expect(scopeCovers(s, s)).toBe(true);
      }),
    );
  });
  it('blank never covers and is never covered', () => {
    fc.assert(
      fc.property(text, fc.constantFrom('', ' ', '\t\n'), (s, blank) => {
        expect(scopeCovers(blank, s)).toBe(false);
        expect(scopeCovers(s, blank)).toBe(false);
      }),
    );
  });
  it('ASCII case never matters', () => {
    fc.assert(
      fc.property(text, text, (s, p) => {
        expect(scopeCovers(upper(s), p)).toBe(scopeCovers(s, p));
        expect(scopeCovers(s, upper(p))).toBe(scopeCovers(s, p));
      }),
    );
  });
  it('adding a clause never removes coverage', () => {
    fc.assert(
      fc.property(text, text, text, (s, extra, p) => {
        fc.pre(!s.includes(',') && !s.includes(';') && s.trim() !== '');
        if (scopeCovers(s, p)) expect(scopeCovers(`${s},${extra}`, p)).toBe(true);
      }),
    );
  });
});
