/**
 * Issue 18 item 0: the gateway is transparent to everything it allows. The official MCP
 * conformance suite (@modelcontextprotocol/conformance, its server scenarios) runs against our
 * SDK conformance server directly, then through the gateway with the upstream over Streamable
 * HTTP and over stdio, exported without a prefix (`prefix = ""`) so the scenarios call tools
 * by their own names. Every check that passes directly must pass through the gateway. The
 * suite speaks only Streamable HTTP to the server it tests and sends no credentials, so a
 * loopback proxy stands in for an agent that holds a real Operator AI token.
 *
 * The CLI needs Node 22's fs.globSync; test/conformance/node20-fs.mjs supplies it on Node 20.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway, parseGatewayConfig, serveHttp, type HttpGateway } from '../../src/mcp/index.ts';
import type { SigilRuntime } from '../../src/runtime/index.ts';
import { agentToken, makeEnv, openRuntime, type Env } from './helpers.ts';

const SERVER = resolve('test/fixtures/mcp/conformance-server.mjs');
const CLI = resolve('node_modules/@modelcontextprotocol/conformance/dist/index.js');
const NODE20_FS = resolve('test/conformance/node20-fs.mjs');

type Results = Map<string, 'SUCCESS' | 'FAILURE' | 'WARNING' | 'SKIPPED' | 'INFO'>;
/** What a failed check reported, to explain a failure. */
const details = new Map<string, unknown>();

let e: Env;
let runtime: SigilRuntime;
let token: string;
let upstream: ChildProcess;
let upstreamUrl: string;
const closers: Array<() => Promise<void>> = [];

/** Runs every active server scenario against `url`; the status of each check, by id. */
async function runSuite(url: string, name: string): Promise<Results> {
  const out = join(e.dir, `results-${name}`);
  const child = spawn(
    'node',
    ['--import', NODE20_FS, CLI, 'server', '--url', url, '--output-dir', out],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  let log = '';
  child.stdout.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr.on('data', (c: Buffer) => (log += c.toString()));
  await new Promise<void>((done) => child.once('close', () => done()));
  const results: Results = new Map();
  if (!existsSync(out)) throw new Error(`the suite wrote no results for ${name}:\n${log}`);
  for (const dir of readdirSync(out)) {
    const scenario = dir.replace(/^server-/, '').replace(/-\d{4}-\d\d-\d\dT.*$/, '');
    const file = join(out, dir, 'checks.json');
    if (!existsSync(file)) continue;
    for (const check of JSON.parse(readFileSync(file, 'utf8')) as Array<{
      id: string;
      status: string;
    }>) {
      results.set(`${scenario}/${check.id}`, check.status as never);
      if (check.status !== 'SUCCESS') details.set(`${name}:${scenario}/${check.id}`, check);
    }
  }
  return results;
}

/** A loopback agent: forwards every request to `target` with the agent's bearer token. */
async function tokenProxy(target: string): Promise<{ url: string; close(): Promise<void> }> {
  const to = new URL(target);
  const server: Server = createServer((req, res) => {
    const upstreamReq = request(
      {
        host: to.hostname,
        port: to.port,
        path: req.url,
        method: req.method,
        headers: { ...req.headers, host: to.host, authorization: `Bearer ${token}` },
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    upstreamReq.on('error', () => res.destroy());
    req.pipe(upstreamReq);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${to.pathname}`,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** The gateway over HTTP in front of the conformance server, unprefixed. */
async function gatewayFor(upstreamToml: string): Promise<string> {
  const config = parseGatewayConfig(
    `call_timeout_ms = 20000
${upstreamToml}
prefix = ""

[[policy]]
tool = "ev__*"
min_loa = "operator"

[[policy]]
resource = "ev__test://**"
min_loa = "operator"

[[policy]]
prompt = "ev__*"
min_loa = "operator"

[[policy]]
request = "ev__**"
min_loa = "operator"
`,
    join(e.dir, 'gateway.toml'),
  );
  const gateway = await Gateway.start({ runtime, config, log: () => undefined });
  const http: HttpGateway = await serveHttp(gateway, { host: '127.0.0.1', port: 0 });
  const proxy = await tokenProxy(http.url);
  closers.push(proxy.close, http.close, () => gateway.close());
  return proxy.url;
}

beforeAll(async () => {
  // The suite makes a few hundred calls in seconds: lift the agent's rate limit.
  e = makeEnv('[rate_limit]\noperator = { rate = 100000, burst = 100000 }\n');
  const opened = await openRuntime(e);
  runtime = opened.runtime;
  token = await agentToken(runtime, await runtime.tokens.authenticate(opened.rootToken!));
  upstream = spawn('node', [SERVER, '--http', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await new Promise<number>((ok, fail) => {
    let buf = '';
    upstream.stderr?.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /listening (\d+)/.exec(buf);
      if (m) ok(Number(m[1]));
    });
    upstream.once('exit', (code) => fail(new Error(`conformance server exited ${code}`)));
  });
  upstreamUrl = `http://127.0.0.1:${port}/mcp`;
}, 60_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  upstream?.kill();
  await runtime?.close();
  e?.cleanup();
});

describe('the MCP conformance suite through the gateway', () => {
  let direct: Results;

  it('runs against the conformance server directly', async () => {
    direct = await runSuite(upstreamUrl, 'direct');
    const passed = [...direct].filter(([, s]) => s === 'SUCCESS').length;
    // The server scenarios of this suite version: 30 scenarios, 40 checks.
    expect(direct.size).toBeGreaterThanOrEqual(40);
    expect(passed).toBeGreaterThanOrEqual(39);
  }, 180_000);

  const throughGateway = (name: string, toml: () => string) =>
    it(`passes through the gateway everything that passes directly (upstream over ${name})`, async () => {
      const via = await runSuite(await gatewayFor(toml()), name);
      const lost = [...direct]
        .filter(([id, s]) => s === 'SUCCESS' && via.get(id) !== 'SUCCESS')
        .map(([id]) => `${id}: ${JSON.stringify(details.get(`${name}:${id}`) ?? 'missing')}`);
      expect(lost).toEqual([]);
    }, 240_000);

  throughGateway('Streamable HTTP', () => `[[upstream]]\nname = "ev"\nurl = "${upstreamUrl}"`);
  throughGateway(
    'stdio',
    () => `[[upstream]]\nname = "ev"\ncommand = "node"\nargs = [${JSON.stringify(SERVER)}]`,
  );

  it('sealed what the suite did through the gateway, sampling and elicitation included', async () => {
    const calls = (await runtime.log.list({ kind: 'mcp_call', limit: 1000 })).records.map(
      (r) => (r.payload as { tool: string; outcome: string }).tool,
    );
    expect(calls).toContain('test_simple_text');
    expect(calls).toContain('request:sampling/createMessage');
    expect(calls).toContain('request:elicitation/create');
    expect(calls).toContain('resource:test://static-text');
    await runtime.log.checkpoint();
    expect((await runtime.log.validate({ workers: 0 })).ok).toBe(true);
  }, 60_000);
});
