/** Licenses and the trust model. */
import { z } from 'zod';
import type { AddRoute } from '../route.ts';
import {
  Hex64Params,
  License,
  LicenseCheck,
  LicenseInfo,
  LicenseCreateRequest,
  LicenseValidateRequest,
  ModelInForce,
  Proposal,
  TrustModelUpload,
} from '../schemas.ts';
import {
  trustModelFromWire,
  wireLicenseCheck,
  wireLicenseInfo,
  wireProposal,
  wireTrustModel,
} from '../../runtime/wire.ts';

export function licenseRoutes(add: AddRoute): void {
  add({
    method: 'POST',
    url: '/api/license/create',
    summary: 'Mints a license sealed by the Root key (a second Root license is refused)',
    tag: 'license',
    auth: 'caller',
    loa: 'root',
    body: LicenseCreateRequest,
    responses: { 201: { description: 'The license', schema: License } },
    errors: [400, 401, 403, 409, 413, 415, 429],
    handler: async ({ body, caller, runtime }) =>
      runtime.licenses.generate(caller, {
        subject: body.subject,
        loa: body.loa,
        expiresAt: body.expires_at ?? null,
        ...(body.name !== undefined ? { name: body.name } : {}),
      }),
  });

  add({
    method: 'GET',
    url: '/api/licenses',
    summary: 'Every license this runtime minted, with its revocation',
    tag: 'license',
    auth: 'caller',
    loa: 'root',
    responses: {
      200: { description: 'The licenses', schema: z.object({ licenses: z.array(LicenseInfo) }) },
    },
    errors: [401, 403, 429],
    handler: async ({ caller, runtime }) => ({
      licenses: (await runtime.licenses.list(caller)).map(wireLicenseInfo),
    }),
  });

  add({
    method: 'DELETE',
    url: '/api/licenses/:id',
    summary:
      'Revokes a license at once: it no longer validates (the Root license is never revoked)',
    tag: 'license',
    auth: 'caller',
    loa: 'root',
    params: Hex64Params,
    responses: { 200: { description: 'The revoked license', schema: LicenseInfo } },
    errors: [400, 401, 403, 404, 429],
    handler: async ({ params, caller, runtime }) =>
      wireLicenseInfo(await runtime.licenses.revoke(caller, params.id)),
  });

  add({
    method: 'POST',
    url: '/api/license/validate',
    summary: 'Checks a license (the body) against this runtime: its LOA and owner, or why not',
    tag: 'license',
    auth: 'public',
    body: LicenseValidateRequest,
    responses: { 200: { description: 'The verdict', schema: LicenseCheck } },
    errors: [400, 413, 415],
    handler: async ({ body, runtime }) => wireLicenseCheck(await runtime.licenses.validate(body)),
  });

  add({
    method: 'POST',
    url: '/api/model/upload',
    summary: 'Proposes a new trust model (a system change: it needs the quorum)',
    tag: 'model',
    auth: 'caller',
    loa: 'root',
    body: TrustModelUpload,
    responses: { 202: { description: 'The proposal carrying the model', schema: Proposal } },
    errors: [400, 401, 403, 413, 415, 429],
    handler: async ({ body, caller, runtime }) =>
      wireProposal(await runtime.model.upload(caller, trustModelFromWire(body))),
  });

  add({
    method: 'POST',
    url: '/api/model/refresh',
    summary: 'Loads the newest committed model (or keeps the default)',
    tag: 'model',
    auth: 'caller',
    loa: 'root',
    responses: {
      200: {
        description: 'The model in force and where it came from',
        schema: ModelInForce,
      },
    },
    errors: [401, 403, 429],
    handler: async ({ caller, runtime }) => {
      const { model, source } = await runtime.model.refresh(caller);
      return { model: wireTrustModel(model), source };
    },
  });
}
