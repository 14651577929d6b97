/**
 * `sigil gateway` as a process: loads gateway.toml, opens the runtime, starts the upstreams and
 * serves the agent over stdio (token from SIGIL_TOKEN) or Streamable HTTP (--listen), until the
 * agent hangs up (stdio) or the process is told to stop; then drains calls and closes the log.
 */
import { loadConfig } from '../config/index.ts';
import { SigilError } from '../core/errors.ts';
import { SigilRuntime } from '../runtime/index.ts';
import { loadGatewayConfig } from './config.ts';
import { Gateway } from './gateway.ts';
import { serveHttp } from './http.ts';
import { serveStdio } from './stdio.ts';
import { startTracing } from './trace.ts';

export interface RunGatewayOptions {
  configFile: string;
  /** `host:port`; absent → stdio. */
  listen?: string;
  /** --data-dir; wins over SIGIL_DATA_DIR, which wins over gateway.toml's data_dir. */
  dataDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Told once the gateway serves (HTTP: its URL). */
  onReady?: (info: { url?: string }) => void;
}

/** Parses `host:port` (`[::1]:8090` for IPv6); 'bad_request' otherwise. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new SigilError('bad_request', `--listen must be host:port, not ${listen}`);
  }
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}

/** Runs the gateway until it is stopped; resolves after a clean shutdown. */
export async function runGateway(opts: RunGatewayOptions): Promise<void> {
  const env = opts.env ?? process.env;
  const gwConfig = loadGatewayConfig(opts.configFile);
  const listen = opts.listen === undefined ? undefined : parseListen(opts.listen);
  const dataDir = opts.dataDir ?? (env.SIGIL_DATA_DIR ? undefined : gwConfig.dataDir);
  const config = loadConfig({ env, ...(dataDir === undefined ? {} : { dataDir }) });
  const tracing = await startTracing(env);
  const runtime = await SigilRuntime.open({ config, env });
  let gateway: Gateway | undefined;
  try {
    // Authenticate a stdio agent before any upstream is started.
    if (listen === undefined) {
      const token = env.SIGIL_TOKEN;
      if (token === undefined || token.trim() === '') {
        throw new SigilError('unauthenticated', "SIGIL_TOKEN must hold the agent's Sigil token");
      }
      await runtime.tokens.authenticate(token.trim());
    }
    gateway = await Gateway.start({
      runtime,
      config: gwConfig,
      ...(tracing === undefined ? {} : { tracer: tracing.tracer }),
    });
    let stop: () => Promise<void>;
    let done: Promise<void>;
    if (listen === undefined) {
      const session = await serveStdio(gateway, env.SIGIL_TOKEN);
      stop = session.close;
      done = session.closed;
      opts.onReady?.({});
    } else {
      const http = await serveHttp(gateway, listen);
      let release!: () => void;
      done = new Promise<void>((r) => {
        release = r;
      });
      stop = async () => {
        await http.close();
        release();
      };
      opts.onReady?.({ url: http.url });
    }
    const onSignal = () => void stop();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await done;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  } finally {
    await gateway?.close();
    await runtime.close();
    // The spans still batched go out before the process ends.
    await tracing?.shutdown();
  }
}
