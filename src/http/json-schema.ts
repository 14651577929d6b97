/**
 * JSON Schema from the zod shapes in schemas.ts, the one source: self-contained draft-07 schemas
 * for fastify's validator, and OpenAPI 3.1 schemas whose named parts become
 * `components.schemas` references.
 */
import { z } from 'zod';

export type JsonSchema = Record<string, unknown>;

const NO_NAMES = z.registry<{ id?: string }>();

/** The draft-07 schema fastify validates a request part with (every named part inlined). */
export function validationSchema(schema: z.ZodType): JsonSchema {
  const out = z.toJSONSchema(schema, {
    target: 'draft-7',
    io: 'input',
    metadata: NO_NAMES,
    unrepresentable: 'throw',
  }) as JsonSchema;
  delete out.$schema;
  return out;
}

/** Rewrites `#/$defs/Name` references to `#/components/schemas/Name`. */
function toComponentRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toComponentRefs);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/')
        ? `#/components/schemas/${v.slice('#/$defs/'.length)}`
        : toComponentRefs(v);
  }
  return out;
}

/**
 * The OpenAPI form of `schema` with its named parts moved into `components` (keyed by name);
 * a named schema at the top is itself a reference.
 */
export function documentSchema(
  schema: z.ZodType,
  components: Map<string, unknown>,
  io: 'input' | 'output',
): unknown {
  const out = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'throw',
  }) as JsonSchema;
  delete out.$schema;
  const defs = (out.$defs ?? {}) as Record<string, unknown>;
  delete out.$defs;
  for (const [name, def] of Object.entries(defs)) {
    if (!components.has(name)) components.set(name, toComponentRefs(def));
  }
  const id = z.globalRegistry.get(schema)?.id;
  if (typeof id === 'string') {
    if (!components.has(id)) components.set(id, toComponentRefs(out));
    return { $ref: `#/components/schemas/${id}` };
  }
  return toComponentRefs(out);
}
