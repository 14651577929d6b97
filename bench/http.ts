/**
 * HTTP benchmark (autocannon on loopback, 50 connections, ~5 s per case, load generated in a
 * worker thread). One run prints, for each case, req/s, p99 latency and errors:
 * - a bare fastify hello-world route (what this machine's HTTP stack can do at all);
 * - GET /healthz on the Sigil server (the server's own overhead: hooks, metrics, problem plumbing);
 * - POST /api/trust/check (authenticate, decide, freeze the decision into the log, durable);
 * - POST /api/canon/user/write (a decision and a sealed record, durable in one transaction);
 * each Sigil route reported against fastify hello-world in the same run (goal ≥ 25%, p99 ≤ 20 ms,
 * 0 errors), beside the "canonicalize + sign per request" bound (an in-process loop of RFC 8785
 * canonical JSON + SHA-256 + Ed25519 over a real decision record's body).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import Fastify, { type FastifyInstance } from 'fastify';
import { loadConfig } from '../src/config/index.ts';
import { canonicalBytes } from '../src/core/canonical.ts';
import { generateKeyPair, sign } from '../src/core/ed25519.ts';
import { sha256 } from '../src/core/hash.ts';
import { buildServer } from '../src/http/index.ts';
import { SigilRuntime } from '../src/runtime/index.ts';
import { figure, fmt, say } from './report.ts';

/** The part of autocannon's API used here (the package ships no types). */
interface LoadResult {
  requests: { average: number };
  latency: { p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: {
  url: string;
  method: string;
  connections: number;
  duration: number;
  workers: number;
  headers: Record<string, string>;
  body?: string;
}) => Promise<LoadResult>;

const CONNECTIONS = 50;
const DURATION_S = 5;
const BOUND_MS = 3000;

interface CaseResult {
  name: string;
  rps: number;
  p99: number;
  errors: number;
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

async function load(
  name: string,
  url: string,
  opts: { method?: 'GET' | 'POST'; token?: string; body?: unknown } = {},
): Promise<CaseResult> {
  const result = await autocannon({
    url,
    method: opts.method ?? 'GET',
    connections: CONNECTIONS,
    duration: DURATION_S,
    workers: 1,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const errors = result.errors + result.timeouts + result.non2xx;
  const r = { name, rps: result.requests.average, p99: result.latency.p99, errors };
  say(`  ${name}: ${fmt(r.rps)} req/s, p99 ${r.p99} ms, errors ${errors}`);
  return r;
}

/** Canonicalize + hash + sign a real decision body per iteration: the per-request floor. */
function signBound(payload: unknown): number {
  const { privateKey } = generateKeyPair();
  for (let i = 0; i < 500; i++) sign(privateKey, sha256(canonicalBytes(payload)));
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < BOUND_MS) {
    sign(privateKey, sha256(canonicalBytes(payload)));
    n++;
  }
  return (n * 1000) / (performance.now() - started);
}

export async function run(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'sigil-bench-http-'));
  const limits = ['guest', 'observer', 'operator', 'mentor', 'root']
    .map((l) => `${l} = { rate = 1000000, burst = 1000000 }`)
    .join('\n');
  const configFile = join(root, 'mmf.toml');
  writeFileSync(configFile, `[rate_limit]\n${limits}\n`);
  const env = {
    ...process.env,
    SIGIL_MASTER_KEY: Buffer.alloc(32, 0x42).toString('base64'),
    SIGIL_CONFIG: configFile,
    LOG_LEVEL: 'warn',
  };
  const hello = Fastify({ logger: false });
  hello.get('/', async () => ({ hello: 'world' }));
  const boot = await SigilRuntime.bootstrap({
    config: loadConfig({ env, dataDir: join(root, 'data') }),
    env,
  });
  const { runtime } = boot;
  const token = boot.rootToken!;
  const app = buildServer(runtime, { logLevel: 'warn' });
  try {
    say(
      `HTTP benchmark: ${CONNECTIONS} connections, ${DURATION_S} s per case, loopback (autocannon worker)`,
    );
    const results = [await load('fastify hello-world', await listen(hello))];
    await hello.close();
    const base = await listen(app);
    results.push(await load('GET /healthz', `${base}/healthz`));
    const check = { action: 'canon.read', target: 'canon/records', payload: { q: 'bench' } };
    results.push(
      await load('POST /api/trust/check', `${base}/api/trust/check`, {
        method: 'POST',
        token,
        body: check,
      }),
    );
    results.push(
      await load('POST /api/canon/user/write', `${base}/api/canon/user/write`, {
        method: 'POST',
        token,
        body: { payload: { note: 'bench', n: 1 } },
      }),
    );
    const caller = await runtime.tokens.authenticate(token);
    const sample = await runtime.check(caller, check);
    const record = await runtime.log.get(sample.decision_id);
    const { hash: _h, sig: _s, witnesses: _w, seq: _q, ...body } = record!;
    const bound = signBound(body);
    const helloWorld = results[0]!;
    for (const r of results.slice(2)) {
      figure({
        name: `${r.name}, ${CONNECTIONS} connections`,
        value: r.rps,
        unit: '/s',
        limit: { name: 'fastify hello-world', value: helloWorld.rps },
        goal: { ratioAtLeast: 0.25 },
      });
      figure({ name: `${r.name}, p99`, value: r.p99, unit: 'ms', goal: { atMost: 20 } });
      figure({ name: `${r.name}, errors`, value: r.errors, unit: 'errors', goal: { atMost: 0 } });
    }
    figure({
      name: 'canonicalize + sign a decision record body',
      value: bound,
      unit: '/s',
      note: `${canonicalBytes(body).length} bytes`,
    });
  } finally {
    await app.close();
    await runtime.close();
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
