/**
 * The gateway over Streamable HTTP (`/mcp`). Every request carries `Authorization: Bearer
 * <token>` as the MCP authorization spec's bearer form asks: a Sigil token, or a JWT access
 * token from an authorization server in `[[auth.oauth]]`. A missing or invalid token gets 401
 * with a `WWW-Authenticate` challenge pointing at the protected-resource metadata (RFC 9728),
 * which names those authorization servers. Tokens in query strings are ignored. Sessions are bound to the token that opened
 * them, browsers' cross-origin requests are refused (DNS rebinding), and bodies are bounded.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { SigilError } from '../core/errors.ts';
import type { Caller } from '../runtime/index.ts';
import { createAgentServer } from './agent-server.ts';
import type { Gateway } from './gateway.ts';
import { looksLikeJwt, OAuthVerifier } from './oauth.ts';

export interface HttpOptions {
  host: string;
  port: number;
  /** Upper bound on open sessions (default 1000); more → 503. */
  maxSessions?: number;
  /** Sessions idle this long are closed (default 1 h). */
  idleMs?: number;
  /** Request body bound in bytes (default 4 MiB). */
  maxBodyBytes?: number;
}

export interface HttpGateway {
  /** `http://host:port/mcp` */
  url: string;
  port: number;
  close(): Promise<void>;
}

interface Session {
  transport: StreamableHTTPServerTransport;
  server: Server;
  tokenId: string | undefined;
  lastUsed: number;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function hostPart(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function rpcError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  headers?: Record<string, string>,
) {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null }, headers);
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    throw new SigilError('payload_too_large', `body over ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new SigilError('payload_too_large', `body over ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the HTTP gateway; resolves once it listens. */
export async function serveHttp(gateway: Gateway, opts: HttpOptions): Promise<HttpGateway> {
  const sessions = new Map<string, Session>();
  const maxSessions = opts.maxSessions ?? 1000;
  const idleMs = opts.idleMs ?? 3_600_000;
  const maxBody = opts.maxBodyBytes ?? 4 * 1024 * 1024;
  let base = '';
  const metadataUrl = () => `${base}/.well-known/oauth-protected-resource/mcp`;
  const oauth = new OAuthVerifier(gateway.config.auth.oauth);
  const resource = () => gateway.config.auth.resource ?? `${base}/mcp`;
  const metadata = () => ({
    resource: resource(),
    ...(oauth.enabled ? { authorization_servers: oauth.issuers } : {}),
    bearer_methods_supported: ['header'],
    resource_name: 'Sigil MCP gateway',
  });

  const challenge = (error?: string) =>
    error === undefined
      ? `Bearer resource_metadata="${metadataUrl()}"`
      : `Bearer error="${error}", error_description="the token is not valid", resource_metadata="${metadataUrl()}"`;

  const originAllowed = (origin: string | undefined): boolean => {
    if (origin === undefined) return true;
    try {
      const host = new URL(origin).hostname;
      return LOOPBACK.has(host) || host === opts.host || hostPart(opts.host) === host;
    } catch {
      return false;
    }
  };

  async function authenticate(req: IncomingMessage, res: ServerResponse): Promise<Caller | null> {
    const header = req.headers.authorization;
    const m = header === undefined ? null : /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
    if (m === null) {
      rpcError(res, 401, -32001, 'Unauthorized: a bearer token is required', {
        'www-authenticate': challenge(header === undefined ? undefined : 'invalid_request'),
      });
      return null;
    }
    const token = m[1]!;
    try {
      if (oauth.enabled && looksLikeJwt(token)) return await oauth.verify(token);
      const caller = await gateway.runtime.tokens.authenticate(token);
      if (caller.source === 'token') return caller;
    } catch {
      // fall through to the challenge below: every failure looks the same to the client
    }
    rpcError(res, 401, -32001, 'Unauthorized: the token is not valid', {
      'www-authenticate': challenge('invalid_token'),
    });
    return null;
  }

  async function openSession(caller: Caller): Promise<StreamableHTTPServerTransport> {
    const server = createAgentServer(gateway, async (extra) => {
      const who = extra.authInfo?.extra?.caller as Caller | undefined;
      if (who === undefined) throw new SigilError('token_invalid', 'no authenticated caller');
      return who;
    });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, {
          transport,
          server,
          tokenId: caller.tokenId,
          lastUsed: Date.now(),
        });
      },
      maxRequestBodySize: maxBody,
    });
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    return transport;
  }

  async function handleMcp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!originAllowed(req.headers.origin)) {
      rpcError(res, 403, -32600, 'Forbidden: origin not allowed');
      return;
    }
    const caller = await authenticate(req, res);
    if (caller === null) return;
    const auth: AuthInfo = {
      token: caller.tokenId ?? '',
      clientId: caller.subject,
      scopes: [...(caller.scopes ?? [])],
      extra: { caller },
    };
    (req as IncomingMessage & { auth?: AuthInfo }).auth = auth;

    let body: unknown;
    if (req.method === 'POST') {
      try {
        body = JSON.parse(await readBody(req, maxBody));
      } catch (err) {
        if (err instanceof SigilError) rpcError(res, 413, -32600, 'Payload too large');
        else rpcError(res, 400, -32700, 'Parse error');
        return;
      }
    }

    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const session = sessions.get(sessionId);
      if (session === undefined) {
        rpcError(res, 404, -32001, 'Session not found');
        return;
      }
      if (session.tokenId !== caller.tokenId) {
        rpcError(res, 403, -32600, 'Forbidden: the session belongs to another token');
        return;
      }
      session.lastUsed = Date.now();
      await session.transport.handleRequest(req, res, body);
      return;
    }
    if (req.method === 'POST' && isInitializeRequest(body)) {
      if (sessions.size >= maxSessions) {
        rpcError(res, 503, -32000, 'Too many sessions', { 'retry-after': '5' });
        return;
      }
      const transport = await openSession(caller);
      await transport.handleRequest(req, res, body);
      return;
    }
    rpcError(res, 400, -32000, 'Bad Request: no valid session id');
  }

  const http = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const run = async () => {
      if (path === '/mcp') return handleMcp(req, res);
      if (
        req.method === 'GET' &&
        (path === '/.well-known/oauth-protected-resource' ||
          path === '/.well-known/oauth-protected-resource/mcp')
      ) {
        return sendJson(res, 200, metadata());
      }
      sendJson(res, 404, { error: 'not_found' });
    };
    run().catch((err: unknown) => {
      process.stderr.write(
        `sigil gateway: http error: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      if (!res.headersSent) rpcError(res, 500, -32603, 'Internal error');
      else res.end();
    });
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port, opts.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const port = (http.address() as AddressInfo).port;
  base = `http://${hostPart(opts.host)}:${port}`;

  const sweep = setInterval(
    () => {
      const cutoff = Date.now() - idleMs;
      for (const s of sessions.values()) {
        if (s.lastUsed < cutoff) void s.server.close().catch(() => undefined);
      }
    },
    Math.min(60_000, idleMs),
  );
  sweep.unref();

  return {
    url: `${base}/mcp`,
    port,
    async close() {
      clearInterval(sweep);
      await Promise.all([...sessions.values()].map((s) => s.server.close().catch(() => undefined)));
      sessions.clear();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    },
  };
}
