/** Memory blocks: small keyed JSON values, readable by their owner (or Root). 16 KiB each. */
import type { JsonValue } from '../../core/canonical.ts';
import type { AddRoute } from '../route.ts';
import { MemoryWriteRequest, array, obj, str, strict, JsonValue as Json } from '../schemas.ts';

const Block = obj(
  {
    key: { type: 'string' },
    owner: { type: 'string' },
    updated_at: { type: 'string' },
    record_id: { type: 'string' },
  },
  ['key', 'owner', 'updated_at', 'record_id'],
);

export function memoryRoutes(add: AddRoute): void {
  add<{ key: string; value: JsonValue }>({
    method: 'POST',
    url: '/api/memory/write',
    summary: "Writes one of the caller's memory blocks (a sealed memory_block record)",
    tag: 'memory',
    auth: 'caller',
    loa: 'operator',
    body: MemoryWriteRequest,
    responses: {
      201: {
        description: 'Where the block was sealed',
        schema: obj(
          {
            key: { type: 'string' },
            owner: { type: 'string' },
            record_id: { type: 'string' },
            seq: { type: 'integer', minimum: 0 },
          },
          ['key', 'owner', 'record_id', 'seq'],
        ),
      },
    },
    errors: [400, 401, 403, 413, 415, 429],
    handler: async ({ body, caller, runtime }) => runtime.memoryWrite(caller, body),
  });

  add({
    method: 'GET',
    url: '/api/memory/list',
    summary: "The caller's memory blocks (every block for Root)",
    tag: 'memory',
    auth: 'caller',
    loa: 'operator',
    responses: {
      200: { description: 'The blocks', schema: obj({ blocks: array(Block) }, ['blocks']) },
    },
    errors: [401, 403, 429],
    handler: async ({ caller, runtime }) => ({ blocks: await runtime.memoryList(caller) }),
  });

  add<unknown, { owner?: string }, { key: string }>({
    method: 'GET',
    url: '/api/memory/read/:key',
    summary: 'Reads a memory block (percent-encode "/" in keys); ?owner= is for Root',
    tag: 'memory',
    auth: 'caller',
    loa: 'operator',
    params: strict({ key: str(128, { pattern: '^[A-Za-z0-9._:/-]{1,128}$' }) }, ['key']),
    querystring: strict({ owner: str(512, { minLength: 1 }) }),
    responses: {
      200: {
        description: 'The block',
        schema: obj(
          {
            key: { type: 'string' },
            owner: { type: 'string' },
            value: Json,
            record_id: { type: 'string' },
          },
          ['key', 'owner', 'value', 'record_id'],
        ),
      },
    },
    errors: [400, 401, 403, 404, 429],
    handler: async ({ params, query, caller, runtime }) =>
      runtime.memoryRead(caller, params.key, query.owner),
  });
}
