/**
 * The limit of the gateway benchmark: a bare MCP pass-through proxy built with the same SDK as
 * the gateway, which forwards tools/list and tools/call and does nothing else. What any proxy
 * hop costs; the gateway's added latency is measured over it.
 *
 *   node --import tsx bench/passthrough.ts stdio <command> <args…>   agent on stdio, upstream on stdio
 *   node --import tsx bench/passthrough.ts http <upstream url>        agent on Streamable HTTP
 *
 * Over HTTP it serves stateful sessions on 127.0.0.1 (as the gateway does) and prints
 * `listening <port>` on stderr.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const [mode, target, ...rest] = process.argv.slice(2);
const upstream = new Client({ name: 'passthrough', version: '1.0.0' });
await upstream.connect(
  mode === 'stdio'
    ? new StdioClientTransport({ command: target!, args: rest })
    : new StreamableHTTPClientTransport(new URL(target!)),
);

function proxy(): Server {
  const server = new Server(
    { name: 'passthrough', version: '1.0.0' },
    { capabilities: { tools: {} } },
  );
  server.setRequestHandler(ListToolsRequestSchema, (req) => upstream.listTools(req.params));
  server.setRequestHandler(CallToolRequestSchema, (req) => upstream.callTool(req.params));
  return server;
}

if (mode === 'stdio') {
  const transport = new StdioServerTransport();
  process.stdin.once('end', () => process.exit(0));
  await proxy().connect(transport);
} else {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const http = createServer((req, res) => {
    void (async () => {
      const id = req.headers['mcp-session-id'];
      const open = typeof id === 'string' ? sessions.get(id) : undefined;
      if (open) return open.handleRequest(req, res);
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid) => void sessions.set(sid, transport),
      });
      await proxy().connect(transport);
      await transport.handleRequest(req, res);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  http.listen(0, '127.0.0.1', () => {
    process.stderr.write(`listening ${(http.address() as AddressInfo).port}\n`);
  });
}
