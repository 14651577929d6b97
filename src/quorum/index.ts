/** The quorum: witness enrolment, genesis, proposals, votes and commits for system changes. */
export * from './registry.ts';
export * from './electorate.ts';
export * from './genesis.ts';
export * from './proposals.ts';
export * from './attest.ts';
export * from './commit.ts';
