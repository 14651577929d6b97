import { SigilError } from '../core/errors.ts';

/** Levels of access, lowest first. The order is the privilege order. */
export const LOAS = ['guest', 'observer', 'operator', 'mentor', 'root'] as const;

/** A level of access: Guest reads public information, Root administers. */
export type Loa = (typeof LOAS)[number];

const RANK: Readonly<Record<Loa, number>> = {
  guest: 0,
  observer: 1,
  operator: 2,
  mentor: 3,
  root: 4,
};

/** True when `value` is a level of access in its canonical (lowercase) spelling. */
export function isLoa(value: unknown): value is Loa {
  return typeof value === 'string' && Object.hasOwn(RANK, value);
}

/**
 * Parses a level of access case-insensitively ("Observer", "ROOT", " mentor "),
 * so licenses and settings written in the original's capitalised spelling load.
 * Anything else throws SigilError 'invalid_loa'.
 */
export function parseLoa(value: unknown): Loa {
  const normalised = typeof value === 'string' ? value.trim().toLowerCase() : value;
  if (isLoa(normalised)) return normalised;
  throw new SigilError('invalid_loa', `not a level of access: ${String(value)}`, {
    expected: [...LOAS],
  });
}

/** Position of `loa` in the privilege order: guest 0 … root 4. */
export function loaRank(loa: Loa): number {
  return RANK[loa];
}

/** True when `loa` grants at least what `minimum` grants. */
export function loaAtLeast(loa: Loa, minimum: Loa): boolean {
  return RANK[loa] >= RANK[minimum];
}

/** The lower of two levels (used to cap a caller, e.g. unverified callers in strict mode). */
export function loaMin(a: Loa, b: Loa): Loa {
  return RANK[a] <= RANK[b] ? a : b;
}
