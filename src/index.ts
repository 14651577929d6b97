/**
 * Sigil's library entry point: the cryptographic core, the canon log, the policy layer, the
 * gatekeeper, the quorum and the runtime. The CLI, HTTP server and MCP gateway sit on top.
 */
export * from './core/index.ts';
export * from './canon/index.ts';
export * from './policy/index.ts';
export * as gatekeeper from './gatekeeper/index.ts';
export * as quorum from './quorum/index.ts';
export * from './runtime/index.ts';
export { loadConfig, type Config } from './config/index.ts';
