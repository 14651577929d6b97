/** Licenses and the trust model. */
import type { AddRoute } from '../route.ts';
import { License, LicenseCheck, LicenseCreateRequest, Proposal, obj } from '../schemas.ts';

interface LicenseBody {
  subject: string;
  loa: string;
  expiresAt?: string | null;
  name?: string;
}

export function licenseRoutes(add: AddRoute): void {
  add<LicenseBody>({
    method: 'POST',
    url: '/api/license/create',
    summary: 'Mints a license sealed by the Root key (a second Root license is refused)',
    tag: 'license',
    auth: 'caller',
    loa: 'root',
    body: LicenseCreateRequest,
    responses: { 201: { description: 'The license', schema: License } },
    errors: [400, 401, 403, 413, 415, 429],
    handler: async ({ body, caller, runtime }) =>
      runtime.generateLicense(caller, {
        subject: body.subject,
        loa: body.loa,
        expiresAt: body.expiresAt ?? null,
        ...(body.name !== undefined ? { name: body.name } : {}),
      }),
  });

  add<Record<string, unknown>>({
    method: 'POST',
    url: '/api/license/validate',
    summary: 'Checks a license (the body) against this runtime: its LOA and owner, or why not',
    tag: 'license',
    auth: 'public',
    body: { type: 'object', description: 'The license JSON, as issued' },
    responses: { 200: { description: 'The verdict', schema: LicenseCheck } },
    errors: [400, 413, 415],
    handler: async ({ body, runtime }) => {
      const v = runtime.validateLicense(body);
      return v.ok
        ? { ok: true, loa: v.loa, owner: v.owner, expiresAt: v.expiresAt }
        : { ok: false, loa: v.loa, reason: v.reason };
    },
  });

  add<Record<string, unknown>>({
    method: 'POST',
    url: '/api/model/upload',
    summary: 'Proposes a new trust model (a system change: it needs the quorum)',
    tag: 'model',
    auth: 'caller',
    loa: 'root',
    body: { type: 'object', description: 'A trust model: {version, bias, weights, threshold, …}' },
    responses: { 202: { description: 'The proposal carrying the model', schema: Proposal } },
    errors: [400, 401, 403, 413, 415, 429],
    handler: async ({ body, caller, runtime }) => runtime.uploadModel(caller, body),
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
        schema: obj({ model: { type: 'object' }, source: { type: 'string' } }, ['model', 'source']),
      },
    },
    errors: [401, 403, 429],
    handler: async ({ caller, runtime }) => runtime.refreshModel(caller),
  });
}
