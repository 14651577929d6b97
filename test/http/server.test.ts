/**
 * The server in-process (fastify inject): log redaction, limits from config, error mapping,
 * the OpenAPI document, metrics labels, session expiry and revocation, readiness.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { SigilError } from '../../src/core/errors.ts';
import { problemFor } from '../../src/http/errors.ts';
import { buildServer } from '../../src/http/index.ts';
import { SigilRuntime } from '../../src/runtime/index.ts';
import { MASTER_KEY, ROOMY_LIMITS, tempDataDir } from './helpers.ts';

let dir: ReturnType<typeof tempDataDir>;
let runtime: SigilRuntime;
let app: FastifyInstance;
let root: string;
let logs = '';

const SECRET_MARK = 'payload-secret-7f3a';

beforeAll(async () => {
  dir = tempDataDir(
    `[rate_limit]\n${ROOMY_LIMITS}\n[server]\nbody_limit_bytes = 2048\nmax_json_depth = 6\n`,
  );
  const env = { PATH: process.env.PATH, SIGIL_MASTER_KEY: MASTER_KEY, SIGIL_CONFIG: dir.config };
  const boot = await SigilRuntime.bootstrap({
    config: loadConfig({ env, dataDir: dir.dataDir }),
    env,
  });
  runtime = boot.runtime;
  root = boot.rootToken!;
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs += String(chunk);
      done();
    },
  });
  app = buildServer(runtime, { logLevel: 'trace', logStream: sink, sessions: { ttlMs: 400 } });
  await app.ready();
}, 60_000);

afterAll(async () => {
  await app?.close();
  await runtime?.close();
  dir?.remove();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('limits from config.server', () => {
  it('answers 413 payload_too_large above body_limit_bytes', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/api/canon/user/write',
      headers: bearer(root),
      payload: { payload: 'x'.repeat(3000) },
    });
    expect(r.statusCode).toBe(413);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.json()).toMatchObject({ code: 'payload_too_large', status: 413 });
  });

  it('answers 400 above max_json_depth', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/api/canon/user/write',
      headers: { ...bearer(root), 'content-type': 'application/json' },
      payload: '{"payload":[[[[[[1]]]]]]}',
    });
    expect(r.statusCode).toBe(400);
    expect(r.json().detail).toMatch(/deeper than 6/);
    const ok = await app.inject({
      method: 'POST',
      url: '/api/canon/user/write',
      headers: bearer(root),
      payload: { payload: [[[[1]]]] },
    });
    expect(ok.statusCode).toBe(201);
  });

  it('sets nosniff everywhere and no-store on problems', async () => {
    const ok = await app.inject({ url: '/healthz' });
    expect(ok.headers['x-content-type-options']).toBe('nosniff');
    const bad = await app.inject({ url: '/nowhere' });
    expect(bad.statusCode).toBe(404);
    expect(bad.headers['cache-control']).toBe('no-store');
  });
});

/** helmet 8's headers for Sigil's options, as @fastify/helmet set them on each request. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self';script-src 'self';style-src 'self';img-src 'self';connect-src 'self';" +
    "font-src 'none';object-src 'none';base-uri 'none';frame-ancestors 'none';form-action 'self'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
};

describe('security headers (read from helmet once, set on every answer)', () => {
  const answers = () => [
    app.inject({ url: '/healthz' }),
    app.inject({ url: '/nowhere' }),
    app.inject({ method: 'POST', url: '/api/trust/check', headers: bearer('sgl_bad') }),
    app.inject({ method: 'POST', url: '/api/trust/check', headers: bearer(root), payload: {} }),
    app.inject({
      method: 'POST',
      url: '/api/trust/check',
      headers: bearer(root),
      payload: { action: 'canon.read', target: 'canon/records' },
    }),
    app.inject({
      method: 'POST',
      url: '/api/canon/user/write',
      headers: { 'content-type': 'application/json' },
      payload: `"${'x'.repeat(3000)}"`,
    }),
  ];

  it('carries every one on a success, a 404, a 401, a 400 and a 413 alike, and no HSTS on plain HTTP', async () => {
    const statuses = [];
    for (const r of await Promise.all(answers())) {
      statuses.push(r.statusCode);
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
        expect(r.headers[name], `${r.statusCode} ${name}`).toBe(value);
      }
      expect(r.headers['strict-transport-security']).toBeUndefined();
      expect(r.headers['x-powered-by']).toBeUndefined();
    }
    expect(statuses).toEqual([200, 404, 401, 400, 200, 413]);
  });

  it('adds HSTS behind TLS (secure cookies)', async () => {
    const tls = buildServer(runtime, { logLevel: 'silent', secureCookies: true });
    await tls.ready();
    try {
      for (const r of [
        await tls.inject({ url: '/healthz' }),
        await tls.inject({ url: '/nowhere' }),
      ]) {
        expect(r.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
        for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
          expect(r.headers[name], name).toBe(value);
        }
      }
    } finally {
      await tls.close();
    }
  });
});

describe('error mapping', () => {
  const req = { id: 'req-1' } as FastifyRequest;

  it('hides unexpected errors and server faults behind a bare 500 internal', () => {
    for (const err of [
      new Error('secret detail at /etc/passwd'),
      new SigilError('decrypt_failed', 'record 7 key abc'),
      'a string',
      null,
    ]) {
      const p = problemFor(err, req);
      expect(p).toMatchObject({
        status: 500,
        code: 'internal',
        detail: 'internal error',
        request_id: 'req-1',
      });
      expect(JSON.stringify(p)).not.toMatch(/secret|passwd|record 7/);
    }
  });

  it('keeps stable codes, statuses and Retry-After seconds for SigilErrors', () => {
    expect(problemFor(new SigilError('quorum_required', 'x'), req).status).toBe(409);
    expect(problemFor(new SigilError('token_invalid', 'x'), req).status).toBe(401);
    const limited = problemFor(
      new SigilError('rate_limited', 'slow down', { retry_after_ms: 1500 }),
      req,
    );
    expect(limited).toMatchObject({ status: 429, retry_after: 2 });
    // A code missing from the registry is a fault of the server, never a quiet denial.
    expect(problemFor(new SigilError('some_new_denial', 'x'), req)).toMatchObject({
      status: 500,
      code: 'internal',
    });
  });

  it('names the failing field of a schema violation', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/api/canon/user/write',
      headers: bearer(root),
      payload: { payload: 1, links: [{ rel: 'x', id: 'bad id!' }] },
    });
    expect(r.statusCode).toBe(400);
    expect(r.json().field).toBe('body.links[0].id');
    const extra = await app.inject({
      method: 'POST',
      url: '/api/trust/check',
      headers: bearer(root),
      payload: { action: 'a', target: 'b', loa: 'root' },
    });
    expect(extra.json()).toMatchObject({
      field: 'body.loa',
      detail: 'body.loa is not a known field',
    });
    const missing = await app.inject({
      method: 'POST',
      url: '/api/trust/check',
      headers: bearer(root),
      payload: {},
    });
    expect(missing.json().field).toBe('body.action');
  });
});

describe('the OpenAPI document', () => {
  it('documents every route with resolvable references and unique operation ids', async () => {
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    const ops = Object.entries(
      doc.paths as Record<string, Record<string, Record<string, unknown>>>,
    ).flatMap(([path, methods]) => Object.entries(methods).map(([m, op]) => ({ path, m, op })));
    expect(ops.length).toBeGreaterThanOrEqual(40);
    expect(new Set(ops.map((o) => o.op.operationId)).size).toBe(ops.length);
    for (const { path, op } of ops) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const params = ((op.parameters ?? []) as Array<{ name: string; in: string }>).filter(
        (p) => p.in === 'path',
      );
      expect(params.map((p) => p.name)).toEqual(names);
      expect(Object.keys(op.responses as object)).toContain('500');
    }
    const text = JSON.stringify(doc);
    for (const [, name] of text.matchAll(/"#\/components\/schemas\/([^"]+)"/g)) {
      expect(doc.components.schemas[name!], name).toBeDefined();
    }
    expect(doc.paths['/api/trust/check'].post.security).toEqual([
      {},
      { bearer: [] },
      { session: [] },
    ]);
    expect(doc.paths['/api/log/checkpoint'].get.security).toEqual([]);
    expect(
      doc.paths['/api/trust/check'].post.requestBody.content['application/json'].schema,
    ).toEqual({
      $ref: '#/components/schemas/TrustCheckRequest',
    });
  });
});

describe('metrics', () => {
  it('labels requests by route template, never by raw URL', async () => {
    await app.inject({ url: '/api/canon/records/some-unique-id-123', headers: bearer(root) });
    const text = (await app.inject({ url: '/metrics' })).body;
    expect(text).toMatch(
      /sigil_http_requests_total\{method="GET",route="\/api\/canon\/records\/:id",status="404"\} 1/,
    );
    expect(text).not.toMatch(/some-unique-id-123/);
    expect(text).toMatch(
      /sigil_http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/healthz"/,
    );
  });
});

describe('sessions', () => {
  it('expire after their lifetime and end when their token is revoked', async () => {
    const t = await runtime.tokens.create(await runtime.tokens.authenticate(root), {
      subject: 'did:sigil:session-user',
      loa: 'operator',
      signer: { type: 'human' },
    });
    const login = async () => {
      const r = await app.inject({
        method: 'POST',
        url: '/api/session',
        payload: { token: t.token },
      });
      expect(r.statusCode).toBe(201);
      return String(r.headers['set-cookie']).split(';')[0]!;
    };
    const cookie = await login();
    expect(
      (await app.inject({ url: '/api/whoami', headers: { cookie } })).json().caller.subject,
    ).toBe('did:sigil:session-user');
    await new Promise((r) => setTimeout(r, 450));
    const expired = await app.inject({ url: '/api/whoami', headers: { cookie } });
    expect(expired.statusCode).toBe(401);
    expect(expired.json().code).toBe('unauthenticated');

    const again = await login();
    await runtime.tokens.revoke(await runtime.tokens.authenticate(root), t.info.id);
    const revoked = await app.inject({ url: '/api/whoami', headers: { cookie: again } });
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json().code).toBe('token_invalid');
  });
});

describe('logs', () => {
  it('never contain tokens, cookies, CSRF tokens, authorization headers or bodies', async () => {
    const login = await app.inject({
      method: 'POST',
      url: '/api/session',
      payload: { token: root },
    });
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const csrf = login.json().csrf_token as string;
    await app.inject({
      method: 'POST',
      url: `/api/canon/user/write?note=${SECRET_MARK}`,
      headers: { cookie, 'x-csrf-token': csrf },
      payload: { payload: { secret: SECRET_MARK } },
    });
    await app.inject({
      method: 'POST',
      url: '/api/memory/write',
      headers: bearer(root),
      payload: { key: 'k', value: SECRET_MARK },
    });
    await app.inject({
      url: '/api/whoami',
      headers: { authorization: `Bearer sgl_${'q'.repeat(43)}` },
    });
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).toMatch(/request completed/);
    for (const secret of [
      root,
      cookie.split('=')[1]!,
      csrf,
      SECRET_MARK,
      'q'.repeat(43),
      'Bearer',
    ]) {
      expect(logs.includes(secret), secret.slice(0, 12)).toBe(false);
    }
  });
});

describe('readiness', () => {
  it('answers 503 with the failing check once the runtime is closing', async () => {
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
    await runtime.close();
    const r = await app.inject({ url: '/readyz' });
    expect(r.statusCode).toBe(503);
    expect(r.json()).toMatchObject({ ready: false, checks: { open: { ok: false } } });
  });
});
