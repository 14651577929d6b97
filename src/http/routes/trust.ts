/** Trust decisions: check a request, and the runtime's decision counters. */
import { SigilError } from '../../core/errors.ts';
import type { DecisionRequest } from '../../runtime/index.ts';
import type { AddRoute } from '../route.ts';
import { Decision, TrustCheckRequest, TrustStatus, type Infer } from '../schemas.ts';
import { wireTrustStatus } from '../../runtime/wire.ts';

type CheckBody = Infer<typeof TrustCheckRequest>;

function decisionRequest(body: CheckBody): DecisionRequest {
  const ctx = body.context;
  const claimed = {
    ...(ctx?.subject !== undefined ? { subject: ctx.subject } : {}),
    ...(ctx?.signer_type !== undefined ? { signerType: ctx.signer_type } : {}),
    ...(ctx?.delegation_id !== undefined ? { delegationId: ctx.delegation_id } : {}),
  };
  const p = ctx?.provenance;
  return {
    action: body.action,
    target: body.target,
    outputMarking: ctx?.output_marked === false ? 'none' : 'gateway',
    ...(body.payload !== undefined ? { payload: body.payload } : {}),
    ...(Object.keys(claimed).length > 0 ? { claimed } : {}),
    ...(ctx?.data_subject !== undefined ? { dataSubject: ctx.data_subject } : {}),
    ...(p !== undefined
      ? {
          provenance: {
            actor: p.actor,
            actionHash: p.action_hash,
            timestamp: p.timestamp,
            ...(p.voice_kind !== undefined ? { voiceKind: p.voice_kind } : {}),
            ...(p.independence !== undefined ? { independence: p.independence } : {}),
            ...(p.review_order !== undefined ? { reviewOrder: p.review_order } : {}),
            publicKey: p.public_key,
            signature: p.signature,
          },
        }
      : {}),
  };
}

export function trustRoutes(add: AddRoute): void {
  add({
    method: 'POST',
    url: '/api/trust/check',
    summary: 'Decides a request and freezes the decision into the log (allowed or denied)',
    tag: 'trust',
    auth: 'caller',
    loa: 'observer',
    body: TrustCheckRequest,
    responses: {
      200: { description: 'The decision, allowed or denied, with its record id', schema: Decision },
    },
    errors: [400, 401, 403, 413, 415, 429],
    handler: async ({ body, caller, runtime, req }) => {
      const decision = await runtime.trustCheck(caller, decisionRequest(body), {
        clientAddress: req.ip,
      });
      if (decision.code === 'rate_limited') {
        throw new SigilError('rate_limited', decision.reason, {
          decision_id: decision.decision_id,
          retry_after_ms: decision.retry_after_ms ?? 1000,
        });
      }
      return decision;
    },
  });

  add({
    method: 'GET',
    url: '/api/trust/status',
    summary: 'Decision counts by verdict and mode, threshold, mode, log size, breaker state',
    tag: 'trust',
    auth: 'caller',
    loa: 'observer',
    responses: { 200: { description: 'Trust status', schema: TrustStatus } },
    errors: [401, 403, 429],
    handler: async ({ caller, runtime }) => wireTrustStatus(await runtime.trustStatus(caller)),
  });
}
