/**
 * The HTTP server: one fastify instance around one SigilRuntime. Plugins are added in the
 * order a request meets them — limits and the JSON parser, cookies, authentication (and CSRF),
 * metrics, errors — then the route groups, each a thin mapping onto runtime methods.
 */
import { readFileSync } from 'node:fs';
import fastifyCookie from '@fastify/cookie';
import Fastify, { type FastifyInstance } from 'fastify';
import { toHex } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { AI_OUTPUT_MARKER } from '../gatekeeper/index.ts';
import { randomBytes } from '../core/random.ts';
import type { SigilRuntime } from '../runtime/index.ts';
import { registerAuth } from './auth.ts';
import { registerDashboard, registerSecurityHeaders } from './dashboard.ts';

import { clientErrorHandler, frameworkErrors, registerErrorHandling } from './errors.ts';
import { parseJsonBody } from './json-body.ts';
import { HttpMetrics, instrument } from './metrics.ts';
import { RouteTable, type AddRoute, type RouteDeps } from './route.ts';
import { approvalRoutes } from './routes/approvals.ts';
import { canonRoutes } from './routes/canon.ts';
import { consentRoutes } from './routes/consent.ts';
import { decisionRoutes } from './routes/decisions.ts';
import { delegationRoutes } from './routes/delegations.ts';
import { roleRoutes } from './routes/roles.ts';
import { governanceRoutes } from './routes/governance.ts';
import { healthRoutes } from './routes/health.ts';
import { holonRoutes } from './routes/holons.ts';
import { licenseRoutes } from './routes/license.ts';
import { logRoutes } from './routes/log.ts';
import { memoryRoutes } from './routes/memory.ts';
import { moduleRoutes } from './routes/modules.ts';
import { sessionRoutes } from './routes/session.ts';
import { systemRoutes } from './routes/system.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { trustRoutes } from './routes/trust.ts';
import { SessionStore, type SessionOptions } from './sessions.ts';

/** The response header that marks what Sigil returns to an AI caller as AI-mediated. */
export const OUTPUT_MARKER_HEADER = 'sigil-output-marker';

export interface ServerOptions {
  /** pino level; default: the runtime's config.logLevel. */
  logLevel?: string;
  /** Where pino writes (default stdout); tests pass a sink. */
  logStream?: NodeJS.WritableStream;
  /** Largest request header block in bytes (default 16 KiB). */
  maxHeaderBytes?: number;
  /** Cookie sessions: lifetime, bound, CSRF token lifetime. */
  sessions?: SessionOptions;
  /** Mark the session cookie Secure (set when TLS is terminated in front). */
  secureCookies?: boolean;
}

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** Log paths that could carry secrets: never written, whatever a serializer does. */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  'body',
  'req.body',
];

/**
 * Builds the server for `runtime` (not yet listening). Limits come from `runtime.config.server`:
 * body size, JSON depth, request timeout and connection cap; headers from `opts`.
 */
export function buildServer(runtime: SigilRuntime, opts: ServerOptions = {}): FastifyInstance {
  const limits = runtime.config.server;
  const app = Fastify({
    logger: {
      level: opts.logLevel ?? runtime.config.logLevel,
      redact: { paths: REDACT, censor: '[redacted]' },
      serializers: {
        // method, route and address only: no headers, no query strings, no bodies
        req: (req: {
          method: string;
          url: string;
          ip?: string;
          socket?: { remoteAddress?: string };
        }) => ({
          method: req.method,
          path: req.url.split('?')[0],
          remote: req.ip ?? req.socket?.remoteAddress,
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      ...(opts.logStream ? { stream: opts.logStream } : {}),
    },
    bodyLimit: limits.bodyLimitBytes,
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.requestTimeoutMs,
    http: { maxHeaderSize: opts.maxHeaderBytes ?? 16 * 1024 },
    routerOptions: { maxParamLength: 300 },
    genReqId: () => toHex(randomBytes(12)),
    ajv: {
      customOptions: {
        coerceTypes: false,
        removeAdditional: false,
        useDefaults: false,
        allErrors: false,
      },
    },
    frameworkErrors,
    clientErrorHandler,
    // shutdown answers as problem JSON (below) rather than fastify's own 503 body
    return503OnClosing: false,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer', bodyLimit: limits.bodyLimitBytes },
    (_req, body, done) => {
      try {
        done(null, parseJsonBody(body as Buffer, limits.maxJsonDepth));
      } catch (err) {
        done(err as Error, undefined);
      }
    },
  );
  // CSP, nosniff, referrer policy, HSTS behind TLS: on every answer, the API's included (the
  // first onRequest hook, so every answer that follows carries them).
  registerSecurityHeaders(app, opts.secureCookies ?? false);
  app.addHook('onListen', async () => {
    app.server.maxConnections = limits.maxConnections;
  });
  // Shutting down: new requests get 503 not_ready, and every answer from then on closes its
  // connection, so keep-alive sockets that were busy when close() began do not hold it open.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Callback-style hooks: on every request, an async hook costs a promise and a tick for nothing.
  app.addHook('onRequest', (_req, _reply, done) => {
    done(closing ? new SigilError('not_ready', 'the server is shutting down') : undefined);
  });
  app.addHook('onSend', (req, reply, payload, done) => {
    // What Sigil returns to an AI caller is marked as AI-mediated (MCP rule mcp-005).
    if (req.caller?.signer.type === 'ai') reply.header(OUTPUT_MARKER_HEADER, AI_OUTPUT_MARKER);
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  const sessions = new SessionStore(runtime, opts.sessions);
  const metrics = new HttpMetrics();
  const table = new RouteTable();
  const deps: RouteDeps = {
    runtime,
    sessions,
    metrics,
    secureCookies: opts.secureCookies ?? false,
    version: pkg.version,
    routes: () => table.specs,
  };
  const add: AddRoute = (spec) => table.add(app, runtime, spec);
  // Everything below needs the cookie parser's hook to run first, so it is added once it loaded.
  void app.register(fastifyCookie).after((err) => {
    if (err) throw err;
    registerAuth(app, runtime, sessions);
    instrument(app, runtime, metrics);
    registerErrorHandling(app);
    healthRoutes(add, deps);
    sessionRoutes(add, deps);
    tokenRoutes(add);
    trustRoutes(add);
    decisionRoutes(add);
    canonRoutes(add);
    systemRoutes(add);
    licenseRoutes(add);
    memoryRoutes(add);
    moduleRoutes(add);
    consentRoutes(add);
    delegationRoutes(add);
    roleRoutes(add);
    governanceRoutes(add);
    holonRoutes(add);
    approvalRoutes(add);
    logRoutes(add, runtime.log);
    registerDashboard(app);
  });
  return app;
}
