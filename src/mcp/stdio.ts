/**
 * The gateway over stdio, as a desktop AI client launches it: the agent's token comes from
 * SIGIL_TOKEN (required; a missing or invalid token stops start-up), and is authenticated again
 * for every request so a revoked or expired token stops working mid-session.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { SigilError } from '../core/errors.ts';
import { createAgentServer } from './agent-server.ts';
import type { Gateway } from './gateway.ts';

/** Serves one agent on stdin/stdout; resolves `closed` when the agent hangs up. */
export async function serveStdio(
  gateway: Gateway,
  token: string | undefined,
  io: { stdin?: NodeJS.ReadableStream & { pause(): unknown }; stdout?: NodeJS.WritableStream } = {},
): Promise<{ closed: Promise<void>; close(): Promise<void> }> {
  if (token === undefined || token.trim() === '') {
    throw new SigilError('unauthenticated', "SIGIL_TOKEN must hold the agent's Sigil token");
  }
  const secret = token.trim();
  const first = await gateway.runtime.tokens.authenticate(secret);
  if (first.source !== 'token') {
    throw new SigilError('token_invalid', 'the token is not valid');
  }
  const server = createAgentServer(gateway, () => gateway.runtime.tokens.authenticate(secret));
  const stdin = io.stdin ?? process.stdin;
  const transport = new StdioServerTransport(
    stdin as typeof process.stdin,
    (io.stdout ?? process.stdout) as typeof process.stdout,
  );
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
  });
  const close = async () => {
    await server.close();
  };
  // The SDK transport does not watch for end of input; a hung-up agent ends the session.
  stdin.once('end', () => void close());
  await server.connect(transport);
  return { closed, close };
}
