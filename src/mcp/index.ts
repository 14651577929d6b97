/** The MCP gateway: Sigil in front of MCP servers, for AI agents speaking MCP. */
export * from './config.ts';
export * from './names.ts';
export * from './policy.ts';
export * from './upstream.ts';
export * from './gateway.ts';
export * from './agent-server.ts';
export * from './stdio.ts';
export * from './http.ts';
export * from './run.ts';
export * from './uri.ts';
