/** API tokens: Root mints, lists and revokes them; a token is shown once, at creation. */
import { z } from 'zod';
import type { AddRoute } from '../route.ts';
import { CreatedToken, IdParams, TokenCreateRequest, TokenInfo } from '../schemas.ts';
import { signerFromWire, wireTokenInfo } from '../../runtime/wire.ts';

export function tokenRoutes(add: AddRoute): void {
  add({
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
        schema: CreatedToken,
      },
    },
    errors: [400, 401, 403, 409, 413, 415, 429],
    handler: async ({ body, caller, runtime, reply }) => {
      reply.header('cache-control', 'no-store');
      const created = await runtime.tokens.create(caller, {
        subject: body.subject,
        loa: body.loa,
        signer: body.signer ? signerFromWire(body.signer) : { type: 'human' },
        ...(body.ttl_ms !== undefined ? { ttlMs: body.ttl_ms } : {}),
        ...(body.scopes !== undefined ? { scopes: body.scopes } : {}),
      });
      return { token: created.token, info: wireTokenInfo(created.info) };
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
      200: { description: 'The tokens', schema: z.object({ tokens: z.array(TokenInfo) }) },
    },
    errors: [401, 403, 429],
    handler: async ({ caller, runtime }) => ({
      tokens: (await runtime.tokens.list(caller)).map(wireTokenInfo),
    }),
  });

  add({
    method: 'DELETE',
    url: '/api/tokens/:id',
    summary: 'Revokes a token at once',
    tag: 'tokens',
    auth: 'caller',
    loa: 'root',
    params: IdParams,
    responses: { 200: { description: 'The revoked token', schema: TokenInfo } },
    errors: [400, 401, 403, 404, 429],
    handler: async ({ params, caller, runtime }) =>
      wireTokenInfo(await runtime.tokens.revoke(caller, params.id)),
  });
}
