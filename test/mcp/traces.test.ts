/**
 * OpenTelemetry traces through the real gateway, a real SDK client and a real SDK upstream, into
 * the SDK's in-memory exporter: one trace per call, a `sigil.mcp.call` span parent of the
 * decision, upstream and seal spans, all with the decision id the agent got back; a denied call
 * has no upstream span. A W3C traceparent from the agent (in `_meta`, or as the Streamable HTTP
 * header) is continued, and the upstream gets one naming the gateway's upstream span, never the
 * agent's. Off by default, and the SDK is only ever imported dynamically, by trace.ts, when the
 * environment asks for it.
 */
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DECISION_META_KEY } from '../../src/mcp/index.ts';
import { otelTracer, parseTraceparent, startTracing, tracesWanted } from '../../src/mcp/trace.ts';
import { agentClient, liveGateway, type LiveGateway } from './live-upstream.ts';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

/** The agent's own span, as its traceparent names it. */
const AGENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const AGENT_SPAN = '00f067aa0ba902b7';
const AGENT_PARENT = `00-${AGENT_TRACE}-${AGENT_SPAN}-01`;

let live: LiveGateway;

beforeAll(async () => {
  live = await liveGateway(
    `
[[policy]]
tool = "live__echo"
min_loa = "operator"

[[policy]]
tool = "live__lookup"
min_loa = "root"
`,
    { tracer: await otelTracer(provider.getTracer('test')) },
  );
}, 60_000);

afterAll(async () => {
  await live?.close();
  await provider.shutdown();
});

beforeEach(() => exporter.reset());

const byName = (spans: ReadableSpan[]) =>
  Object.fromEntries(spans.map((s) => [s.name, s])) as Record<string, ReadableSpan>;
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

/** The spans of one call: one trace, the call span the parent of the others. */
function oneTrace(names: string[]): Record<string, ReadableSpan> {
  const got = exporter.getFinishedSpans();
  expect(got.map((s) => s.name).sort()).toEqual([...names, 'sigil.mcp.call'].sort());
  const spans = byName(got);
  const call = spans['sigil.mcp.call']!;
  expect(new Set(got.map((s) => s.spanContext().traceId)).size).toBe(1);
  for (const name of names) expect(parentOf(spans[name]!)).toBe(call.spanContext().spanId);
  return spans;
}

describe('traces', () => {
  it('an allowed call: one trace, the call span parent of the decision, upstream and seal spans', async () => {
    const before = live.upstream.calls.length;
    const r = await live.call('live__echo', { text: 'hi' });
    const id = r._meta?.[DECISION_META_KEY] as string;
    expect(id).toMatch(/^rec_/);
    const spans = oneTrace(['sigil.decision', 'sigil.upstream', 'sigil.seal']);
    const call = spans['sigil.mcp.call']!;
    // No traceparent from the agent: the call span starts the trace.
    expect(call.parentSpanContext).toBeUndefined();
    expect(call.attributes).toMatchObject({
      'mcp.kind': 'tool',
      'mcp.target': 'live/echo',
      'sigil.tool': 'live__echo',
      'sigil.upstream': 'live',
      'sigil.decision_id': id,
      'sigil.verdict': 'allow',
      'sigil.outcome': 'ok',
    });
    for (const s of Object.values(spans)) expect(s.attributes['sigil.decision_id']).toBe(id);
    expect(spans['sigil.decision']!.attributes['sigil.verdict']).toBe('allow');
    expect(spans['sigil.seal']!.attributes['sigil.outcome']).toBe('ok');
    // The decision id in the spans is the sealed decision's.
    expect((await live.runtime.log.get(id))?.kind).toBe('decision');
    // The upstream is handed the gateway's upstream span as its parent, in `_meta` (SEP-414).
    const up = spans['sigil.upstream']!.spanContext();
    expect(live.upstream.calls.slice(before)).toHaveLength(1);
    expect(live.upstream.calls.at(-1)!.meta).toMatchObject({
      traceparent: `00-${up.traceId}-${up.spanId}-01`,
      [DECISION_META_KEY]: id,
    });
  });

  it('a denied call: the decision and the seal of the denial under the call span, no upstream span', async () => {
    const before = live.upstream.calls.length;
    const r = await live.call('live__lookup', { query: 1 });
    expect(r.isError).toBe(true);
    expect(live.upstream.calls.length).toBe(before);
    const spans = oneTrace(['sigil.decision', 'sigil.seal']);
    expect(spans['sigil.decision']!.attributes['sigil.verdict']).toBe('deny');
    expect(spans['sigil.seal']!.attributes['sigil.outcome']).toBe('denied');
    expect(spans['sigil.mcp.call']!.attributes).toMatchObject({
      'sigil.verdict': 'deny',
      'sigil.outcome': 'denied',
      'sigil.decision_id': spans['sigil.decision']!.attributes['sigil.decision_id'],
    });
  });

  it("the agent's traceparent in _meta: the gateway's trace joins the agent's", async () => {
    const r = (await live.client.callTool({
      name: 'live__echo',
      arguments: { text: 'traced' },
      _meta: { traceparent: AGENT_PARENT, tracestate: 'agent=secret', baggage: 'user=alice' },
    })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    const spans = oneTrace(['sigil.decision', 'sigil.upstream', 'sigil.seal']);
    const call = spans['sigil.mcp.call']!;
    expect(call.spanContext().traceId).toBe(AGENT_TRACE);
    expect(parentOf(call)).toBe(AGENT_SPAN);
    expect(call.parentSpanContext?.isRemote).toBe(true);
    // The upstream's parent is the gateway's upstream span, not the agent's span; nothing else
    // of the agent's trace context (tracestate, baggage) reaches it.
    const meta = live.upstream.calls.at(-1)!.meta!;
    const up = spans['sigil.upstream']!.spanContext();
    expect(meta.traceparent).toBe(`00-${AGENT_TRACE}-${up.spanId}-01`);
    expect(up.spanId).not.toBe(AGENT_SPAN);
    expect(meta).not.toHaveProperty('tracestate');
    expect(meta).not.toHaveProperty('baggage');
  });

  it('the Streamable HTTP traceparent header is continued; _meta wins over it', async () => {
    const other = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`;
    const client = await agentClient(live.gw.url, live.token, { traceparent: other });
    try {
      await client.callTool({ name: 'live__echo', arguments: { text: 'header' } });
      let call = byName(exporter.getFinishedSpans())['sigil.mcp.call']!;
      expect(call.spanContext().traceId).toBe('ab'.repeat(16));
      expect(parentOf(call)).toBe('cd'.repeat(8));
      exporter.reset();
      await client.callTool({
        name: 'live__echo',
        arguments: { text: 'both' },
        _meta: { traceparent: AGENT_PARENT },
      });
      call = byName(exporter.getFinishedSpans())['sigil.mcp.call']!;
      expect(call.spanContext().traceId).toBe(AGENT_TRACE);
      expect(parentOf(call)).toBe(AGENT_SPAN);
    } finally {
      await client.close();
    }
  });

  it("an unsampled agent trace: no spans are recorded, and the upstream's traceparent stays unsampled", async () => {
    const r = (await live.client.callTool({
      name: 'live__echo',
      arguments: { text: 'unsampled' },
      _meta: { traceparent: `00-${AGENT_TRACE}-${AGENT_SPAN}-00` },
    })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    expect(exporter.getFinishedSpans()).toEqual([]);
    const sent = parseTraceparent(live.upstream.calls.at(-1)!.meta!.traceparent);
    expect(sent).toMatchObject({ traceId: AGENT_TRACE, traceFlags: 0 });
    expect(sent!.spanId).not.toBe(AGENT_SPAN);
  });

  it('a malformed or forged traceparent starts a trace of its own', async () => {
    const bad = [
      `00-${'0'.repeat(32)}-${AGENT_SPAN}-01`,
      `00-${AGENT_TRACE}-${'0'.repeat(16)}-01`,
      `ff-${AGENT_TRACE}-${AGENT_SPAN}-01`,
      `00-${AGENT_TRACE}-${AGENT_SPAN}-01-extra`,
      `00-${AGENT_TRACE.toUpperCase()}-${AGENT_SPAN}-01`,
      `00-${AGENT_TRACE}-${AGENT_SPAN}`,
      'x'.repeat(10_000),
    ];
    for (const traceparent of bad) {
      exporter.reset();
      const r = (await live.client.callTool({
        name: 'live__echo',
        arguments: { text: 'x' },
        _meta: { traceparent },
      })) as CallToolResult;
      expect(r.isError).toBeFalsy();
      const call = byName(exporter.getFinishedSpans())['sigil.mcp.call']!;
      expect(call.parentSpanContext, traceparent.slice(0, 60)).toBeUndefined();
      expect(call.spanContext().traceId).not.toBe(AGENT_TRACE);
    }
    // A later version may append fields; its first four still count (W3C Trace Context §4.3).
    expect(parseTraceparent(`01-${AGENT_TRACE}-${AGENT_SPAN}-01-future`)?.traceId).toBe(
      AGENT_TRACE,
    );
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
