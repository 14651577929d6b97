/**
 * OpenTelemetry traces through the real gateway, a real SDK client and a real SDK upstream, into
 * the SDK's in-memory exporter: a span per decision, per seal and per upstream call, each with
 * the decision id the agent got back; a denied call has no upstream span. Off by default, and
 * the SDK is only ever imported dynamically, by trace.ts, when the environment asks for it.
 */
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DECISION_META_KEY } from '../../src/mcp/index.ts';
import { otelTracer, startTracing, tracesWanted } from '../../src/mcp/trace.ts';
import type { SigilRuntime } from '../../src/runtime/index.ts';
import { agentToken, makeEnv, openRuntime, type Env } from './helpers.ts';
import {
  agentClient,
  serveGateway,
  startLiveUpstream,
  type LiveUpstream,
} from './live-upstream.ts';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

let e: Env;
let runtime: SigilRuntime;
let upstream: LiveUpstream;
let gw: Awaited<ReturnType<typeof serveGateway>>;
let client: Client;

beforeAll(async () => {
  e = makeEnv();
  const opened = await openRuntime(e);
  runtime = opened.runtime;
  const root = await runtime.tokens.authenticate(opened.rootToken);
  const token = await agentToken(runtime, root);
  upstream = await startLiveUpstream();
  gw = await serveGateway(
    runtime,
    `
[[upstream]]
name = "live"
url = "${upstream.url}"

[[policy]]
tool = "live__echo"
min_loa = "operator"

[[policy]]
tool = "live__lookup"
min_loa = "root"
`,
    e.dir,
    { tracer: otelTracer(provider.getTracer('test')) },
  );
  client = await agentClient(gw.url, token);
}, 60_000);

afterAll(async () => {
  await client?.close().catch(() => undefined);
  await gw?.close();
  await upstream?.close();
  await runtime?.close();
  await provider.shutdown();
  e?.cleanup();
});

beforeEach(() => exporter.reset());

const spans = () =>
  exporter.getFinishedSpans().map((s) => ({ name: s.name, attributes: s.attributes }));

describe('traces', () => {
  it('an allowed call: one span each for the decision, the upstream call and the seal, with the decision id', async () => {
    const r = (await client.callTool({
      name: 'live__echo',
      arguments: { text: 'hi' },
    })) as CallToolResult;
    const id = r._meta?.[DECISION_META_KEY] as string;
    expect(id).toMatch(/^rec_/);
    const got = spans();
    expect(got.map((s) => s.name)).toEqual(['sigil.decision', 'sigil.upstream', 'sigil.seal']);
    for (const s of got) {
      expect(s.attributes['sigil.decision_id']).toBe(id);
      expect(s.attributes['mcp.target']).toBe('live/echo');
    }
    expect(got[0]!.attributes['sigil.verdict']).toBe('allow');
    expect(got[1]!.attributes['sigil.upstream']).toBe('live');
    expect(got[2]!.attributes['sigil.outcome']).toBe('ok');
    // The decision id in the spans is the sealed decision's.
    expect((await runtime.log.get(id))?.kind).toBe('decision');
  });

  it('a denied call: the decision and the seal of the denial, no upstream span', async () => {
    const before = upstream.calls.length;
    const r = (await client.callTool({
      name: 'live__lookup',
      arguments: { query: 1 },
    })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(upstream.calls.length).toBe(before);
    const got = spans();
    expect(got.map((s) => s.name)).toEqual(['sigil.decision', 'sigil.seal']);
    expect(got[0]!.attributes['sigil.verdict']).toBe('deny');
    expect(got[1]!.attributes['sigil.outcome']).toBe('denied');
    expect(got[0]!.attributes['sigil.decision_id']).toBe(got[1]!.attributes['sigil.decision_id']);
  });
});

describe('off by default', () => {
  it('is on only when the standard OTEL_* environment asks for OTLP traces', async () => {
    expect(tracesWanted({})).toBe(false);
    expect(tracesWanted({ OTEL_SERVICE_NAME: 'x' })).toBe(false);
    expect(tracesWanted({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
    expect(tracesWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(true);
    expect(tracesWanted({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(
      true,
    );
    expect(tracesWanted({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(
      tracesWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x', OTEL_TRACES_EXPORTER: 'none' }),
    ).toBe(false);
    expect(await startTracing({})).toBeUndefined();
    const on = await startTracing({ OTEL_TRACES_EXPORTER: 'otlp' });
    expect(on).toBeDefined();
    await on!.shutdown();
  });

  it('nothing in src imports the SDK statically: only trace.ts, and only by dynamic import()', () => {
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
        d.isDirectory()
          ? files(join(dir, d.name))
          : d.name.endsWith('.ts')
            ? [join(dir, d.name)]
            : [],
      );
    const offenders: string[] = [];
    for (const file of files('src')) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(
        /^\s*(import|export)\s[^;]*?from\s+'(@opentelemetry\/[^']+)'/gms,
      )) {
        if (!/^\s*(import|export)\s+type\s/.test(m[0])) offenders.push(`${file}: ${m[2]}`);
      }
      if (text.includes("import('@opentelemetry/") && !file.endsWith('src/mcp/trace.ts')) {
        offenders.push(`${file}: dynamic import outside trace.ts`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
