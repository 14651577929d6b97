/**
 * An SDK upstream served from the test process over Streamable HTTP (stateful sessions), so a
 * test can change what it offers while the gateway is connected and see every request's
 * headers. Tools: `read_file {path}`, `echo {text}`, `blocks {parts}` (one text block per
 * part), `leak {parts_b64}` (the same, decoded, so the arguments hold no secret) and
 * `lookup {query}` (echoes its JSON), plus whatever a test adds.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer, type RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { SigilRuntime } from '../../src/runtime/index.ts';
import { agentToken, makeEnv, openRuntime, type Env } from './helpers.ts';
import { z } from 'zod';
import { loadGatewayConfig } from '../../src/mcp/config.ts';
import { Gateway, type GatewayOptions } from '../../src/mcp/gateway.ts';
import { serveHttp } from '../../src/mcp/http.ts';

export interface LiveUpstream {
  url: string;
  /** Headers of every HTTP request the upstream received. */
  headers: IncomingHttpHeaders[];
  /** Arguments and `_meta` of every tools/call, in order. */
  calls: Array<{ tool: string; arguments: unknown; meta: Record<string, unknown> | undefined }>;
  /** Changes a tool's description on every session (each sends tools/list_changed). */
  describe(tool: string, description: string): void;
  /** Adds a tool on every session (and to later ones). */
  addTool(name: string, description: string): void;
  close(): Promise<void>;
}

type ToolDef = {
  description: string;
  schema: Record<string, z.ZodType>;
  run: (args: Record<string, unknown>) => CallToolResult;
};

const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] });

export async function startLiveUpstream(): Promise<LiveUpstream> {
  const defs = new Map<string, ToolDef>([
    [
      'read_file',
      {
        description: 'Read a file by path',
        schema: { path: z.string() },
        run: (a) => text(`contents of ${String(a.path)}`),
      },
    ],
    [
      'echo',
      {
        description: 'Echo a text',
        schema: { text: z.string() },
        run: (a) => text(String(a.text)),
      },
    ],
    [
      'blocks',
      {
        description: 'One text block per part',
        schema: { parts: z.array(z.string()) },
        run: (a) => ({ content: (a.parts as string[]).map((p) => ({ type: 'text', text: p })) }),
      },
    ],
    [
      'leak',
      {
        description: 'One text block per base64 part (a server that leaks what it holds)',
        schema: { parts_b64: z.array(z.string()) },
        run: (a) => ({
          content: (a.parts_b64 as string[]).map((p) => ({
            type: 'text',
            text: Buffer.from(p, 'base64').toString('utf8'),
          })),
        }),
      },
    ],
    [
      'lookup',
      {
        description: 'Echo a query object',
        schema: { query: z.any() },
        run: (a) => text(JSON.stringify(a.query)),
      },
    ],
  ]);
  const headers: IncomingHttpHeaders[] = [];
  const calls: LiveUpstream['calls'] = [];
  const sessions = new Map<
    string,
    {
      server: McpServer;
      transport: StreamableHTTPServerTransport;
      tools: Map<string, RegisteredTool>;
    }
  >();

  const register = (server: McpServer, tools: Map<string, RegisteredTool>, name: string) => {
    const def = defs.get(name)!;
    tools.set(
      name,
      server.registerTool(
        name,
        { description: def.description, inputSchema: def.schema },
        async (args: Record<string, unknown>, extra: { _meta?: Record<string, unknown> }) => {
          calls.push({ tool: name, arguments: args, meta: extra._meta });
          return def.run(args);
        },
      ),
    );
  };

  const http = createServer((req, res) => {
    headers.push(req.headers);
    void (async () => {
      const id = req.headers['mcp-session-id'];
      const existing = typeof id === 'string' ? sessions.get(id) : undefined;
      if (existing) return existing.transport.handleRequest(req, res);
      const server = new McpServer({ name: 'live-upstream', version: '1.0.0' });
      const tools = new Map<string, RegisteredTool>();
      for (const name of defs.keys()) register(server, tools, name);
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid) => {
          sessions.set(sid, { server, transport, tools });
        },
      });
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
      };
      await server.connect(transport);
      await transport.handleRequest(req, res);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    headers,
    calls,
    describe(tool, description) {
      defs.get(tool)!.description = description;
      for (const s of sessions.values()) s.tools.get(tool)?.update({ description });
    },
    addTool(name, description) {
      defs.set(name, { description, schema: { text: z.string() }, run: () => text(name) });
      // Sessions opened later register it; open ones get it now, with a list_changed.
      for (const s of sessions.values()) register(s.server, s.tools, name);
    },
    async close() {
      for (const s of sessions.values()) await s.transport.close().catch(() => undefined);
      await new Promise<void>((r) => {
        http.close(() => r());
        http.closeAllConnections();
      });
    },
  };
}

/** The real gateway (core + Streamable HTTP surface) in this process, from gateway.toml text. */
export async function serveGateway(
  runtime: SigilRuntime,
  toml: string,
  dir: string,
  extra: Pick<GatewayOptions, 'tracer'> = {},
): Promise<{ gateway: Gateway; url: string; close(): Promise<void> }> {
  const file = join(dir, `gateway-${randomUUID()}.toml`);
  writeFileSync(file, toml);
  const gateway = await Gateway.start({
    runtime,
    config: loadGatewayConfig(file),
    log: () => undefined,
    backoff: { initialMs: 50, maxMs: 200 },
    ...extra,
  });
  const http = await serveHttp(gateway, { host: '127.0.0.1', port: 0 });
  return {
    gateway,
    url: http.url,
    async close() {
      await http.close();
      await gateway.close();
    },
  };
}

/** An SDK client of the gateway, presenting `token` as its bearer token (and `headers`). */
export async function agentClient(
  url: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<Client> {
  const client = new Client({ name: 'test-agent', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { ...headers, Authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

/** One test file's set-up: a runtime, a live upstream, the gateway over it, an agent's client. */
export interface LiveGateway {
  e: Env;
  runtime: SigilRuntime;
  upstream: LiveUpstream;
  gw: Awaited<ReturnType<typeof serveGateway>>;
  /** The agent's token (operator, AI on a delegation, with consent). */
  token: string;
  client: Client;
  /** A tools/call through the gateway as the agent. */
  call(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

/**
 * Bootstraps a runtime, mints the agent's token, starts a live upstream named `live` and the
 * gateway over it with the `[[policy]]` rows in `policies`, and connects the agent.
 */
export async function liveGateway(
  policies: string,
  extra: Pick<GatewayOptions, 'tracer'> = {},
): Promise<LiveGateway> {
  const e = makeEnv();
  const opened = await openRuntime(e);
  const runtime = opened.runtime;
  const token = await agentToken(runtime, await runtime.tokens.authenticate(opened.rootToken));
  const upstream = await startLiveUpstream();
  const toml = `[[upstream]]\nname = "live"\nurl = "${upstream.url}"\n${policies}`;
  const gw = await serveGateway(runtime, toml, e.dir, extra);
  const client = await agentClient(gw.url, token);
  return {
    e,
    runtime,
    upstream,
    gw,
    token,
    client,
    call: async (name, args) =>
      (await client.callTool({ name, arguments: args })) as CallToolResult,
    async close() {
      await client.close().catch(() => undefined);
      await gw.close();
      await upstream.close();
      await runtime.close();
      e.cleanup();
    },
  };
}
