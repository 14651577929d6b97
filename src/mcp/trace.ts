/**
 * Optional OpenTelemetry traces of the gateway: one `sigil.mcp.call` span per governed call,
 * parent of a span for the decision, the upstream call and the seal, all with the decision id
 * as `sigil.decision_id`. The call span continues the agent's trace when the request carries a
 * W3C `traceparent`, and the upstream is sent one naming the gateway's own `sigil.upstream` span.
 * Off by default; on when the standard environment asks for OTLP traces
 * (`OTEL_TRACES_EXPORTER=otlp`, or an `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
 * `OTEL_EXPORTER_OTLP_ENDPOINT`), never with `OTEL_SDK_DISABLED=true` or
 * `OTEL_TRACES_EXPORTER=none`. The API, the SDK and the exporter are imported only then, so a
 * gateway without traces loads nothing of them; the exporter reads the rest of the `OTEL_*`
 * variables (endpoint, headers, timeout) and the resource `OTEL_SERVICE_NAME` and
 * `OTEL_RESOURCE_ATTRIBUTES`.
 */
import type { Attributes, SpanContext, Tracer } from '@opentelemetry/api';

/** Sets an attribute on a span (the decision id once it is known, the verdict…). */
export type SetAttribute = (key: string, value: string | number | boolean) => void;

/** The spans of one governed call, under its `sigil.mcp.call` parent. */
export interface CallTrace {
  /**
   * A child span around `fn`; `fn` gets the span's W3C traceparent (undefined when traces are
   * off), for the upstream to parent its own spans to. `client` marks a call leaving the gateway.
   */
  span<T>(
    name: string,
    attributes: Attributes,
    fn: (set: SetAttribute, traceparent: string | undefined) => Promise<T>,
    client?: boolean,
  ): Promise<T>;
  /** Sets an attribute on the parent span. */
  set: SetAttribute;
  /** Ends the parent span, with status ERROR and `error` as its message when given. */
  end(error?: string): void;
}

/** What the gateway traces through; the no-op one costs a function call. */
export interface GatewayTracer {
  /** Starts a call's parent span, continuing `traceparent` when it is a valid W3C one. */
  call(attributes: Attributes, traceparent: string | undefined): CallTrace;
}

const nothing: SetAttribute = () => undefined;
const NO_CALL: CallTrace = {
  span: (_name, _attributes, fn) => fn(nothing, undefined),
  set: nothing,
  end: () => undefined,
};
export const NO_TRACES: GatewayTracer = { call: () => NO_CALL };

/** SpanStatusCode.ERROR of @opentelemetry/api, written out so that this module loads none of it. */
const STATUS_ERROR = 2;
/** SpanKind SERVER and CLIENT of @opentelemetry/api. */
const KIND_SERVER = 1;
const KIND_CLIENT = 2;

/** version-traceid-parentid-flags, lower-case hex (W3C Trace Context §3.2). */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * The remote parent a W3C traceparent names, or undefined for anything else: version ff,
 * all-zero ids, trailing fields on version 00, several values, upper case.
 */
export function parseTraceparent(value: unknown): SpanContext | undefined {
  if (typeof value !== 'string') return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (m === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, traceFlags: parseInt(flags, 16) & 1, isRemote: true };
}

function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags & 1}`;
}

/** A GatewayTracer over an OpenTelemetry tracer (the SDK's, or a test's in-memory one). */
export async function otelTracer(tracer: Tracer): Promise<GatewayTracer> {
  const { ROOT_CONTEXT, trace } = await import('@opentelemetry/api');
  return {
    call(attributes, traceparent) {
      const remote = parseTraceparent(traceparent);
      const parent = remote ? trace.setSpanContext(ROOT_CONTEXT, remote) : ROOT_CONTEXT;
      const root = tracer.startSpan('sigil.mcp.call', { kind: KIND_SERVER, attributes }, parent);
      const under = trace.setSpan(ROOT_CONTEXT, root);
      return {
        span: async (name, attrs, fn, client = false) => {
          const span = tracer.startSpan(
            name,
            { attributes: attrs, ...(client ? { kind: KIND_CLIENT } : {}) },
            under,
          );
          try {
            return await fn(
              (key, value) => span.setAttribute(key, value),
              formatTraceparent(span.spanContext()),
            );
          } catch (err) {
            span.setStatus({ code: STATUS_ERROR, message: (err as Error).message });
            throw err;
          } finally {
            span.end();
          }
        },
        set: (key, value) => root.setAttribute(key, value),
        end: (error) => {
          if (error !== undefined) root.setStatus({ code: STATUS_ERROR, message: error });
          root.end();
        },
      };
    },
  };
}

/** True when the standard environment asks for OTLP traces. */
export function tracesWanted(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((s) => s.trim());
  if (exporters.includes('none')) return false;
  return (
    exporters.includes('otlp') ||
    Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim()) ||
    Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim())
  );
}

/** Tracing as configured by `env`: undefined when off (nothing of the SDK is loaded). */
export async function startTracing(
  env: NodeJS.ProcessEnv,
): Promise<{ tracer: GatewayTracer; shutdown: () => Promise<void> } | undefined> {
  if (!tracesWanted(env)) return undefined;
  const [{ BasicTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, resources] =
    await Promise.all([
      import('@opentelemetry/sdk-trace-base'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
    ]);
  const resource = resources
    .defaultResource()
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new BasicTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  return {
    tracer: await otelTracer(provider.getTracer('sigil-gateway')),
    shutdown: () => provider.shutdown(),
  };
}
