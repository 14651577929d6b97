/**
 * One way to declare a route: its method, path, who may call it, its JSON schemas and its
 * handler. `addRoute` registers it with fastify (which validates requests against the schemas)
 * and keeps the declaration so the OpenAPI document is built from exactly what is served.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Caller, SigilRuntime } from '../runtime/index.ts';
import { SigilError } from '../core/errors.ts';
import type { z } from 'zod';
import { validationSchema } from './json-schema.ts';
import type { HttpMetrics } from './metrics.ts';
import type { SessionStore } from './sessions.ts';

/**
 * Who may call a route: `public` ignores credentials (health, audit proofs, license check);
 * `caller` takes a Bearer token or a session cookie and, without either, the anonymous Guest,
 * and the runtime then adjudicates (a route above Guest answers 403 `loa_insufficient`).
 */
export type RouteAuth = 'public' | 'caller';

/** What a handler gets: the parsed parts of the request and the authenticated caller. */
export interface RouteContext<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType> {
  body: z.output<B>;
  query: z.output<Q>;
  params: z.output<P>;
  /** The caller; the anonymous Guest on public routes. */
  caller: Caller;
  runtime: SigilRuntime;
  req: FastifyRequest;
  reply: FastifyReply;
}

/** The shapes (zod, see schemas.ts) a route declares; fastify validates with their JSON Schema. */
export interface RouteSpec<
  B extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  P extends z.ZodType = z.ZodType,
> {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  summary: string;
  tag: string;
  auth: RouteAuth;
  /** The least level of access the permission matrix asks for (documentation only). */
  loa?: string;
  /** Cookie sessions need no CSRF token for this state-changing route (login, minting the token). */
  csrfExempt?: boolean;
  body?: B;
  /** A request without a body is taken as `{}` (then validated like any other). */
  bodyOptional?: boolean;
  querystring?: Q;
  params?: P;
  /**
   * Success responses by status (no schema: no body). A handler that sets no status answers the
   * lowest one listed; it sets another with `reply.code()`. Response schemas go to the OpenAPI
   * document (the end-to-end tests check every answer against it); handlers map what the
   * runtime returns onto these wire shapes (wire.ts), sent with JSON.stringify.
   */
  responses: Record<number, { description: string; schema?: z.ZodType; contentType?: string }>;
  /** Error statuses this route documents (answered as problem JSON). */
  errors: number[];
  handler: (ctx: RouteContext<B, Q, P>) => Promise<unknown>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
    csrfExempt?: boolean;
  }
  interface FastifyRequest {
    /** Set by the auth hook on every matched route. */
    caller: Caller | null;
    /** True when the caller came from a session cookie (CSRF applies). */
    viaSession: boolean;
  }
}

/** What route groups need besides the route table. */
export interface RouteDeps {
  runtime: SigilRuntime;
  sessions: SessionStore;
  metrics: HttpMetrics;
  /** Sets the session cookie with Secure (behind TLS). */
  secureCookies: boolean;
  version: string;
  /** The routes registered so far (for the OpenAPI document). */
  routes: () => readonly RouteSpec[];
}

/** Declares one route of a group. */
export type AddRoute = <
  B extends z.ZodType = z.ZodUnknown,
  Q extends z.ZodType = z.ZodUnknown,
  P extends z.ZodType = z.ZodUnknown,
>(
  spec: RouteSpec<B, Q, P>,
) => void;

/** The routes one server instance serves, in registration order. */
export class RouteTable {
  readonly specs: RouteSpec[] = [];

  /** Registers a route with fastify and records it for the OpenAPI document. */
  add<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType>(
    app: FastifyInstance,
    runtime: SigilRuntime,
    spec: RouteSpec<B, Q, P>,
  ): void {
    this.specs.push(spec as unknown as RouteSpec);
    const defaultStatus = Math.min(...Object.keys(spec.responses).map(Number));
    const schema: Record<string, unknown> = {};
    if (spec.body) schema.body = validationSchema(spec.body);
    if (spec.querystring) schema.querystring = validationSchema(spec.querystring);
    if (spec.params) schema.params = validationSchema(spec.params);
    app.route({
      method: spec.method,
      url: spec.url,
      schema,
      config: { auth: spec.auth, csrfExempt: spec.csrfExempt === true },
      ...(spec.bodyOptional
        ? {
            preValidation: async (req: FastifyRequest) => {
              if (req.body === undefined) req.body = {};
            },
          }
        : {}),
      handler: async (req, reply) => {
        const caller = req.caller;
        if (caller === null) throw new SigilError('unauthenticated', 'credentials required');
        const result = await spec.handler({
          body: req.body as z.output<B>,
          query: req.query as z.output<Q>,
          params: req.params as z.output<P>,
          caller,
          runtime,
          req,
          reply,
        });
        if (!reply.sent && reply.statusCode === 200) reply.code(defaultStatus);
        return result;
      },
    });
  }
}
