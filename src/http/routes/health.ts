/** Operations: liveness, readiness, Prometheus metrics and the OpenAPI document. */
import { buildOpenApi } from '../openapi.ts';
import type { AddRoute, RouteDeps } from '../route.ts';
import { z } from 'zod';
import { Health, Readiness } from '../schemas.ts';

export function healthRoutes(add: AddRoute, deps: RouteDeps): void {
  add({
    method: 'GET',
    url: '/healthz',
    summary: 'The process is up',
    tag: 'operations',
    auth: 'public',
    responses: { 200: { description: 'Up', schema: Health } },
    errors: [],
    handler: async () => ({ status: 'ok' }),
  });

  add({
    method: 'GET',
    url: '/readyz',
    summary: 'Store writable, keys loaded, license state',
    tag: 'operations',
    auth: 'public',
    responses: {
      200: { description: 'Ready', schema: Readiness },
      503: {
        description: 'Not ready (the same body, naming the failing check)',
        schema: Readiness,
      },
    },
    errors: [],
    handler: async ({ runtime, reply }) => {
      const readiness = await runtime.readiness();
      reply.code(readiness.ready ? 200 : 503).header('cache-control', 'no-store');
      return readiness;
    },
  });

  add({
    method: 'GET',
    url: '/metrics',
    summary: 'Prometheus metrics',
    tag: 'operations',
    auth: 'public',
    responses: {
      200: {
        description: 'Prometheus text exposition',
        schema: z.string(),
        contentType: 'text/plain; version=0.0.4',
      },
    },
    errors: [],
    handler: async ({ reply }) => {
      reply.type(deps.metrics.registry.contentType);
      return deps.metrics.registry.metrics();
    },
  });

  let document: Record<string, unknown> | undefined;
  add({
    method: 'GET',
    url: '/openapi.json',
    summary: 'This OpenAPI 3.1 document',
    tag: 'operations',
    auth: 'public',
    responses: { 200: { description: 'OpenAPI 3.1', schema: z.record(z.string(), z.unknown()) } },
    errors: [],
    handler: async () => (document ??= buildOpenApi(deps.routes(), deps.version)),
  });
}
