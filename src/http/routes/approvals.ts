/** The approval gate: gated gateway calls wait for a human Mentor's or Root's signed verdict. */
import type { AddRoute } from '../route.ts';
import { z } from 'zod';
import { Approval, ApprovalOutcome, ApprovalRequest, IdParams } from '../schemas.ts';

export function approvalRoutes(add: AddRoute): void {
  add({
    method: 'GET',
    url: '/api/approvals',
    summary: 'Approval requests, pending and decided, newest first, with their arguments',
    tag: 'approvals',
    auth: 'caller',
    loa: 'mentor',
    responses: {
      200: {
        description: 'The requests',
        schema: z.object({ approvals: z.array(Approval) }),
      },
    },
    errors: [401, 403, 429],
    handler: async ({ caller, runtime }) => ({ approvals: await runtime.approvals.list(caller) }),
  });

  add({
    method: 'POST',
    url: '/api/approvals/:id',
    summary: 'Signs a verdict on a pending request (human Mentor or Root, enrolled witness key)',
    tag: 'approvals',
    auth: 'caller',
    loa: 'mentor (human)',
    params: IdParams,
    body: ApprovalRequest,
    responses: {
      200: {
        description: 'The outcome',
        schema: ApprovalOutcome,
      },
    },
    errors: [400, 401, 403, 404, 409, 413, 415, 429],
    handler: async ({ params, body, caller, runtime }) =>
      runtime.approvals.decide(caller, params.id, body),
  });
}
