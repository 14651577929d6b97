/** The approval gate: escalated gateway calls wait for a human Mentor or Root. */
import type { AddRoute } from '../route.ts';
import { Approval, ApprovalRequest, IdParams, array, obj } from '../schemas.ts';

export function approvalRoutes(add: AddRoute): void {
  add({
    method: 'GET',
    url: '/api/approvals',
    summary: 'Approval requests, pending and decided',
    tag: 'approvals',
    auth: 'caller',
    loa: 'mentor',
    responses: {
      200: {
        description: 'The requests',
        schema: obj({ approvals: array(Approval) }, ['approvals']),
      },
    },
    errors: [401, 403],
    handler: async ({ caller, runtime }) => ({ approvals: await runtime.listApprovals(caller) }),
  });

  add<{ approved: boolean }, unknown, { id: string }>({
    method: 'POST',
    url: '/api/approvals/:id',
    summary: 'Approves or rejects a pending request (human Mentor or Root)',
    tag: 'approvals',
    auth: 'caller',
    loa: 'mentor (human)',
    params: IdParams,
    body: ApprovalRequest,
    responses: {
      200: {
        description: 'The outcome',
        schema: obj(
          { id: { type: 'string' }, status: { type: 'string', enum: ['approved', 'rejected'] } },
          ['id', 'status'],
        ),
      },
    },
    errors: [400, 401, 403, 404, 409, 413, 415],
    handler: async ({ params, body, caller, runtime }) =>
      runtime.approve(caller, params.id, body.approved),
  });
}
