/** Memory blocks: small keyed JSON values, readable by their owner (or Root). 16 KiB each. */
import { z } from 'zod';
import type { AddRoute } from '../route.ts';
import {
  MemoryBlock,
  MemoryKeyParams,
  MemoryOwnerQuery,
  MemoryValue,
  MemoryWriteRequest,
  MemoryWritten,
} from '../schemas.ts';

export function memoryRoutes(add: AddRoute): void {
  add({
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
        schema: MemoryWritten,
      },
    },
    errors: [400, 401, 403, 413, 415, 429],
    handler: async ({ body, caller, runtime }) => runtime.memory.write(caller, body),
  });

  add({
    method: 'GET',
    url: '/api/memory/list',
    summary: "The caller's memory blocks (every block with canon.audit)",
    tag: 'memory',
    auth: 'caller',
    loa: 'operator',
    responses: {
      200: { description: 'The blocks', schema: z.object({ blocks: z.array(MemoryBlock) }) },
    },
    errors: [401, 403, 429],
    handler: async ({ caller, runtime }) => ({ blocks: await runtime.memory.list(caller) }),
  });

  add({
    method: 'GET',
    url: '/api/memory/read/:key',
    summary: 'Reads a memory block (percent-encode "/" in keys); another ?owner= needs canon.audit',
    tag: 'memory',
    auth: 'caller',
    loa: 'operator',
    params: MemoryKeyParams,
    querystring: MemoryOwnerQuery,
    responses: {
      200: {
        description: 'The block',
        schema: MemoryValue,
      },
    },
    errors: [400, 401, 403, 404, 429],
    handler: async ({ params, query, caller, runtime }) =>
      runtime.memory.read(caller, params.key, query.owner),
  });
}
