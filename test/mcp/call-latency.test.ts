/**
 * The gateway's added latency per tool: each sealed `mcp_call` carries the upstream's own time
 * (`upstream_ms`) beside the whole call's (`latency_ms`), so what the gateway added is the
 * difference. Through the real gateway over Streamable HTTP in front of the SDK notes upstream,
 * with a tool that sleeps a known time; the per-tool stats read the sealed records back, count
 * a denial and an older record without `upstream_ms` as calls without timing them, and show a
 * caller (Root too) only its own calls, an auditor (`canon.audit`) everyone's.
 */
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway, parseGatewayConfig, serveHttp, type HttpGateway } from '../../src/mcp/index.ts';
import type { Caller, SigilRuntime } from '../../src/runtime/index.ts';
import { AGENT, agentToken, makeEnv, notesUpstream, openRuntime, type Env } from './helpers.ts';

const SLEEP_MS = 150;
const POLICY = `
[[policy]]
tool = "notes__slow"
min_loa = "operator"

[[policy]]
tool = "notes__delete_*"
min_loa = "mentor"
`;

let e: Env;
let runtime: SigilRuntime;
let root: Caller;
/** Reads every caller's mcp_call bodies: the explicit canon.audit grant (Root alone does not). */
let auditor: Caller;
let gateway: Gateway;
let http: HttpGateway;
let client: Client;

type Payload = Record<string, unknown>;

beforeAll(async () => {
  e = makeEnv();
  const opened = await openRuntime(e);
  runtime = opened.runtime;
  root = await runtime.tokens.authenticate(opened.rootToken);
  const token = await agentToken(runtime, root);
  auditor = await runtime.tokens.authenticate(
    (
      await runtime.tokens.create(root, {
        subject: 'did:sigil:auditor',
        loa: 'observer',
        signer: { type: 'human' },
        scopes: ['trust.status', 'canon.audit'],
      })
    ).token,
  );
  gateway = await Gateway.start({
    runtime,
    config: parseGatewayConfig(
      notesUpstream(join(e.dir, 'upstream.log')) + POLICY,
      join(e.dir, 'gw.toml'),
    ),
    log: () => undefined,
  });
  http = await serveHttp(gateway, { host: '127.0.0.1', port: 0 });
  client = new Client({ name: 'agent', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(http.url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
}, 60_000);

afterAll(async () => {
  await client?.close().catch(() => undefined);
  await http?.close();
  await gateway?.close();
  await runtime?.close();
  e?.cleanup();
});

async function sealedCalls(tool: string): Promise<Payload[]> {
  const page = await runtime.log.list({ kind: 'mcp_call', limit: 1000 });
  return page.records.map((r) => r.payload as Payload).filter((p) => p.tool === tool);
}

describe("the gateway's added latency", () => {
  it("seals the upstream's own time beside the whole call's; the difference is the gateway's", async () => {
    for (let i = 0; i < 3; i++) {
      const r = (await client.callTool({
        name: 'notes__slow',
        arguments: { ms: SLEEP_MS },
      })) as CallToolResult;
      expect(r.isError).toBeFalsy();
    }
    const calls = await sealedCalls('slow');
    expect(calls).toHaveLength(3);
    for (const p of calls) {
      expect(p.outcome).toBe('ok');
      const upstream = p.upstream_ms as number;
      const total = p.latency_ms as number;
      // the upstream slept SLEEP_MS; the whole call took that and the gateway's own work
      expect(upstream).toBeGreaterThanOrEqual(SLEEP_MS - 1);
      expect(total).toBeGreaterThan(upstream);
      expect(p).not.toHaveProperty('approval_ms');
    }

    const stats = await runtime.gateway.stats(auditor, 60);
    const slow = stats.tools.find((t) => t.tool === 'slow')!;
    const added = calls
      .map((p) => (p.latency_ms as number) - (p.upstream_ms as number))
      .sort((a, b) => a - b);
    expect(slow).toMatchObject({ upstream: 'notes', calls: 3, timed: 3 });
    expect(slow.median_added_ms).toBeCloseTo(added[1]!, 2);
    // the upstream's sleep is not counted as the gateway's
    expect(slow.median_added_ms!).toBeLessThan(SLEEP_MS);
    expect(slow.median_upstream_ms!).toBeGreaterThanOrEqual(SLEEP_MS - 1);
    expect(stats.complete).toBe(true);
  });

  it('counts a denied call and an older record without upstream_ms, but times neither', async () => {
    const denied = (await client.callTool({
      name: 'notes__delete_note',
      arguments: { id: 'n1' },
    })) as CallToolResult;
    expect(denied.isError).toBe(true);
    const [p] = await sealedCalls('delete_note');
    expect(p).toMatchObject({ outcome: 'denied' });
    expect(p).not.toHaveProperty('upstream_ms');
    // a record as an earlier version sealed it: the whole latency only
    const agent = await runtime.tokens.authenticate(
      await runtime.tokens
        .create(root, {
          subject: 'did:sigil:old-caller',
          loa: 'operator',
          signer: { type: 'human' },
        })
        .then((t) => t.token),
    );
    await runtime.gateway.recordCall(agent, {
      upstream: 'notes',
      tool: 'read_note',
      decision_id: (await runtime.check(agent, { action: 'canon.read', target: 'x' })).decision_id,
      arguments: { id: 'n1' },
      result: null,
      outcome: 'ok',
      latency_ms: 12,
    });
    const stats = await runtime.gateway.stats(auditor, 60);
    expect(stats.tools.find((t) => t.tool === 'delete_note')).toMatchObject({
      calls: 1,
      timed: 0,
      median_added_ms: null,
    });
    expect(stats.tools.find((t) => t.tool === 'read_note')).toMatchObject({
      calls: 1,
      timed: 0,
      median_added_ms: null,
    });
    // a caller sees its own calls only, Root too; an auditor sees everyone's
    expect((await runtime.gateway.stats(root, 60)).tools).toEqual([]);
    expect((await runtime.gateway.stats(agent, 60)).tools.map((t) => t.tool)).toEqual([
      'read_note',
    ]);
    const own = await runtime.gateway.stats(
      await runtime.tokens.authenticate(
        (
          await runtime.tokens.create(root, {
            subject: AGENT,
            loa: 'observer',
            signer: { type: 'human' },
          })
        ).token,
      ),
      60,
    );
    expect(own.tools.map((t) => t.tool).sort()).toEqual(['delete_note', 'slow']);
  });

  it('refuses a window out of range', async () => {
    for (const minutes of [0, 1441, 1.5]) {
      await expect(runtime.gateway.stats(root, minutes)).rejects.toMatchObject({
        code: 'bad_request',
      });
    }
  });
});
