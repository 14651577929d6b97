/**
 * The Streamable HTTP gateway as an OAuth 2.1 resource server: a JWKS served on loopback,
 * access tokens signed here, a real SDK client through the real gateway to a real SDK
 * upstream. An attacker's tokens (another audience, another issuer, expired, `alg: none`, an
 * unknown key, a forged LOA) get 401 with the RFC 9728 challenge; a good one reaches the
 * upstream, which never sees it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type KeyObject } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/mcp/config.ts';
import { ERROR_META_KEY, type GatewayDenial } from '../../src/mcp/index.ts';
import type { SigilRuntime } from '../../src/runtime/index.ts';
import { makeEnv, openRuntime, type Env } from './helpers.ts';
import {
  agentClient,
  serveGateway,
  startLiveUpstream,
  type LiveUpstream,
} from './live-upstream.ts';

const RESOURCE = 'https://gateway.test/mcp';
const AGENT = 'did:sigil:oauth-agent';

let e: Env;
let runtime: SigilRuntime;
let upstream: LiveUpstream;
let gw: Awaited<ReturnType<typeof serveGateway>>;
let jwks: Server;
let issuer: string;
let key: KeyObject;
let otherKey: KeyObject;
let delegationId: string;
let jwksFetches = 0;
const clients: Client[] = [];

async function sign(
  claims: Record<string, unknown>,
  opts: { key?: KeyObject; kid?: string; iss?: string; aud?: string; exp?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? 'k1', typ: 'at+jwt' })
    .setIssuer(opts.iss ?? issuer)
    .setAudience(opts.aud ?? RESOURCE)
    .setSubject(AGENT)
    .setIssuedAt(now)
    .setExpirationTime(opts.exp ?? now + 300)
    .sign(opts.key ?? key);
}

function agentClaims(extra: Record<string, unknown> = {}) {
  return { sigil_loa: 'operator', sigil_signer: 'ai', sigil_delegation: delegationId, ...extra };
}

function post(token: string | undefined): Promise<Response> {
  return fetch(gw.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'raw', version: '1' },
      },
    }),
  });
}

async function expectRefused(token: string): Promise<void> {
  const r = await post(token);
  expect(r.status).toBe(401);
  const challenge = r.headers.get('www-authenticate') ?? '';
  expect(challenge).toContain('error="invalid_token"');
  expect(challenge).toContain(
    `resource_metadata="${new URL(gw.url).origin}/.well-known/oauth-protected-resource/mcp"`,
  );
}

beforeAll(async () => {
  e = makeEnv();
  const opened = await openRuntime(e);
  runtime = opened.runtime;
  const root = await runtime.tokens.authenticate(opened.rootToken);
  delegationId = (
    await runtime.delegations.create(root, { to: AGENT, actions: ['mcp.tools.call'] })
  ).delegation_id;
  await runtime.consent.grant(root, {
    bailee: AGENT,
    scope: 'mcp.tools.call',
    purpose: 'retrieval',
  });

  const pair = (await generateKeyPair('ES256', { extractable: true })) as {
    publicKey: KeyObject;
    privateKey: KeyObject;
  };
  key = pair.privateKey;
  otherKey = ((await generateKeyPair('ES256')) as { privateKey: KeyObject }).privateKey;
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  jwks = createServer((_req, res) => {
    jwksFetches += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}`;

  upstream = await startLiveUpstream();
  gw = await serveGateway(
    runtime,
    `
[auth]
resource = "${RESOURCE}"

[[auth.oauth]]
issuer = "${issuer}"
jwks_uri = "${issuer}/jwks.json"
audience = "${RESOURCE}"
algorithms = ["ES256"]

[[upstream]]
name = "live"
url = "${upstream.url}"

[[policy]]
tool = "live__echo"
min_loa = "operator"
`,
    e.dir,
  );
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await gw?.close();
  await upstream?.close();
  jwks?.close();
  await runtime?.close();
  e?.cleanup();
});

describe('the gateway as an OAuth resource server', () => {
  it('serves RFC 9728 metadata naming its resource and authorization server', async () => {
    const origin = new URL(gw.url).origin;
    for (const path of [
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/mcp',
    ]) {
      const meta = (await (await fetch(`${origin}${path}`)).json()) as Record<string, unknown>;
      expect(meta).toEqual({
        resource: RESOURCE,
        authorization_servers: [issuer],
        bearer_methods_supported: ['header'],
        resource_name: 'Sigil MCP gateway',
      });
    }
    const none = await post(undefined);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"`,
    );
  });

  it('lets a valid token call, sealed as its subject, and never passes the token upstream', async () => {
    const token = await sign(agentClaims());
    const client = await agentClient(gw.url, token);
    clients.push(client);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['live__echo']);
    const r = (await client.callTool({
      name: 'live__echo',
      arguments: { text: 'hi' },
    })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    expect(r.content).toEqual([{ type: 'text', text: 'hi' }]);
    const decisions = (await runtime.log.list({ kind: 'decision', limit: 1000 })).records;
    const last = decisions.at(-1)!.payload as { caller: Record<string, unknown> };
    expect(last.caller).toMatchObject({
      subject: AGENT,
      loa: 'operator',
      source: 'oauth',
      verified: true,
      signer: { type: 'ai', delegationId },
    });
    expect(upstream.calls.map((c) => c.tool)).toEqual(['echo']);
    const seen = JSON.stringify(upstream.headers);
    expect(seen).not.toContain(token);
    expect(seen.toLowerCase()).not.toContain('bearer');
  });

  it('refuses a token for another audience', async () => {
    await expectRefused(await sign(agentClaims(), { aud: 'https://other.test/mcp' }));
    await expectRefused(await sign(agentClaims(), { aud: new URL(gw.url).href }));
  });

  it('refuses a token from another issuer, even one signed by a trusted key', async () => {
    await expectRefused(await sign(agentClaims(), { iss: 'https://evil.test' }));
    await expectRefused(await sign(agentClaims(), { iss: `${issuer}/` }));
  });

  it('refuses an expired token', async () => {
    await expectRefused(await sign(agentClaims(), { exp: Math.floor(Date.now() / 1000) - 3600 }));
  });

  it('refuses an unsigned token (alg none)', async () => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const claims = { ...agentClaims(), iss: issuer, aud: RESOURCE, sub: AGENT, exp: now + 300 };
    await expectRefused(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`);
    await expectRefused(`${b64({ alg: 'none', kid: 'k1' })}.${b64(claims)}.${b64('x')}`);
  });

  it('refuses a token signed by an unknown key, under a known or an unknown key id', async () => {
    const before = jwksFetches;
    await expectRefused(await sign(agentClaims(), { key: otherKey, kid: 'k2' }));
    await expectRefused(await sign(agentClaims(), { key: otherKey, kid: 'k1' }));
    // An unknown kid re-reads the JWKS at most once per cooldown, not once per token.
    for (let i = 0; i < 5; i++)
      await expectRefused(await sign(agentClaims(), { key: otherKey, kid: `x${i}` }));
    expect(jwksFetches - before).toBeLessThanOrEqual(1);
  });

  it('refuses claims the issuer may not make, and defaults a missing LOA to guest', async () => {
    await expectRefused(await sign(agentClaims({ sigil_loa: 'root' })));
    await expectRefused(await sign(agentClaims({ sigil_loa: 'emperor' })));
    await expectRefused(await sign(agentClaims({ sigil_delegation: undefined })));
    await expectRefused(await sign(agentClaims({ sigil_signer: 'robot' })));
    const guest = await agentClient(gw.url, await sign(agentClaims({ sigil_loa: undefined })));
    clients.push(guest);
    expect((await guest.listTools()).tools).toEqual([]);
    const r = (await guest.callTool({
      name: 'live__echo',
      arguments: { text: 'x' },
    })) as CallToolResult;
    const d = r._meta?.[ERROR_META_KEY] as GatewayDenial;
    expect(d.code).toBe('loa_insufficient');
    expect(upstream.calls.length).toBe(1);
  });

  it('accepts an http:// issuer or JWKS only on loopback', () => {
    const toml = (url: string) => `
[[auth.oauth]]
issuer = "${url}"
jwks_uri = "${url}/jwks.json"
audience = "${RESOURCE}"

[[upstream]]
name = "x"
command = "node"
`;
    expect(() => parseGatewayConfig(toml('http://127.0.0.1:9'), 'g.toml')).not.toThrow();
    expect(() => parseGatewayConfig(toml('http://login.example.com'), 'g.toml')).toThrow(
      /auth\.oauth\[0\]\.issuer.*https/,
    );
    const mismatched = `[auth]\nresource = "https://other.test/mcp"\n${toml('https://login.example.com')}`;
    expect(() => parseGatewayConfig(mismatched, 'g.toml')).toThrow(
      /auth\.oauth\[0\]\.audience: must be the gateway's resource URI/,
    );
  });
});
