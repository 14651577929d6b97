/**
 * The tlog-tiles read API through the real server: paths and bytes as C2SP lays them out, cache
 * headers, entries without payloads, and `sigil log verify-tiles` / `sigil log monitor` (the CLI
 * over HTTP) and the independent verifier accepting it.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { independentVerify } from '../verify-independent/tiles.ts';
import {
  call,
  ROOMY_LIMITS,
  runCli,
  startServer,
  tempDataDir,
  type ServerProcess,
} from './helpers.ts';

let dir: ReturnType<typeof tempDataDir>;
let server: ServerProcess;
let vkey: string;
const SECRET = 'payload-secret-7f3a';

async function get(path: string): Promise<Response> {
  return fetch(`${server.url}${path}`, { signal: AbortSignal.timeout(15_000) });
}

beforeAll(async () => {
  dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
  server = await startServer(dir.dataDir, dir.config);
  for (let i = 0; i < 30; i += 1) {
    const res = await call(server.url, 'POST', '/api/canon/user/write', {
      token: server.rootToken!,
      body: { kind: 'user_data', payload: { secret: SECRET, i } },
    });
    expect(res.status).toBe(201);
  }
  const cp = await call(server.url, 'GET', '/api/log/checkpoint');
  vkey = (cp.body as { verifier_key: string }).verifier_key;
}, 60_000);

afterAll(async () => {
  await server?.stop();
  dir?.remove();
});

describe('GET /log/…', () => {
  it('serves the checkpoint as a signed note, briefly cacheable', async () => {
    const res = await get('/log/checkpoint');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('public, max-age=2');
    const note = await res.text();
    expect(note).toMatch(/^sigil\/[0-9a-f]+\n\d+\n[A-Za-z0-9+/]{43}=\n/);
    expect(note).toContain('\n\n\u2014 ');
  });

  it('serves tiles and entry bundles, immutable, and entries carry no payload', async () => {
    const note = await (await get('/log/checkpoint')).text();
    const size = Number(note.split('\n')[1]);
    expect(size).toBeGreaterThan(30);
    const tile = await get(`/log/tile/0/000.p/${size}`);
    expect(tile.status).toBe(200);
    expect(tile.headers.get('content-type')).toBe('application/octet-stream');
    expect(tile.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await tile.arrayBuffer()).byteLength).toBe(32 * size);
    const bundle = await get(`/log/tile/entries/000.p/${size}`);
    expect(bundle.status).toBe(200);
    const text = Buffer.from(await bundle.arrayBuffer()).toString('latin1');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('"payload"');
    expect(text).toContain('"sig"');
  });

  it('answers 404, not cacheable, for tiles not yet in the tree and for non-canonical paths', async () => {
    for (const path of [
      '/log/tile/0/000',
      '/log/tile/0/001.p/1',
      '/log/tile/entries/000',
      '/log/tile/0/x000/000.p/1',
      '/log/tile/0/0.p/1',
      '/log/tile/64/000.p/1',
      '/log/tile/0/000.p/256',
    ]) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('cache-control'), path).toBe('no-store');
      expect(res.headers.get('content-type'), path).toContain('application/problem+json');
    }
  });

  it('is verified by the independent verifier and by `sigil log verify-tiles`', async () => {
    const note = await (await get('/log/checkpoint')).text();
    const fetchTile = async (path: string) => {
      const res = await get(`/log/${path}`);
      return res.status === 200 ? new Uint8Array(await res.arrayBuffer()) : undefined;
    };
    expect((await independentVerify(fetchTile, note, vkey)).ok).toBe(true);
    const cpFile = join(dir.dataDir, '..', 'cp.txt');
    writeFileSync(cpFile, note);
    const out = await runCli([
      'log',
      'verify-tiles',
      '--url',
      `${server.url}/log`,
      '--checkpoint',
      cpFile,
      '--pub-key',
      vkey,
    ]);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^ok: \d+ entries and every tile verify against the checkpoint/);
    // A checkpoint the log never signed (root changed) fails, exit 1.
    const lines = note.split('\n');
    lines[2] = Buffer.alloc(32, 1).toString('base64');
    writeFileSync(cpFile, lines.join('\n'));
    const bad = await runCli([
      'log',
      'verify-tiles',
      '--url',
      `${server.url}/log`,
      '--checkpoint',
      cpFile,
      '--pub-key',
      vkey,
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAILED: checkpoint_invalid/);
  });

  it('`sigil log monitor` follows the log, keeps its state 0600, and needs the key first', async () => {
    const state = join(dir.dataDir, '..', 'monitor.json');
    const url = `${server.url}/log`;
    const noKey = await runCli(['log', 'monitor', '--url', url, '--state', state]);
    expect(noKey.code).toBe(1);
    const first = await runCli([
      'log',
      'monitor',
      '--url',
      url,
      '--state',
      state,
      '--pub-key',
      vkey,
    ]);
    expect(first.stderr).toBe('');
    expect(first.stdout).toMatch(
      /^ok: sigil\/\S+ at \d+: \d+ new entries verified, consistent with 0/,
    );
    expect(statSync(state).mode & 0o777).toBe(0o600);
    const size = (JSON.parse(readFileSync(state, 'utf8')) as { size: number }).size;
    await call(server.url, 'POST', '/api/canon/user/write', {
      token: server.rootToken!,
      body: { kind: 'user_data', payload: { more: true } },
    });
    await new Promise((r) => setTimeout(r, 1100)); // the on-demand checkpoint is signed at most once a second
    const next = await runCli(['log', 'monitor', '--url', url, '--state', state]);
    expect(next.code).toBe(0);
    expect(next.stdout).toContain(`consistent with ${size}`);
    expect((JSON.parse(readFileSync(state, 'utf8')) as { size: number }).size).toBeGreaterThan(
      size,
    );
  });
});
