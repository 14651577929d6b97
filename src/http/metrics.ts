import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, Gauge, collectDefaultMetrics } from 'prom-client';
import type { SigilRuntime } from '../runtime/index.ts';

/** The Prometheus metrics Sigil exports at /metrics; one registry per server instance. */
export class HttpMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'sigil_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'sigil_http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly decisions = new Counter({
    name: 'sigil_decisions_total',
    help: 'Decisions by verdict and enforcement mode',
    labelNames: ['verdict', 'mode'] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'sigil_rate_limited_total',
    help: 'Requests denied by the rate limiter',
    registers: [this.registry],
  });
  readonly appendLatency = new Histogram({
    name: 'sigil_log_append_duration_seconds',
    help: 'Latency of durable log appends',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'sigil_' });
  }
}

/**
 * Wires the metrics to a server and a runtime: request counts and latency by route template and
 * status (never the raw URL, so label sets stay bounded), decisions and rate-limit denials from
 * the runtime, the log size at scrape time, and the latency of every log append.
 */
export function instrument(
  app: FastifyInstance,
  runtime: SigilRuntime,
  metrics: HttpMetrics,
): void {
  // One labelled child per method, route template and status (a bounded set), so a request
  // does not hash its label set twice.
  const series = new Map<string, { count: { inc(): void }; time: { observe(v: number): void } }>();
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const key = `${req.method} ${reply.statusCode} ${route}`;
    let s = series.get(key);
    if (s === undefined) {
      const labels = { method: req.method, route, status: String(reply.statusCode) };
      s = { count: metrics.requests.labels(labels), time: metrics.latency.labels(labels) };
      series.set(key, s);
    }
    s.count.inc();
    s.time.observe(reply.elapsedTime / 1000);
    done();
  });
  const unsubscribe = runtime.onDecision((d) => {
    metrics.decisions.inc({ verdict: d.verdict, mode: d.mode });
    if (d.code === 'rate_limited') metrics.rateLimited.inc();
  });
  const untime = runtime.log.onAppend((seconds) => metrics.appendLatency.observe(seconds));
  app.addHook('onClose', async () => {
    unsubscribe();
    untime();
  });
  // Per configured witness (at most 32, so the label set stays bounded), read at scrape time.
  const perWitness = (
    name: string,
    help: string,
    value: (w: ReturnType<SigilRuntime['log']['witnessStatus']>[number]) => number | undefined,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['witness'] as const,
      registers: [metrics.registry],
      collect() {
        this.reset();
        for (const w of runtime.log.witnessStatus()) {
          const v = value(w);
          if (v !== undefined) this.set({ witness: w.name }, v);
        }
      },
    });
  perWitness(
    'sigil_log_witness_cosigned_size',
    'Size of the newest checkpoint each witness cosigned',
    (w) => w.size,
  );
  perWitness(
    'sigil_log_witness_cosigned_timestamp_seconds',
    "Time of each witness's newest cosignature (its clock)",
    (w) => w.cosigned_at,
  );
  perWitness(
    'sigil_log_witness_failing',
    '1 while the last exchange with the witness failed (unreachable, refused, unproven claim)',
    (w) => (w.problem === undefined ? 0 : 1),
  );
  perWitness(
    'sigil_log_witness_claim',
    '1 while the witness holds an unproven claim that the tree does not extend its checkpoint',
    (w) => (w.claim === undefined ? 0 : 1),
  );
  metrics.registry.registerMetric(
    new Gauge({
      name: 'sigil_log_rolled_back',
      help: '1 when the log refuses writes as rolled back (log_rolled_back)',
      registers: [],
      collect() {
        this.set(runtime.log.rolledBack === undefined ? 0 : 1);
      },
    }),
  );
  metrics.registry.registerMetric(
    new Gauge({
      name: 'sigil_log_size',
      help: 'Records in the canon log, read at scrape time',
      registers: [],
      async collect() {
        this.set(await runtime.log.size());
      },
    }),
  );
}
