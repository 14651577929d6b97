/**
 * MCP gateway benchmark. The same SDK client calls a trivial tool (`read_note`) of the same
 * upstream directly, through a bare pass-through proxy built with the same SDK
 * (bench/passthrough.ts, the limit: what any proxy hop costs) and through `sigil gateway`, in
 * one run, over stdio and over Streamable HTTP. Over stdio the gateway also runs with a `when`
 * rule, with redaction and with both on the row (issue 18: the added cost of each).
 *
 * Every target is measured in the same rounds, round-robin (blocks of BLOCK calls, the starting
 * target rotating), so warm-up and the machine's load fall on each alike. Printed per transport:
 * - the median latency the gateway adds over the pass-through proxy (the goal: at most 1.5 ms),
 *   with the medians and p99s of direct calls, the proxy and the gateway. Each gateway call
 *   seals two records, the decision (durable before the upstream is called) and the outcome
 *   (durable before the agent is answered): a probe of two 4 KiB write + fdatasync pairs in
 *   turn, in the data dir and in the same rounds, is printed beside it as the floor of those
 *   two commits;
 * - calls/s with CONCURRENCY calls in flight, gateway vs direct, and the ratio (goal: 50%);
 * - over stdio, what a `when` rule, redaction and both add to the plain gateway's median;
 * - the CPU time the gateway's own process spends per call beside the proxy's (Linux, from
 *   /proc/<pid>/stat over the same sequential calls): unlike latency, it hardly moves with the
 *   machine's load, so runs on a busy machine can be compared.
 * Counts are bounded (BENCH_GATEWAY_CALLS, default 300 sequential + 600 concurrent per target).
 * `npm run build:cli` first, so `bin/sigil` runs the bundle rather than the sources through
 * tsx. BENCH_GATEWAY_PROF=<dir> runs the stdio gateways under `node --cpu-prof` into <dir>.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  cpSync,
  readFileSync,
  fdatasyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { loadConfig } from '../src/config/index.ts';
import { SigilRuntime } from '../src/runtime/index.ts';
import { figure, quantile } from './report.ts';

const SEQUENTIAL = Number(process.env.BENCH_GATEWAY_CALLS ?? 300);
const CONCURRENT = SEQUENTIAL * 2;
const CONCURRENCY = 8;
const WARMUP = 50;
/** Sequential calls per target before the next target's turn. */
const BLOCK = 10;
/** Throughput rounds per target, interleaved like the sequential blocks. */
const RATE_ROUNDS = 4;
const ROOT = resolve(import.meta.dirname, '..');
const FIXTURE = join(ROOT, 'test/fixtures/mcp/notes-server.mjs');
const PASSTHROUGH = join(ROOT, 'bench/passthrough.ts');
const CLI = process.env.SIGIL_CLI ?? join(ROOT, 'bin/sigil');
const PROF = process.env.BENCH_GATEWAY_PROF;
const AGENT = 'did:sigil:bench-agent';

interface Figures {
  median: number;
  p99: number;
  rate: number;
  /** CPU ms of the target's own process per sequential call; undefined where unreadable. */
  cpu: number | undefined;
}

interface Target {
  label: string;
  call: () => Promise<void>;
  /** Measured for throughput too (not the durable-commit probe, which is synchronous). */
  rate: boolean;
  /** The process serving the call (its CPU time is read around each block). */
  pid?: () => number | undefined;
}

const ms = (n: number): string => `${n.toFixed(2)} ms`;

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** User + system CPU time of a process in ms (Linux), or undefined. */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return undefined;
  }
}

/** A target calling `tool` through `client`, served by process `pid`. */
function mcp(label: string, client: Client, tool: string, pid?: () => number | undefined): Target {
  return {
    label,
    rate: true,
    ...(pid === undefined ? {} : { pid }),
    call: async () => {
      const r = await client.callTool({ name: tool, arguments: { id: 'n1' } });
      if (r.isError) throw new Error(`${label}: ${tool} failed: ${JSON.stringify(r.content)}`);
    },
  };
}

/** Two 4 KiB write + fdatasync pairs in turn in `dir`: what a call's two durable commits cost. */
function durableProbe(dir: string): Target & { close(): void } {
  const file = join(dir, 'fsync-probe');
  const fd = openSync(file, 'w', 0o600);
  const page = Buffer.alloc(4096, 0x2a);
  return {
    label: FLOOR,
    rate: false,
    call: () => {
      for (let i = 0; i < 2; i++) {
        writeSync(fd, page);
        fdatasyncSync(fd);
      }
      return Promise.resolve();
    },
    close: () => {
      closeSync(fd);
      rmSync(file);
    },
  };
}
const FLOOR = 'two durable commits';

/** Sequential latencies and concurrent throughput of every target, measured alternately. */
async function interleaved(targets: Target[]): Promise<Map<string, Figures>> {
  for (const t of targets) for (let i = 0; i < WARMUP; i++) await t.call();
  const samples = new Map(targets.map((t) => [t.label, [] as number[]]));
  const cpu = new Map<string, number | undefined>(targets.map((t) => [t.label, 0]));
  const turn = (round: number) => targets.map((_, i) => targets[(i + round) % targets.length]!);
  for (let round = 0; round * BLOCK < SEQUENTIAL; round++) {
    for (const t of turn(round)) {
      const pid = t.pid?.();
      const before = cpuMs(pid);
      for (let i = 0; i < BLOCK; i++) {
        const started = performance.now();
        await t.call();
        samples.get(t.label)!.push(performance.now() - started);
      }
      const after = cpuMs(pid);
      const sum = cpu.get(t.label);
      cpu.set(
        t.label,
        sum === undefined || before === undefined || after === undefined
          ? undefined
          : sum + after - before,
      );
    }
  }
  const busy = new Map(targets.map((t) => [t.label, 0]));
  const perRound = Math.ceil(CONCURRENT / RATE_ROUNDS);
  for (let round = 0; round < RATE_ROUNDS; round++) {
    for (const t of turn(round)) {
      if (!t.rate) continue;
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next++ < perRound) await t.call();
        }),
      );
      busy.set(t.label, busy.get(t.label)! + performance.now() - started);
    }
  }
  return new Map(
    targets.map((t) => {
      const s = samples.get(t.label)!;
      return [
        t.label,
        {
          median: quantile(s, 0.5),
          p99: quantile(s, 0.99),
          rate: (perRound * RATE_ROUNDS * 1000) / busy.get(t.label)!,
          cpu: t.pid === undefined ? undefined : mapDiv(cpu.get(t.label), s.length),
        },
      ];
    }),
  );
}

/** The process at the other end of a stdio client. */
const stdioPid = (client: Client) => () =>
  (client.transport as StdioClientTransport | undefined)?.pid ?? undefined;

const mapDiv = (n: number | undefined, d: number): number | undefined =>
  n === undefined ? undefined : n / d;

async function connect(transport: Transport): Promise<Client> {
  const client = new Client({ name: 'bench-agent', version: '1.0.0' });
  await client.connect(transport);
  return client;
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

function report(name: string, f: Map<string, Figures>): void {
  const direct = f.get('direct')!;
  const proxy = f.get('pass-through proxy')!;
  const gateway = f.get('gateway')!;
  const floor = f.get(FLOOR)!.median;
  figure({
    name: `gateway, ${name}, added median latency`,
    value: gateway.median - proxy.median,
    unit: 'ms',
    limit: { name: 'the bare SDK pass-through proxy, median', value: proxy.median },
    goal: { atMost: 1.5 },
    note:
      `median ${ms(gateway.median)} gateway, ${ms(proxy.median)} proxy, ${ms(direct.median)} direct; ` +
      `p99 ${ms(gateway.p99)}, ${ms(proxy.p99)}, ${ms(direct.p99)}; ` +
      `two durable commits in turn (write + fdatasync in the data dir, same rounds): median ${ms(floor)}, ` +
      `leaving ${ms(gateway.median - proxy.median - floor)} for the rest of the hop`,
  });
  figure({
    name: `gateway, ${name}, throughput (${CONCURRENCY} in flight)`,
    value: gateway.rate,
    unit: '/s',
    limit: { name: 'direct calls', value: direct.rate },
    goal: { ratioAtLeast: 0.5 },
    note: `pass-through proxy ${proxy.rate.toFixed(0)}/s`,
  });
  if (gateway.cpu !== undefined && proxy.cpu !== undefined) {
    figure({
      name: `gateway, ${name}, CPU per call (gateway process)`,
      value: gateway.cpu,
      unit: 'ms',
      limit: { name: 'the pass-through proxy process', value: proxy.cpu },
      note:
        `${ms(gateway.cpu - proxy.cpu)} more than the proxy` +
        (direct.cpu === undefined ? '' : `; the upstream's own ${ms(direct.cpu)} per direct call`) +
        '; user + system time over the sequential calls, upstream processes not counted',
    });
  }
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
    const probe = durableProbe(dataDir);
    const stdioUpstream = `[[upstream]]\nname = "notes"\ncommand = "node"\nargs = [${JSON.stringify(FIXTURE)}]\n`;
    const httpUpstream = `[[upstream]]\nname = "notes"\nurl = "${upstreamUrl}"\n`;
    const policy = '[[policy]]\ntool = "notes__read_note"\nmin_loa = "operator"\nrisk = 0.1\n';
    const when = `when = 'args.id.startsWith("n") && caller.loa != "guest"'\n`;
    const redact = 'redact = ["secrets"]\n';
    /**
     * A gateway's config, over a store of its own (a copy of the bootstrapped one), so that no
     * gateway reads what another appends.
     */
    const gatewayEnv = (name: string, toml: string) => {
      const config = join(dir, `${name}.toml`);
      writeFileSync(config, toml);
      const own = join(dir, `data-${name}`);
      cpSync(dataDir, own, { recursive: true });
      return { config, env: { ...env, SIGIL_DATA_DIR: own, SIGIL_TOKEN: token } };
    };
    const stdioGateway = (name: string, extra: string): Promise<Client> => {
      const g = gatewayEnv(name, `${stdioUpstream}${policy}${extra}`);
      return connect(
        new StdioClientTransport({
          command: 'node',
          args: [
            ...(PROF === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROF}`]),
            CLI,
            'gateway',
            '--config',
            g.config,
          ],
          env: g.env as Record<string, string>,
          stderr: 'ignore',
        }),
      );
    };
    const clients: Client[] = [];
    const keep = async (c: Promise<Client>) => {
      const client = await c;
      clients.push(client);
      return client;
    };
    try {
      const stdioMcp = (label: string, client: Client, tool: string) =>
        mcp(label, client, tool, stdioPid(client));
      const stdio = await interleaved([
        stdioMcp(
          'direct',
          await keep(connect(new StdioClientTransport({ command: 'node', args: [FIXTURE] }))),
          'read_note',
        ),
        stdioMcp(
          'pass-through proxy',
          await keep(
            connect(
              new StdioClientTransport({
                command: 'node',
                args: ['--import', 'tsx', PASSTHROUGH, 'stdio', 'node', FIXTURE],
              }),
            ),
          ),
          'read_note',
        ),
        stdioMcp('gateway', await keep(stdioGateway('plain', '')), 'notes__read_note'),
        mcp('when', await keep(stdioGateway('when', when)), 'notes__read_note'),
        mcp('redaction', await keep(stdioGateway('redact', redact)), 'notes__read_note'),
        mcp('both', await keep(stdioGateway('both', `${when}${redact}`)), 'notes__read_note'),
        probe,
      ]);
      report('stdio', stdio);
      // Issue 18's rules over arguments and redaction, on the same row, measured in the same
      // rounds as the plain gateway: what each adds to a call.
      const plain = stdio.get('gateway')!;
      for (const [label, what] of [
        ['when', 'a `when` rule'],
        ['redaction', 'redaction'],
        ['both', 'a `when` rule and redaction'],
      ] as const) {
        const v = stdio.get(label)!;
        figure({
          name: `gateway, stdio, added cost of ${what}, median`,
          value: v.median - plain.median,
          unit: 'ms',
          note: `median ${ms(v.median)} vs ${ms(plain.median)} plain; p99 ${ms(v.p99)} vs ${ms(plain.p99)}; ${v.rate.toFixed(0)}/s vs ${plain.rate.toFixed(0)}/s`,
        });
      }

      const proxyHttp = await spawnAndWait(
        ['--import', 'tsx', PASSTHROUGH, 'http', upstreamUrl],
        env,
        /listening (\d+)/,
      );
      children.push(proxyHttp.child);
      const g = gatewayEnv('http', `${httpUpstream}${policy}`);
      const gatewayHttp = await spawnAndWait(
        [CLI, 'gateway', '--config', g.config, '--listen', '127.0.0.1:0'],
        g.env,
        /serving MCP at (\S+)/,
      );
      children.push(gatewayHttp.child);
      const http = await interleaved([
        mcp(
          'direct',
          await keep(connect(new StreamableHTTPClientTransport(new URL(upstreamUrl)))),
          'read_note',
          () => upstreamHttp.child.pid,
        ),
        mcp(
          'pass-through proxy',
          await keep(
            connect(
              new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${proxyHttp.match}/mcp`)),
            ),
          ),
          'read_note',
          () => proxyHttp.child.pid,
        ),
        mcp(
          'gateway',
          await keep(
            connect(
              new StreamableHTTPClientTransport(new URL(gatewayHttp.match), {
                requestInit: { headers: { Authorization: `Bearer ${token}` } },
              }),
            ),
          ),
          'notes__read_note',
          () => gatewayHttp.child.pid,
        ),
        probe,
      ]);
      report('http', http);
    } finally {
      probe.close();
      // Closing a stdio client ends its process (a gateway writes its profile then).
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    }
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
