/**
 * Lets the MCP conformance CLI run on Node 20: it imports `globSync` from `fs`, which Node 22
 * added. Registered with `node --import`, this resolve hook hands that one package a module
 * that is `node:fs` plus a small globSync (enough for the CLI's `**` / `*` patterns).
 */
import { register } from 'node:module';
import { URL } from 'node:url';

register(
  `data:text/javascript,${encodeURIComponent(`
const SHIM = ${JSON.stringify(new URL('./fs-with-glob.mjs', import.meta.url).href)};
export async function resolve(specifier, context, next) {
  if ((specifier === 'fs' || specifier === 'node:fs') && context.parentURL?.includes('/@modelcontextprotocol/conformance/')) {
    return { url: SHIM, shortCircuit: true };
  }
  return next(specifier, context);
}`)}`,
);
