/** Governed roles: granting one is a quorum proposal; Root revokes at once; anyone may list them. */
import type { AddRoute } from '../route.ts';
import { z } from 'zod';
import { Proposal, RoleInfo, RoleRequest } from '../schemas.ts';

export function roleRoutes(add: AddRoute): void {
  add({
    method: 'POST',
    url: '/api/roles',
    summary:
      'Proposes granting a governed role: it takes effect when the witness quorum commits it',
    tag: 'roles',
    auth: 'caller',
    loa: 'root',
    body: RoleRequest,
    responses: { 202: { description: 'The proposal carrying the grant', schema: Proposal } },
    errors: [400, 401, 403, 409, 413, 415, 429],
    handler: async ({ body, caller, runtime }) => runtime.roles.grant(caller, body),
  });

  add({
    method: 'POST',
    url: '/api/roles/revoke',
    summary: 'Revokes a governed role at once',
    tag: 'roles',
    auth: 'caller',
    loa: 'root',
    body: RoleRequest,
    responses: { 200: { description: 'The revoked role', schema: RoleInfo } },
    errors: [400, 401, 403, 404, 413, 415, 429],
    handler: async ({ body, caller, runtime }) => runtime.roles.revoke(caller, body),
  });

  add({
    method: 'GET',
    url: '/api/roles',
    summary: 'Every governed role held now',
    tag: 'roles',
    auth: 'caller',
    loa: 'guest',
    responses: {
      200: { description: 'The roles', schema: z.object({ roles: z.array(RoleInfo) }) },
    },
    errors: [401, 403, 429],
    handler: async ({ caller, runtime }) => ({ roles: await runtime.roles.list(caller) }),
  });
}
