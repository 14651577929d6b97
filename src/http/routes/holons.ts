/** Holons: spawn one, and the human override that halts it. */
import type { AddRoute } from '../route.ts';
import { HaltRequest, Holon, HolonSpawnRequest, IdParams } from '../schemas.ts';

export function holonRoutes(add: AddRoute): void {
  add({
    method: 'POST',
    url: '/api/holons',
    summary: 'Spawns a holon running a combinator program',
    tag: 'holons',
    auth: 'caller',
    loa: 'operator',
    body: HolonSpawnRequest,
    responses: { 201: { description: 'The holon, idle', schema: Holon } },
    errors: [400, 401, 403, 409, 413, 415, 429],
    handler: async ({ body, caller, runtime }) => runtime.holons.spawn(caller, body),
  });

  add({
    method: 'POST',
    url: '/api/holons/:id/halt',
    summary: 'Suspends or terminates a holon (human Root only)',
    tag: 'holons',
    auth: 'caller',
    loa: 'root (human)',
    params: IdParams,
    body: HaltRequest,
    responses: { 200: { description: 'The halted holon', schema: Holon } },
    errors: [400, 401, 403, 404, 413, 415, 429],
    handler: async ({ params, body, caller, runtime }) =>
      runtime.holons.halt(caller, params.id, {
        mode: body.mode,
        ...(body.reason !== undefined ? { reason: body.reason } : {}),
      }),
  });
}
