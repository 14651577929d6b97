/** Consent: the caller (bailor) entrusts data to a bailee for a purpose and scope; revocable. */
import type { ConsentPurpose } from '../../gatekeeper/index.ts';
import type { AddRoute } from '../route.ts';
import { ConsentRequest, IdParams, obj } from '../schemas.ts';

interface ConsentBody {
  bailee: string;
  scope: string;
  purpose: ConsentPurpose;
  expiresAt?: string | null;
}

export function consentRoutes(add: AddRoute): void {
  add<ConsentBody>({
    method: 'POST',
    url: '/api/consent',
    summary: 'Grants consent: a bailment and a consent grant sharing one id',
    tag: 'consent',
    auth: 'caller',
    loa: 'operator',
    body: ConsentRequest,
    responses: {
      201: {
        description: 'The bailment and the grant',
        schema: obj(
          { id: { type: 'string' }, bailment: { type: 'object' }, grant: { type: 'object' } },
          ['id', 'bailment', 'grant'],
        ),
      },
    },
    errors: [400, 401, 403, 413, 415, 429],
    handler: async ({ body, caller, runtime }) => runtime.grantConsent(caller, body),
  });

  add<unknown, unknown, { id: string }>({
    method: 'DELETE',
    url: '/api/consent/:id',
    summary: 'Revokes a consent (its bailor or Root)',
    tag: 'consent',
    auth: 'caller',
    loa: 'operator',
    params: IdParams,
    responses: {
      200: {
        description: 'Revoked',
        schema: obj({ id: { type: 'string' }, revokedAt: { type: 'string' } }, ['id', 'revokedAt']),
      },
    },
    errors: [400, 401, 403, 404, 429],
    handler: async ({ params, caller, runtime }) => runtime.revokeConsent(caller, params.id),
  });
}
