/** Delegations: a human (or an agent, onward) grants actions to an agent as a signed authority link. */
import { z } from 'zod';
import type { AddRoute } from '../route.ts';
import { DelegationInfo, DelegationRequest, Hex64Params } from '../schemas.ts';

export function delegationRoutes(add: AddRoute): void {
  add({
    method: 'POST',
    url: '/api/delegations',
    summary: 'Delegates actions to an agent: a signed authority link, sealed as a record',
    tag: 'delegations',
    auth: 'caller',
    loa: 'operator',
    body: DelegationRequest,
    responses: { 201: { description: 'The delegation and its chain', schema: DelegationInfo } },
    errors: [400, 401, 403, 404, 413, 415, 429],
    handler: async ({ body, caller, runtime }) =>
      runtime.delegations.create(caller, {
        to: body.to,
        actions: body.actions,
        ...(body.ttl_ms !== undefined ? { ttlMs: body.ttl_ms } : {}),
      }),
  });

  add({
    method: 'GET',
    url: '/api/delegations',
    summary: 'The delegations the caller granted or received, newest first (every one for Root)',
    tag: 'delegations',
    auth: 'caller',
    loa: 'operator',
    responses: {
      200: {
        description: 'The delegations',
        schema: z.object({ delegations: z.array(DelegationInfo) }),
      },
    },
    errors: [401, 403, 429],
    handler: async ({ caller, runtime }) => ({
      delegations: await runtime.delegations.list(caller),
    }),
  });

  add({
    method: 'GET',
    url: '/api/delegations/:id',
    summary: 'One delegation (its grantors, its grantee or Root)',
    tag: 'delegations',
    auth: 'caller',
    loa: 'operator',
    params: Hex64Params,
    responses: { 200: { description: 'The delegation', schema: DelegationInfo } },
    errors: [400, 401, 403, 404, 429],
    handler: async ({ params, caller, runtime }) => runtime.delegations.get(caller, params.id),
  });

  add({
    method: 'DELETE',
    url: '/api/delegations/:id',
    summary: 'Revokes a delegation: every token built on it is denied from its next request',
    tag: 'delegations',
    auth: 'caller',
    loa: 'operator',
    params: Hex64Params,
    responses: { 200: { description: 'The revoked delegation', schema: DelegationInfo } },
    errors: [400, 401, 403, 404, 429],
    handler: async ({ params, caller, runtime }) => runtime.delegations.revoke(caller, params.id),
  });
}
