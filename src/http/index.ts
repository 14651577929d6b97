/** The HTTP API: `buildServer(runtime)` returns a fastify instance ready to listen. */
export { buildServer, type ServerOptions } from './server.ts';
export { buildOpenApi } from './openapi.ts';
export { problem, statusForCode, type Problem } from './problem.ts';
