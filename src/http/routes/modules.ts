/** Modules: registered handlers, LOA-gated and adjudicated on every run. */
import { z } from 'zod';
import type { AddRoute } from '../route.ts';
import { ModuleOutput, ModuleParams, ModuleRunRequest } from '../schemas.ts';

export function moduleRoutes(add: AddRoute): void {
  add({
    method: 'GET',
    url: '/api/modules',
    summary: 'The registered modules',
    tag: 'modules',
    auth: 'public',
    responses: {
      200: {
        description: 'Module names',
        schema: z.object({ modules: z.array(z.string()) }),
      },
    },
    errors: [],
    handler: async ({ runtime }) => ({ modules: runtime.modules.list() }),
  });

  add({
    method: 'POST',
    url: '/api/module/:name/run',
    summary: 'Runs a module on {input} (404 module_not_found for an unknown name)',
    tag: 'modules',
    auth: 'caller',
    loa: 'operator',
    params: ModuleParams,
    body: ModuleRunRequest,
    bodyOptional: true,
    responses: {
      200: {
        description: 'The module output and the decision that allowed it',
        schema: ModuleOutput,
      },
    },
    errors: [400, 401, 403, 404, 413, 415, 429],
    handler: async ({ params, body, caller, runtime }) =>
      runtime.modules.run(caller, params.name, body.input ?? null),
  });
}
