/**
 * The OpenAPI 3.1 document, generated from the route declarations and the very zod shapes
 * fastify validates with. Named shapes (see `named()` in schemas.ts) become `components.schemas`.
 */
import type { z } from 'zod';
import { documentSchema, type JsonSchema } from './json-schema.ts';
import { Problem } from './schemas.ts';
import type { RouteSpec } from './route.ts';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad request: the failing field is named in `field`',
  401: 'Unauthenticated: no, bad, expired or revoked credentials',
  403: 'Denied by the decision (loa_insufficient, trust_below_threshold, …) or csrf_invalid',
  404: 'Not found',
  409: 'Conflict (quorum_required, duplicate_attestation, …)',
  413: 'Body larger than the configured limit',
  415: 'Body is not application/json',
  416: 'Proof range outside the log',
  429: 'Rate limited; see Retry-After',
  503: 'Not ready',
};

function parameters(spec: RouteSpec, components: Map<string, unknown>): unknown[] {
  const out: unknown[] = [];
  const add = (where: 'path' | 'query', shape: z.ZodType | undefined) => {
    if (!shape) return;
    const schema = documentSchema(shape, components, 'input') as JsonSchema;
    const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((schema.required ?? []) as string[]);
    for (const [name, s] of Object.entries(props)) {
      const { description, ...rest } = s;
      out.push({
        name,
        in: where,
        required: where === 'path' || required.has(name),
        ...(typeof description === 'string' ? { description } : {}),
        schema: rest,
      });
    }
  };
  add('path', spec.params);
  add('query', spec.querystring);
  return out;
}

function operation(spec: RouteSpec, components: Map<string, unknown>): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  for (const [status, r] of Object.entries(spec.responses)) {
    responses[status] = r.schema
      ? {
          description: r.description,
          content: {
            [r.contentType ?? 'application/json']: {
              schema: documentSchema(r.schema, components, 'output'),
            },
          },
        }
      : { description: r.description };
  }
  const problemRef = documentSchema(Problem, components, 'output');
  for (const status of [...spec.errors, 500]) {
    responses[String(status)] = {
      description: STATUS_TEXT[status] ?? 'Internal error (code `internal`, request id only)',
      content: { 'application/problem+json': { schema: problemRef } },
    };
  }
  const op: Record<string, unknown> = {
    operationId: `${spec.method.toLowerCase()}${spec.url.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
    summary: spec.summary,
    tags: [spec.tag],
    // `{}`: a caller route also answers the anonymous Guest (who is adjudicated like anyone).
    security: spec.auth === 'caller' ? [{}, { bearer: [] }, { session: [] }] : [],
    responses,
  };
  if (spec.loa) op['x-sigil-loa'] = spec.loa;
  const params = parameters(spec, components);
  if (params.length > 0) op.parameters = params;
  if (spec.body) {
    op.requestBody = {
      required: spec.bodyOptional !== true,
      content: { 'application/json': { schema: documentSchema(spec.body, components, 'input') } },
    };
  }
  return op;
}

/** Builds the OpenAPI 3.1 document for `routes`. */
export function buildOpenApi(
  routes: readonly RouteSpec[],
  version: string,
): Record<string, unknown> {
  const components = new Map<string, unknown>();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of routes) {
    const path = spec.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    paths[path] ??= {};
    paths[path][spec.method.toLowerCase()] = operation(spec, components);
  }
  const schemas: Record<string, unknown> = {};
  for (const name of [...components.keys()].sort()) schemas[name] = components.get(name);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sigil',
      version,
      description:
        'Sigil governs what AI agents may do and proves afterwards what they did. Every error ' +
        'is RFC 9457 problem JSON with a stable `code`.',
    },
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API token (sgl_…)' },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'sigil_session',
          description:
            'From POST /api/session; state-changing requests also need the X-CSRF-Token header',
        },
      },
    },
  };
}
