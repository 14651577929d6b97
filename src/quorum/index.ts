/** The quorum: witness registry, proposals, attestations and commits for system changes. */
export * from './registry.ts';
export * from './proposals.ts';
export * from './attest.ts';
export * from './commit.ts';
