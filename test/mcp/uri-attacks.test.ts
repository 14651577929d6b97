/**
 * Issue 13 §5 as an attacker tries it: the real `sigil gateway --listen` process, an SDK client
 * with a real Operator token, and a naive SDK file server upstream that resolves whatever URI
 * it gets (dot segments, `%2e%2e`, backslashes, double decoding). The policy lets the agent
 * read `file:///shared/*` only, and `file:///docs/**` at any depth. Every trick to read
 * `/etc/secret` is refused with a sealed decision and never reaches the upstream; the URI that
 * does go upstream is the normalised one the row was matched against.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  globToRegExp,
  normaliseResourceUri,
  removeDotSegments,
  type GatewayDenial,
} from '../../src/mcp/index.ts';
import type { SigilRuntime } from '../../src/runtime/index.ts';
import { agentToken, makeEnv, openRuntime, spawnGateway, type Env } from './helpers.ts';

const FILES = resolve('test/fixtures/mcp/files-server.mjs');
const SECRET = 'the-secret-in-etc';

let e: Env;
let runtime: SigilRuntime;
let gateway: Awaited<ReturnType<typeof spawnGateway>>;
let client: Client;
let logFile: string;

/** The URIs the upstream was asked for, in order (its own log). */
function upstreamUris(): string[] {
  if (!existsSync(logFile)) return [];
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { uri: string }).uri);
}

async function read(uri: string) {
  return client.readResource({ uri: `sigil://fs/${uri}` });
}

/** The refusal of a read, after checking the decision it names is sealed as a denial. */
async function refused(uri: string): Promise<GatewayDenial> {
  const before = upstreamUris().length;
  const err = await read(uri).then(
    () => null,
    (x: unknown) => x,
  );
  expect(err, `${uri} must be refused`).toBeInstanceOf(McpError);
  const denial = (err as McpError).data as GatewayDenial;
  expect(denial.decision_id).toMatch(/.+/);
  const record = await runtime.log.get(denial.decision_id!);
  const payload = record?.payload as { decision: { verdict: string; code: string } };
  expect(payload.decision.verdict).toBe('deny');
  expect(payload.decision.code).toBe(denial.code);
  expect(upstreamUris().length, `${uri} reached the upstream`).toBe(before);
  return denial;
}

beforeAll(async () => {
  e = makeEnv();
  const root = join(e.dir, 'root');
  mkdirSync(join(root, 'shared'), { recursive: true });
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'docs/a/b'), { recursive: true });
  writeFileSync(join(root, 'shared/readme.txt'), 'shared readme');
  writeFileSync(join(root, 'shared/100%.txt'), 'percent file');
  writeFileSync(join(root, 'etc/secret'), SECRET);
  writeFileSync(join(root, 'docs/a/b/deep.txt'), 'deep doc');
  logFile = join(e.dir, 'files.log');
  const opened = await openRuntime(e);
  runtime = opened.runtime;
  const rootCaller = await runtime.tokens.authenticate(opened.rootToken);
  const token = await agentToken(runtime, rootCaller);
  gateway = await spawnGateway(
    e,
    `
[[upstream]]
name = "fs"
command = "node"
args = [${JSON.stringify(FILES)}, "--root", ${JSON.stringify(root)}, "--log", ${JSON.stringify(logFile)}]

[[policy]]
resource = "fs__file:///shared/*"
min_loa = "operator"

[[policy]]
resource = "fs__file:///docs/**"
min_loa = "operator"
`,
  );
  client = new Client({ name: 'attacker', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
}, 60_000);

afterAll(async () => {
  await client?.close().catch(() => undefined);
  gateway?.stop();
  await runtime?.close();
  e?.cleanup();
});

describe('resource URIs through the gateway', () => {
  it('serves what the row allows', async () => {
    const r = await read('file:///shared/readme.txt');
    expect(r.contents[0]).toMatchObject({ text: 'shared readme' });
  });

  it('sends the normalised URI upstream, the one the row matched', async () => {
    for (const uri of [
      'file:///shared/%72eadme.txt',
      'file:///shared/./readme.txt',
      'file:///shared/x/../readme.txt',
      'FILE:///shared/readme.txt',
    ]) {
      const r = await read(uri);
      expect(r.contents[0]).toMatchObject({ text: 'shared readme' });
      expect(upstreamUris().at(-1)).toBe('file:///shared/readme.txt');
    }
    // A literal percent sign stays encoded, upper-cased.
    const pct = await read('file:///shared/100%25.txt');
    expect(pct.contents[0]).toMatchObject({ text: 'percent file' });
    expect(upstreamUris().at(-1)).toBe('file:///shared/100%25.txt');
  });

  it('refuses dot-segment escapes, plain and percent-encoded, by the row they resolve to', async () => {
    for (const uri of [
      'file:///shared/../etc/secret',
      'file:///shared/%2e%2e/etc/secret',
      'file:///shared/%2E%2E/etc/secret',
      'file:///shared/.%2e/etc/secret',
      'file:///shared/a/../../etc/secret',
      'file:///shared/./../etc/secret',
      'file:///shared/%2e%2e',
    ]) {
      expect((await refused(uri)).code).toBe('tool_not_allowed');
    }
  });

  it('refuses encoded separators, backslashes, double encoding and malformed escapes', async () => {
    for (const uri of [
      'file:///shared/..%2fetc/secret',
      'file:///shared/..%2Fetc%2Fsecret',
      'file:///shared/..%5cetc%5csecret',
      'file:///shared/..\\etc\\secret',
      'file:///shared/%252e%252e/etc/secret',
      'file:///shared/%25252e%25252e/etc/secret',
      'file:///shared/%zz',
      'file:///shared/readme.txt%00',
      'file:///shared/ readme.txt',
      '/shared/readme.txt',
    ]) {
      const d = await refused(uri);
      expect(d.code, uri).toBe('resource_uri_invalid');
    }
  });

  it('never lets * cross a /, while ** does', async () => {
    expect((await refused('file:///shared/sub/readme.txt')).code).toBe('tool_not_allowed');
    expect((await refused('file:///docs/a/../../etc/secret')).code).toBe('tool_not_allowed');
    const deep = await read('file:///docs/a/b/deep.txt');
    expect(deep.contents[0]).toMatchObject({ text: 'deep doc' });
  });

  it('never sent a refused form upstream', () => {
    for (const uri of upstreamUris()) expect(uri).not.toMatch(/etc|\.\.|%2[^5]|%5c|\\/i);
  });
});

describe('normalisation (RFC 3986 §5.2.4 and §6.2.2)', () => {
  it('removes dot segments as the RFC examples do', () => {
    expect(removeDotSegments('/a/b/c/./../../g')).toBe('/a/g');
    expect(removeDotSegments('mid/content=5/../6')).toBe('mid/6');
    expect(removeDotSegments('/../../x')).toBe('/x');
    expect(removeDotSegments('/a/b/..')).toBe('/a/');
  });

  it('keeps query and fragment out of dot-segment removal', () => {
    expect(normaliseResourceUri('notes://n1/a/../b?x=/../y#/..')).toEqual({
      ok: true,
      uri: 'notes://n1/b?x=/../y#/..',
    });
    expect(normaliseResourceUri('Notes://N1/%7euser')).toEqual({
      ok: true,
      uri: 'notes://N1/~user',
    });
    expect(normaliseResourceUri('x://h/%c3%a9')).toEqual({ ok: true, uri: 'x://h/%C3%A9' });
  });

  it('matches globs per segment', () => {
    expect(globToRegExp('a/*').test('a/b')).toBe(true);
    expect(globToRegExp('a/*').test('a/b/c')).toBe(false);
    expect(globToRegExp('a/**').test('a/b/c')).toBe(true);
    expect(globToRegExp('a/?').test('a//')).toBe(false);
  });
});
