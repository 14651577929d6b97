/**
 * Optional OpenTelemetry traces of the gateway: one span per decision, per seal and per upstream
 * call, each with the decision id as `sigil.decision_id`. Off by default; on when the standard
 * environment asks for OTLP traces (`OTEL_TRACES_EXPORTER=otlp`, or an
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`), never with
 * `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. The SDK and the exporter are imported
 * only then, so a gateway without traces loads nothing of them; the exporter reads the rest of
 * the `OTEL_*` variables (endpoint, headers, timeout) and the resource `OTEL_SERVICE_NAME` and
 * `OTEL_RESOURCE_ATTRIBUTES`.
 */
import type { Attributes, Tracer } from '@opentelemetry/api';

/** Sets an attribute on the running span (the decision id once it is known, the verdict…). */
export type SetAttribute = (key: string, value: string | number | boolean) => void;

/** What the gateway traces through; the no-op one costs a function call. */
export interface GatewayTracer {
  span<T>(name: string, attributes: Attributes, fn: (set: SetAttribute) => Promise<T>): Promise<T>;
}

export const NO_TRACES: GatewayTracer = {
  span: (_name, _attributes, fn) => fn(() => undefined),
};

/** SpanStatusCode.ERROR of @opentelemetry/api, written out so that this module loads none of it. */
const STATUS_ERROR = 2;

/** A GatewayTracer over an OpenTelemetry tracer (the SDK's, or a test's in-memory one). */
export function otelTracer(tracer: Tracer): GatewayTracer {
  return {
    span: async (name, attributes, fn) => {
      const span = tracer.startSpan(name, { attributes });
      try {
        return await fn((key, value) => span.setAttribute(key, value));
      } catch (err) {
        span.setStatus({ code: STATUS_ERROR, message: (err as Error).message });
        throw err;
      } finally {
        span.end();
      }
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
    tracer: otelTracer(provider.getTracer('sigil-gateway')),
    shutdown: () => provider.shutdown(),
  };
}
