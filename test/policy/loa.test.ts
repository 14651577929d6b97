import { describe, expect, it } from 'vitest';
import { isSigilError } from '../../src/core/errors.ts';
import { isLoa, LOAS, loaAtLeast, loaMin, loaRank, parseLoa } from '../../src/policy/loa.ts';

describe('loa', () => {
  it('orders the levels guest < observer < operator < mentor < root', () => {
    expect(LOAS.map(loaRank)).toEqual([0, 1, 2, 3, 4]);
    expect(loaAtLeast('mentor', 'operator')).toBe(true);
    expect(loaAtLeast('operator', 'mentor')).toBe(false);
    expect(loaAtLeast('root', 'root')).toBe(true);
    expect(loaMin('root', 'guest')).toBe('guest');
    expect(loaMin('observer', 'mentor')).toBe('observer');
  });

  it.each([
    ['Observer', 'observer'],
    ['ROOT', 'root'],
    [' mentor ', 'mentor'],
    ['guest', 'guest'],
    ['OpErAtOr', 'operator'],
  ])('parses %j case-insensitively', (input, loa) => {
    expect(parseLoa(input)).toBe(loa);
  });

  it.each(['', 'admin', 'roots', 'guest ,', 42, null, undefined, 'toString', '__proto__'])(
    'rejects %j with invalid_loa',
    (input) => {
      let caught: unknown;
      try {
        parseLoa(input);
      } catch (err) {
        caught = err;
      }
      expect(isSigilError(caught, 'invalid_loa')).toBe(true);
    },
  );

  it('isLoa accepts only canonical lowercase names', () => {
    expect(isLoa('root')).toBe(true);
    expect(isLoa('Root')).toBe(false);
    expect(isLoa('constructor')).toBe(false);
  });
});
