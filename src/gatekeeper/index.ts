/** The gatekeeper: roles, constitutional invariants, the kernel, MCP rules, consent, and the machinery it governs. */
export * from './types.ts';
export * from './roles.ts';
export * from './consent-scope.ts';
export * from './consent.ts';
export * from './trusted-keys.ts';
export * from './provenance.ts';
export * from './authority-chain.ts';
export * from './quorum-evidence.ts';
export * from './request-facts.ts';
export * from './invariants.ts';
export * from './kernel.ts';
export * from './mcp-rules.ts';
export * from './combinators.ts';
export * from './holons.ts';
export * from './monitor.ts';
export * from './tee.ts';
// holons.ts declares the slice of the kernel's verdict it depends on; the kernel's is the full one.
export type { Verdict } from './kernel.ts';
