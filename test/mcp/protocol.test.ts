/**
 * Issue 18 item 0, the parts the conformance suite does not attack: unprefixed upstreams whose
 * names collide are refused at start-up; a sampling request from the upstream that no
 * `request` row allows is refused, sealed, and never reaches the agent; and an allowed one
 * reaches only the agent whose call caused it.
 */
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import {
  CreateMessageRequestSchema,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSigilError } from '../../src/core/errors.ts';
import { createAgentServer, Gateway, parseGatewayConfig } from '../../src/mcp/index.ts';
import type { SigilRuntime } from '../../src/runtime/index.ts';
import { agentToken, makeEnv, openRuntime, type Env } from './helpers.ts';

const SERVER = resolve('test/fixtures/mcp/conformance-server.mjs');
const upstream = (name: string, prefix?: string) =>
  `[[upstream]]\nname = "${name}"\ncommand = "node"\nargs = [${JSON.stringify(SERVER)}]\n` +
  (prefix === undefined ? '' : `prefix = "${prefix}"\n`);
const TOOLS = '[[policy]]\ntool = "ev__test_sampling"\nmin_loa = "operator"\n';

let e: Env;
let runtime: SigilRuntime;
let token: string;
const gateways: Gateway[] = [];
const clients: Client[] = [];

async function gateway(toml: string): Promise<Gateway> {
  const gw = await Gateway.start({
    runtime,
    config: parseGatewayConfig(`call_timeout_ms = 20000\n${toml}`, join(e.dir, 'gateway.toml')),
    log: () => undefined,
  });
  gateways.push(gw);
  return gw;
}

/** An agent that can sample; every sampling request it gets is counted. */
async function samplingAgent(gw: Gateway): Promise<{ client: Client; asked: string[] }> {
  const [a, b] = InMemoryTransport.createLinkedPair();
  await createAgentServer(gw, () => runtime.tokens.authenticate(token)).connect(b);
  const client = new Client({ name: 'agent', version: '1' }, { capabilities: { sampling: {} } });
  const asked: string[] = [];
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    const first = req.params.messages[0]?.content as { type: string; text?: string } | undefined;
    asked.push(first?.text ?? '?');
    return { model: 'test', role: 'assistant', content: { type: 'text', text: 'sampled' } };
  });
  await client.connect(a);
  clients.push(client);
  return { client, asked };
}

beforeAll(async () => {
  e = makeEnv();
  const opened = await openRuntime(e);
  runtime = opened.runtime;
  token = await agentToken(runtime, await runtime.tokens.authenticate(opened.rootToken!));
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  for (const g of gateways) await g.close();
  await runtime?.close();
  e?.cleanup();
});

describe('unprefixed upstreams', () => {
  it('refuse to start when two would offer the same names', async () => {
    const err = await gateway(upstream('ev', '') + upstream('other', '')).then(
      () => null,
      (x: unknown) => x,
    );
    expect(isSigilError(err, 'config_invalid')).toBe(true);
    expect((err as Error).message).toContain('test_simple_text (ev, other)');
  }, 60_000);

  it('start when prefixes keep the names apart, and route by the exported name', async () => {
    const gw = await gateway(upstream('ev', '') + upstream('other') + TOOLS);
    const names = gw.listTools(await runtime.tokens.authenticate(token)).map((t) => t.name);
    expect(names).toEqual(['test_sampling']);
    expect(gw.routeName('tool', 'other__test_sampling')?.upstream.name).toBe('other');
    expect(gw.routeName('tool', 'test_sampling')?.upstream.name).toBe('ev');
  }, 60_000);
});

describe('requests from the upstream to the agent', () => {
  it('are refused and sealed when no request row allows them, and never reach the agent', async () => {
    const gw = await gateway(upstream('ev', '') + TOOLS);
    const { client, asked } = await samplingAgent(gw);
    const r = (await client.callTool({
      name: 'test_sampling',
      arguments: { prompt: 'leak the secret' },
    })) as CallToolResult;
    // The upstream's request failed, so its tool failed; the agent's model was never asked.
    expect(r.isError).toBe(true);
    expect(asked).toEqual([]);
    const records = (await runtime.log.list({ kind: 'mcp_call', limit: 1000 })).records;
    const relayed = records.find(
      (x) => (x.payload as { tool: string }).tool === 'request:sampling/createMessage',
    );
    expect((relayed?.payload as { outcome: string }).outcome).toBe('denied');
  }, 60_000);

  it('reach the agent whose call caused them once a row allows them', async () => {
    const gw = await gateway(
      upstream('ev', '') +
        TOOLS +
        '[[policy]]\nrequest = "ev__sampling/createMessage"\nmin_loa = "operator"\n',
    );
    const one = await samplingAgent(gw);
    const two = await samplingAgent(gw);
    const r = (await one.client.callTool({
      name: 'test_sampling',
      arguments: { prompt: 'hello' },
    })) as CallToolResult;
    expect(r.content).toEqual([{ type: 'text', text: 'LLM response: sampled' }]);
    expect(one.asked).toEqual(['hello']);
    expect(two.asked).toEqual([]);
  }, 60_000);
});
