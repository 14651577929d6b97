/**
 * MCP gateway benchmark. The same SDK client calls a trivial tool (`read_note`) of the same
 * upstream directly and through `sigil gateway`, in one run, over stdio and over Streamable
 * HTTP. Printed per transport:
 * - median and p99 latency of sequential calls, direct (the limit) and via the gateway, and the
 *   latency the gateway adds (each gateway call is adjudicated and sealed twice in the log:
 *   the decision and the mcp_call record, each durable before the call proceeds);
 * - calls/s with CONCURRENCY calls in flight, direct vs gateway, and the ratio;
 * - over stdio, the median with a `when` rule, with redaction and with both on the row, beside
 *   the plain gateway's (issue 18: the added cost of each).
 * Counts are bounded (BENCH_GATEWAY_CALLS, default 300 sequential + 600 concurrent).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { loadConfig } from '../src/config/index.ts';
import { SigilRuntime } from '../src/runtime/index.ts';
import { figure } from './report.ts';

const SEQUENTIAL = Number(process.env.BENCH_GATEWAY_CALLS ?? 300);
const CONCURRENT = SEQUENTIAL * 2;
const CONCURRENCY = 8;
const WARMUP = 50;
const ROOT = resolve(import.meta.dirname, '..');
const FIXTURE = join(ROOT, 'test/fixtures/mcp/notes-server.mjs');
const CLI = process.env.SIGIL_CLI ?? join(ROOT, 'bin/sigil');
const AGENT = 'did:sigil:bench-agent';

interface Figures {
  median: number;
  p99: number;
  rate: number;
}

const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const ms = (n: number): string => `${n.toFixed(2)} ms`;

/** Sequential latencies and concurrent throughput of read_note through `client`. */
async function measure(client: Client, tool: string): Promise<Figures> {
  const once = async () => {
    const r = await client.callTool({ name: tool, arguments: { id: 'n1' } });
    if (r.isError) throw new Error(`${tool} failed: ${JSON.stringify(r.content)}`);
  };
  for (let i = 0; i < WARMUP; i++) await once();
  const samples: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const t = performance.now();
    await once();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < CONCURRENT) await once();
    }),
  );
  const rate = (CONCURRENT * 1000) / (performance.now() - started);
  return { median: quantile(samples, 0.5), p99: quantile(samples, 0.99), rate };
}

async function withClient<T>(transport: Transport, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ name: 'bench-agent', version: '1.0.0' });
  await client.connect(transport);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** Spawns a process and resolves the first stderr match of `re` (its URL or port). */
function spawnAndWait(
  args: string[],
  env: NodeJS.ProcessEnv,
  re: RegExp,
): Promise<{ child: ChildProcess; match: string }> {
  const child = spawn('node', args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolveSpawn, reject) => {
    let buf = '';
    child.stderr?.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = re.exec(buf);
      if (m?.[1]) resolveSpawn({ child, match: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${buf}`)));
  });
}

/**
 * The added median latency is measured over a direct call (no hop at all), which is stricter
 * than the limit (a bare pass-through proxy built with the same SDK).
 */
function report(name: string, direct: Figures, gateway: Figures): void {
  figure({
    name: `gateway, ${name}, added median latency`,
    value: gateway.median - direct.median,
    unit: 'ms',
    goal: { atMost: 1.5 },
    note: `median ${ms(gateway.median)} via gateway vs ${ms(direct.median)} direct; p99 ${ms(gateway.p99)} vs ${ms(direct.p99)}`,
  });
  figure({
    name: `gateway, ${name}, throughput (${CONCURRENCY} in flight)`,
    value: gateway.rate,
    unit: '/s',
    limit: { name: 'direct calls', value: direct.rate },
    goal: { ratioAtLeast: 0.5 },
  });
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sigil-bench-gw-'));
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  // The bench measures the gateway, not the rate limiter: lift the agent's limits.
  writeFileSync(
    join(dir, 'mmf.toml'),
    '[rate_limit]\noperator = { rate = 1000000, burst = 1000000 }\n',
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SIGIL_DATA_DIR: dataDir,
    SIGIL_CONFIG: join(dir, 'mmf.toml'),
    SIGIL_MASTER_KEY: Buffer.alloc(32, 0x2a).toString('base64'),
    LOG_LEVEL: 'silent',
  };
  const children: ChildProcess[] = [];
  try {
    const boot = await SigilRuntime.bootstrap({ config: loadConfig({ env, dataDir }), env });
    const root = await boot.runtime.tokens.authenticate(boot.rootToken);
    // The agent acts for Root through a signed delegation, as every AI caller must.
    const delegation = await boot.runtime.delegations.create(root, {
      to: AGENT,
      actions: ['mcp.tools.call'],
    });
    const { token } = await boot.runtime.tokens.create(root, {
      subject: AGENT,
      loa: 'operator',
      signer: { type: 'ai', delegationId: delegation.delegation_id },
      scopes: ['mcp.tools.call'],
    });
    await boot.runtime.consent.grant(root, {
      bailee: AGENT,
      scope: 'mcp.tools.call',
      purpose: 'retrieval',
    });
    await boot.runtime.close();

    const upstreamHttp = await spawnAndWait([FIXTURE, '--http', '0'], env, /listening (\d+)/);
    children.push(upstreamHttp.child);
    const upstreamUrl = `http://127.0.0.1:${upstreamHttp.match}/mcp`;
    const policy = '[[policy]]\ntool = "notes__read_note"\nmin_loa = "operator"\nrisk = 0.1\n';
    const stdioConfig = join(dir, 'stdio.toml');
    writeFileSync(
      stdioConfig,
      `[[upstream]]\nname = "notes"\ncommand = "node"\nargs = [${JSON.stringify(FIXTURE)}]\n${policy}`,
    );
    const httpConfig = join(dir, 'http.toml');
    writeFileSync(httpConfig, `[[upstream]]\nname = "notes"\nurl = "${upstreamUrl}"\n${policy}`);

    const stdioDirect = await withClient(
      new StdioClientTransport({ command: 'node', args: [FIXTURE] }),
      (c) => measure(c, 'read_note'),
    );
    const stdioGateway = await withClient(
      new StdioClientTransport({
        command: 'node',
        args: [CLI, 'gateway', '--config', stdioConfig],
        env: { ...(env as Record<string, string>), SIGIL_TOKEN: token },
        stderr: 'ignore',
      }),
      (c) => measure(c, 'notes__read_note'),
    );
    report('stdio', stdioDirect, stdioGateway);

    // Issue 18's rules over arguments and redaction, each on the same row, against the plain
    // gateway just measured: what each adds to a call.
    const variants: Array<[string, string]> = [
      ['a `when` rule', `when = 'args.id.startsWith("n") && caller.loa != "guest"'\n`],
      ['redaction', 'redact = ["secrets"]\n'],
      [
        'a `when` rule and redaction',
        `when = 'args.id.startsWith("n") && caller.loa != "guest"'\nredact = ["secrets"]\n`,
      ],
    ];
    for (const [label, extra] of variants) {
      const file = join(dir, `stdio-${variants.findIndex((v) => v[0] === label)}.toml`);
      writeFileSync(
        file,
        `[[upstream]]\nname = "notes"\ncommand = "node"\nargs = [${JSON.stringify(FIXTURE)}]\n${policy}${extra}`,
      );
      const with_ = await withClient(
        new StdioClientTransport({
          command: 'node',
          args: [CLI, 'gateway', '--config', file],
          env: { ...(env as Record<string, string>), SIGIL_TOKEN: token },
          stderr: 'ignore',
        }),
        (c) => measure(c, 'notes__read_note'),
      );
      figure({
        name: `gateway, stdio, with ${label}, median latency`,
        value: with_.median,
        unit: 'ms',
        limit: { name: 'the same gateway without it', value: stdioGateway.median },
        note: `adds ${ms(with_.median - stdioGateway.median)}; p99 ${ms(with_.p99)} vs ${ms(stdioGateway.p99)}; ${with_.rate.toFixed(0)}/s vs ${stdioGateway.rate.toFixed(0)}/s`,
      });
    }

    const gatewayHttp = await spawnAndWait(
      [CLI, 'gateway', '--config', httpConfig, '--listen', '127.0.0.1:0'],
      env,
      /serving MCP at (\S+)/,
    );
    children.push(gatewayHttp.child);
    const httpDirect = await withClient(
      new StreamableHTTPClientTransport(new URL(upstreamUrl)),
      (c) => measure(c, 'read_note'),
    );
    const httpGateway = await withClient(
      new StreamableHTTPClientTransport(new URL(gatewayHttp.match), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
      (c) => measure(c, 'notes__read_note'),
    );
    report('http', httpDirect, httpGateway);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
