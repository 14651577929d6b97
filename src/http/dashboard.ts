/**
 * The web dashboard: the static single-page app built from web/ at install (dist/web), served
 * at `/`, and the security headers every answer carries (helmet's, read once): a CSP with no
 * inline script or style, no framing, no base URI, no plugins; HSTS behind TLS.
 *
 * The assets are read into memory once; their names carry a content hash, so they are cached
 * for a year, while index.html (which names them) is never cached.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import helmet from '@fastify/helmet';
import Fastify, { type FastifyInstance } from 'fastify';

/** What the build writes beside the assets: the entry page and every asset file name. */
export const DASHBOARD_MANIFEST = 'manifest.json';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
};

interface Asset {
  body: Buffer;
  type: string;
}

/**
 * The built dashboard's directory: dist/web beside src/ (run from the sources) or beside
 * dist/src (run from the build). Undefined when the dashboard was not built.
 */
export function dashboardDir(): string | undefined {
  for (const rel of ['../../dist/web', '../../web']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, DASHBOARD_MANIFEST))) return dir;
  }
  return undefined;
}

function loadAssets(dir: string): { index: Buffer; assets: Map<string, Asset> } {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(join(dir, 'assets'))) {
    const type = TYPES[extname(name)];
    if (type !== undefined)
      assets.set(name, { body: readFileSync(join(dir, 'assets', name)), type });
  }
  return { index: readFileSync(join(dir, 'index.html')), assets };
}

/** The Content-Security-Policy directives (helmet's names). */
export const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'"],
  connectSrc: ["'self'"],
  fontSrc: ["'none'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  frameAncestors: ["'none'"],
  formAction: ["'self'"],
  upgradeInsecureRequests: null,
};

/** helmet's options: the CSP above, no framing, no referrer, HSTS only behind TLS. */
function helmetOptions(secureCookies: boolean) {
  return {
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    // HSTS only when the server sits behind TLS (secure cookies on): on plain HTTP it would
    // pin a browser to an https:// address that nothing answers.
    hsts: secureCookies ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    referrerPolicy: { policy: 'no-referrer' as const },
    crossOriginEmbedderPolicy: false,
  };
}

/** The headers helmet sets, by lowercase name, per HSTS setting (read once per process). */
const headerSets = new Map<boolean, Promise<Readonly<Record<string, string>>>>();

/**
 * What helmet sets for these options, read from a private instance: @fastify/helmet builds its
 * whole middleware stack again on every request, while for fixed options (no CSP nonces) the
 * headers are the same on every answer. helmet stays the one source of their values.
 */
export function securityHeaders(secureCookies: boolean): Promise<Readonly<Record<string, string>>> {
  let set = headerSets.get(secureCookies);
  if (set === undefined) {
    set = (async () => {
      const probe = Fastify({ logger: false });
      let headers: Record<string, string> = {};
      await probe.register(helmet, { global: true, ...helmetOptions(secureCookies) });
      probe.get('/', async (_req, reply) => {
        // helmet writes on the raw response; nothing else has set a header yet
        headers = Object.fromEntries(
          Object.entries(reply.raw.getHeaders()).map(([k, v]) => [k, String(v)]),
        );
        return '';
      });
      try {
        await probe.inject({ url: '/' });
      } finally {
        await probe.close();
      }
      if (headers['content-security-policy'] === undefined) {
        throw new Error('helmet set no Content-Security-Policy');
      }
      return Object.freeze(headers);
    })();
    // a failed read is not kept: the server does not start, and the next one reads again
    set.catch(() => headerSets.delete(secureCookies));
    headerSets.set(secureCookies, set);
  }
  return set;
}

/**
 * Security headers on every answer (API, problems and the 503 while closing included): the
 * first hook a request meets sets them, so no later failure can answer without them.
 */
export function registerSecurityHeaders(app: FastifyInstance, secureCookies: boolean): void {
  let headers: Readonly<Record<string, string>> | undefined;
  app.addHook('onRequest', (_req, reply, done) => {
    // set before the server listens (onReady below); a server that is not ready fails closed
    if (headers === undefined) {
      done(new Error('security headers not loaded'));
      return;
    }
    reply.headers(headers);
    done();
  });
  app.addHook('onReady', async () => {
    headers = await securityHeaders(secureCookies);
  });
}

/**
 * Serves the dashboard at `/` and its assets at `/assets/<hashed name>`. Without a build,
 * `/` answers 404 like any unknown path (the API works the same either way).
 */
export function registerDashboard(app: FastifyInstance, dir = dashboardDir()): void {
  if (dir === undefined) return;
  const { index, assets } = loadAssets(dir);
  const config = { auth: 'public' as const };
  app.get('/', { config }, async (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache, no-store, must-revalidate')
      .send(index),
  );
  app.get<{ Params: { name: string } }>('/assets/:name', { config }, async (req, reply) => {
    const asset = assets.get(req.params.name);
    if (asset === undefined) return reply.callNotFound();
    return reply
      .type(asset.type)
      .header('cache-control', 'public, max-age=31536000, immutable')
      .send(asset.body);
  });
}
