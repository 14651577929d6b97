/** Modules: registered handlers, LOA-gated and adjudicated on every run. */
import type { JsonValue } from '../../core/canonical.ts';
import type { AddRoute } from '../route.ts';
import { JsonValue as Json, ModuleRunRequest, array, obj, str, strict } from '../schemas.ts';

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
        schema: obj({ modules: array({ type: 'string' }) }, ['modules']),
      },
    },
    errors: [],
    handler: async ({ runtime }) => ({ modules: runtime.modules() }),
  });

  add<{ input?: JsonValue }, unknown, { name: string }>({
    method: 'POST',
    url: '/api/module/:name/run',
    summary: 'Runs a module on {input} (404 module_not_found for an unknown name)',
    tag: 'modules',
    auth: 'caller',
    loa: 'operator',
    params: strict({ name: str(64, { pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' }) }, ['name']),
    body: ModuleRunRequest,
    bodyOptional: true,
    responses: {
      200: {
        description: 'The module output and the decision that allowed it',
        schema: obj({ module: { type: 'string' }, output: Json, decision_id: { type: 'string' } }, [
          'module',
          'output',
          'decision_id',
        ]),
      },
    },
    errors: [400, 401, 403, 404, 413, 415, 429],
    handler: async ({ params, body, caller, runtime }) =>
      runtime.runModule(caller, params.name, body.input ?? null),
  });
}
