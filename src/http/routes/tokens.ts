/** API tokens: Root mints, lists and revokes them; a token is shown once, at creation. */
import type { SignerType } from '../../core/typed-signature.ts';
import type { AddRoute } from '../route.ts';
import { IdParams, TokenCreateRequest, TokenInfo, array, obj } from '../schemas.ts';

interface TokenBody {
  subject: string;
  loa: string;
  signer?: SignerType;
  ttl_ms?: number | null;
  scopes?: string[];
}

export function tokenRoutes(add: AddRoute): void {
  add<TokenBody>({
    method: 'POST',
    url: '/api/tokens',
    summary: 'Creates an API token (shown once) for a subject DID at a level of access',
    tag: 'tokens',
    auth: 'caller',
    loa: 'root',
    body: TokenCreateRequest,
    responses: {
      201: {
        description: 'The token (store it now) and its public description',
        schema: obj({ token: { type: 'string' }, info: TokenInfo }, ['token', 'info']),
      },
    },
    errors: [400, 401, 403, 413, 415, 429],
    handler: async ({ body, caller, runtime, reply }) => {
      reply.header('cache-control', 'no-store');
      return runtime.createToken(caller, {
        subject: body.subject,
        loa: body.loa,
        signer: body.signer ?? { type: 'human' },
        ...(body.ttl_ms !== undefined ? { ttlMs: body.ttl_ms } : {}),
        ...(body.scopes !== undefined ? { scopes: body.scopes } : {}),
      });
    },
  });

  add({
    method: 'GET',
    url: '/api/tokens',
    summary: 'Every token (never the token itself or its hash)',
    tag: 'tokens',
    auth: 'caller',
    loa: 'root',
    responses: {
      200: { description: 'The tokens', schema: obj({ tokens: array(TokenInfo) }, ['tokens']) },
    },
    errors: [401, 403, 429],
    handler: async ({ caller, runtime }) => ({ tokens: await runtime.listTokens(caller) }),
  });

  add<unknown, unknown, { id: string }>({
    method: 'DELETE',
    url: '/api/tokens/:id',
    summary: 'Revokes a token at once',
    tag: 'tokens',
    auth: 'caller',
    loa: 'root',
    params: IdParams,
    responses: { 200: { description: 'The revoked token', schema: TokenInfo } },
    errors: [400, 401, 403, 404, 429],
    handler: async ({ params, caller, runtime }) => runtime.revokeToken(caller, params.id),
  });
}
