/** Sigil's policy layer: who a caller is, what its level may do, and how far to trust a request. */
export * from './loa.ts';
export * from './permissions.ts';
export * from './trust.ts';
export * from './enforcement.ts';
export * from './ratelimit.ts';
export * from './tokens.ts';
export * from './license.ts';
export * from './fit.ts';
export * from './condition.ts';
