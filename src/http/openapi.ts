/**
 * The OpenAPI 3.1 document, built from the route declarations and the very schemas fastify
 * validates with. Named schemas (see `named()` in schemas.ts) become `components.schemas`.
 */
import { Problem, schemaName, type JsonSchema } from './schemas.ts';
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

/** Replaces every named schema below the top with a $ref to its component; collects them. */
function refs(schema: unknown, components: Map<string, unknown>, top = true): unknown {
  if (Array.isArray(schema)) return schema.map((s) => refs(s, components, false));
  if (typeof schema !== 'object' || schema === null) return schema;
  const name = schemaName(schema);
  if (name !== undefined && !top) {
    if (!components.has(name)) {
      components.set(name, null); // reserve first: a schema may refer to itself
      components.set(name, refs(schema, components, true));
    }
    return { $ref: `#/components/schemas/${name}` };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = refs(v, components, false);
  return out;
}

/** A schema as used in the document: itself, or a $ref when it is named. */
function ref(schema: JsonSchema, components: Map<string, unknown>): unknown {
  return (refs({ wrap: schema }, components) as { wrap: unknown }).wrap;
}

function parameters(spec: RouteSpec, components: Map<string, unknown>): unknown[] {
  const out: unknown[] = [];
  const add = (where: 'path' | 'query', schema: JsonSchema | undefined) => {
    if (!schema) return;
    const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((schema.required ?? []) as string[]);
    for (const [name, s] of Object.entries(props)) {
      out.push({
        name,
        in: where,
        required: where === 'path' || required.has(name),
        schema: ref(s, components),
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
          content: { [r.contentType ?? 'application/json']: { schema: ref(r.schema, components) } },
        }
      : { description: r.description };
  }
  const problemRef = ref(Problem, components);
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
      content: { 'application/json': { schema: ref(spec.body, components) } },
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
