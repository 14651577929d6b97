/** Consent: the caller (bailor) entrusts data to a bailee for a purpose and scope; revocable. */
import { z } from 'zod';
import type { AddRoute } from '../route.ts';
import { Consent, ConsentRequest, ConsentRevoked, IdParams } from '../schemas.ts';
import { wireConsent, wireConsentRevoked } from '../../runtime/wire.ts';

export function consentRoutes(add: AddRoute): void {
  add({
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
        schema: Consent,
      },
    },
    errors: [400, 401, 403, 413, 415, 429],
    handler: async ({ body, caller, runtime }) =>
      wireConsent(
        await runtime.consent.grant(caller, {
          bailee: body.bailee,
          scope: body.scope,
          purpose: body.purpose,
          ...(body.expires_at !== undefined ? { expiresAt: body.expires_at } : {}),
        }),
      ),
  });

  add({
    method: 'GET',
    url: '/api/consent',
    summary: 'The consents the caller gave or was given, newest first (every one for Root)',
    tag: 'consent',
    auth: 'caller',
    loa: 'operator',
    responses: {
      200: { description: 'The consents', schema: z.object({ consents: z.array(Consent) }) },
    },
    errors: [401, 403, 429],
    handler: async ({ caller, runtime }) => ({
      consents: (await runtime.consent.list(caller)).map(wireConsent),
    }),
  });

  add({
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
        schema: ConsentRevoked,
      },
    },
    errors: [400, 401, 403, 404, 429],
    handler: async ({ params, caller, runtime }) =>
      wireConsentRevoked(await runtime.consent.revoke(caller, params.id)),
  });
}
