/**
 * The web dashboard: the static single-page app built from web/ at install (dist/web), served
 * at `/`, and the security headers every answer carries (one plugin, @fastify/helmet): a CSP
 * with no inline script or style, no framing, no base URI, no plugins; HSTS behind TLS.
 *
 * The assets are read into memory once; their names carry a content hash, so they are cached
 * for a year, while index.html (which names them) is never cached.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

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

/** Security headers on every answer (API included). */
export function registerSecurityHeaders(app: FastifyInstance, secureCookies: boolean): void {
  void app.register(helmet, {
    global: true,
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    // HSTS only when the server sits behind TLS (secure cookies on): on plain HTTP it would
    // pin a browser to an https:// address that nothing answers.
    hsts: secureCookies ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginEmbedderPolicy: false,
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
