/**
 * End to end over Streamable HTTP: `sigil gateway --listen` as its own process, bearer tokens
 * per the MCP authorization spec, the fixture upstream itself over Streamable HTTP and the
 * published filesystem server over stdio.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AI_OUTPUT_MARKER, AI_OUTPUT_META_KEY } from '../../src/gatekeeper/index.ts';
import { ERROR_META_KEY, type GatewayDenial } from '../../src/mcp/index.ts';
import {
  agentToken,
  FS_SERVER,
  makeEnv,
  openRuntime,
  runCli,
  spawnGateway,
  startHttpNotes,
  upstreamCalls,
  type Env,
} from './helpers.ts';

let e: Env;
let tokens: { op: string; mentor: string; human: string };
let gateway: ChildProcess;
let url: string;
let notes: Awaited<ReturnType<typeof startHttpNotes>>;
let logFile: string;
let files: string;
const clients: Client[] = [];
let calls = 0;

async function connect(
  token: string,
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'http-agent', version: '1.0.0' });
  await client.connect(transport);
  clients.push(client);
  return { client, transport };
}

async function call(client: Client, name: string, args: Record<string, unknown>) {
  calls += 1;
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

function denial(r: CallToolResult): GatewayDenial {
  expect(r.isError).toBe(true);
  return r._meta?.[ERROR_META_KEY] as GatewayDenial;
}

const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'raw', version: '1' },
  },
};

function post(headers: Record<string, string>, body: unknown = INIT): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

beforeAll(async () => {
  e = makeEnv();
  const opened = await openRuntime(e);
  const root = await opened.runtime.tokens.authenticate(opened.rootToken);
  tokens = {
    op: await agentToken(opened.runtime, root),
    mentor: await agentToken(opened.runtime, root, { subject: 'did:sigil:agent-m', loa: 'mentor' }),
    human: await agentToken(opened.runtime, root, {
      subject: 'did:sigil:bob',
      ai: false,
      scopes: null,
      consent: false,
    }),
  };
  await opened.runtime.close();

  logFile = join(e.dir, 'notes.log');
  notes = await startHttpNotes(logFile);
  files = join(e.dir, 'files');
  mkdirSync(files);
  writeFileSync(join(files, 'a.txt'), 'alpha\n');
  const spawned = await spawnGateway(
    e,
    `call_timeout_ms = 5000

[[upstream]]
name = "notes"
url = "${notes.url}"

[[upstream]]
name = "fs"
command = "node"
args = [${JSON.stringify(FS_SERVER)}, ${JSON.stringify(files)}]

[[policy]]
tool = "notes__read_note"
min_loa = "operator"

[[policy]]
tool = "notes__delete_note"
min_loa = "mentor"

[[policy]]
tool = "fs__read_text_file"
min_loa = "operator"

[[policy]]
tool = "fs__write_file"
min_loa = "mentor"
risk = 0.6
`,
  );
  gateway = spawned.child;
  url = spawned.url;
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  if (gateway && gateway.exitCode === null) gateway.kill('SIGKILL');
  notes?.stop();
  e?.cleanup();
});

describe('sigil gateway over Streamable HTTP', () => {
  it('answers 401 with a bearer challenge without a valid token', async () => {
    const none = await post({});
    expect(none.status).toBe(401);
    const challenge = none.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer /);
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1] ?? '';
    const metadata = (await (await fetch(metadataUrl)).json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({ resource: url, bearer_methods_supported: ['header'] });

    const bad = await post({ authorization: `Bearer sgl_${'B'.repeat(43)}` });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"');

    const inQuery = await fetch(`${url}?access_token=${tokens.op}`, { method: 'POST', body: '{}' });
    expect(inQuery.status).toBe(401);
  });

  it('refuses a session opened by another token', async () => {
    const { transport } = await connect(tokens.op);
    const hijack = await post(
      { authorization: `Bearer ${tokens.human}`, 'mcp-session-id': transport.sessionId ?? '' },
      { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} },
    );
    expect(hijack.status).toBe(403);
  });

  it('shows and passes what the token may call, marked; refuses the rest before the upstream', async () => {
    const { client } = await connect(tokens.op);
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual([
      'fs__read_text_file',
      'notes__read_note',
    ]);
    const r = await call(client, 'notes__read_note', { id: 'n1' });
    expect(r.content).toEqual([{ type: 'text', text: 'first note' }]);
    expect(r._meta?.[AI_OUTPUT_META_KEY]).toBe(AI_OUTPUT_MARKER);
    const f = await call(client, 'fs__read_text_file', { path: join(files, 'a.txt') });
    expect(f.content).toEqual([{ type: 'text', text: 'alpha\n' }]);

    expect(denial(await call(client, 'notes__delete_note', { id: 'n1' })).code).toBe(
      'loa_insufficient',
    );
    const target = join(files, 'b.txt');
    expect(denial(await call(client, 'fs__write_file', { path: target, content: 'x' })).code).toBe(
      'loa_insufficient',
    );
    expect(existsSync(target)).toBe(false);
    expect(upstreamCalls(logFile).map((c) => c.tool)).toEqual(['read_note']);
  });

  it('lets a Mentor AI token write inside the confined directory', async () => {
    const { client } = await connect(tokens.mentor);
    const target = join(files, 'c.txt');
    const r = await call(client, 'fs__write_file', { path: target, content: 'written via sigil' });
    expect(r.isError).toBeFalsy();
    expect(readFileSync(target, 'utf8')).toBe('written via sigil');
  });

  it('contains an HTTP upstream that goes away', async () => {
    const { client } = await connect(tokens.op);
    notes.stop();
    await new Promise((r) => notes.child.once('exit', r));
    const d = denial(await call(client, 'notes__read_note', { id: 'n1' }));
    expect(['upstream_failed', 'upstream_unavailable', 'upstream_error']).toContain(d.code);
    const f = await call(client, 'fs__read_text_file', { path: join(files, 'a.txt') });
    expect(f.isError).toBeFalsy();
  });

  it('shuts down cleanly on SIGTERM, with every call sealed and a valid log', async () => {
    for (const c of clients.splice(0)) await c.close().catch(() => undefined);
    gateway.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => gateway.once('exit', r));
    expect(code).toBe(0);
    const opened = await openRuntime(e);
    try {
      const records = (await opened.runtime.log.list({ kind: 'mcp_call', limit: 1000 })).records;
      expect(records.length).toBe(calls);
    } finally {
      await opened.runtime.close();
    }
    const validated = await runCli(['validate', '--json', '--workers', '0'], e.env);
    expect(validated.code).toBe(0);
  });
});
