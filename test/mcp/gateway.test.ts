/**
 * The gateway in-process: the real SDK Client as the agent over an in-memory transport, the
 * fixture upstream over stdio, and a real runtime. Proves what the agent may see and call,
 * that refused calls never reach the upstream (its own log), approvals, upstream failures, and
 * that every call is sealed in a log that validates.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AI_OUTPUT_MARKER, AI_OUTPUT_META_KEY } from '../../src/gatekeeper/index.ts';
import {
  createAgentServer,
  DECISION_META_KEY,
  ERROR_META_KEY,
  Gateway,
  parseGatewayConfig,
  type GatewayDenial,
} from '../../src/mcp/index.ts';
import type { ApprovalView, Caller, SigilRuntime } from '../../src/runtime/index.ts';
import {
  agentToken,
  FIXTURE,
  humanApprover,
  makeEnv,
  NOTES_POLICY,
  notesUpstream,
  openRuntime,
  upstreamCalls,
  verdictSignature,
  waitFor,
  type Env,
} from './helpers.ts';

let e: Env;
let runtime: SigilRuntime;
let root: Caller;
let gateway: Gateway;
let approvalGateway: Gateway;
let logFile: string;
let approvalLog: string;
const clients: Client[] = [];
const gateways: Gateway[] = [];
const tokens: Record<string, string> = {};
let callsMade = 0;

async function connect(gw: Gateway, token: string): Promise<Client> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const server = createAgentServer(gw, () => runtime.tokens.authenticate(token));
  await server.connect(serverSide);
  const client = new Client({ name: 'test-agent', version: '1.0.0' });
  await client.connect(clientSide);
  clients.push(client);
  return client;
}

async function call(
  client: Client,
  name: string,
  args: Record<string, unknown>,
  meta?: Record<string, unknown>,
): Promise<CallToolResult> {
  callsMade += 1;
  return (await client.callTool({
    name,
    arguments: args,
    ...(meta ? { _meta: meta } : {}),
  })) as CallToolResult;
}

function denial(result: CallToolResult): GatewayDenial {
  expect(result.isError).toBe(true);
  return result._meta?.[ERROR_META_KEY] as GatewayDenial;
}

// Each agent session opens its own upstream connection on its first call (a process spawn).
function config(text: string, timeouts = 'call_timeout_ms = 5000\napproval_timeout_ms = 600\n') {
  return parseGatewayConfig(`${timeouts}\n${text}`, join(e.dir, 'gateway.toml'));
}

beforeAll(async () => {
  e = makeEnv();
  const opened = await openRuntime(e);
  runtime = opened.runtime;
  root = await runtime.tokens.authenticate(opened.rootToken);
  logFile = join(e.dir, 'upstream.log');
  approvalLog = join(e.dir, 'approval-upstream.log');
  tokens.op = await agentToken(runtime, root);
  tokens.slow = await agentToken(runtime, root, {
    subject: 'did:sigil:agent-slow',
    scopes: ['mcp.tools.call', 'mcp.notes.slow'],
  });
  tokens.mentor = await agentToken(runtime, root, { subject: 'did:sigil:agent-m', loa: 'mentor' });
  tokens.noConsent = await agentToken(runtime, root, {
    subject: 'did:sigil:agent-nc',
    consent: false,
  });
  tokens.noScope = await agentToken(runtime, root, {
    subject: 'did:sigil:agent-ns',
    scopes: ['memory.read'],
  });
  tokens.observer = await agentToken(runtime, root, {
    subject: 'did:sigil:agent-obs',
    loa: 'observer',
  });
  tokens.human = await agentToken(runtime, root, {
    subject: 'did:sigil:alice',
    ai: false,
    scopes: null,
    consent: false,
  });
  const backoff = { initialMs: 50, maxMs: 400 };
  const quiet = () => undefined;
  gateway = await Gateway.start({
    runtime,
    config: config(notesUpstream(logFile) + NOTES_POLICY),
    backoff,
    log: quiet,
  });
  approvalGateway = await Gateway.start({
    runtime,
    config: config(
      `${notesUpstream(approvalLog)}
[[policy]]
tool = "notes__delete_note"
min_loa = "operator"
approval = true
`,
    ),
    backoff,
    log: quiet,
  });
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await gateway?.close();
  for (const g of gateways) await g.close();
  await approvalGateway?.close();
  await runtime?.close();
  e?.cleanup();
});

describe('tools/list', () => {
  it('shows each caller only the tools its LOA and scope may call, namespaced', async () => {
    const names = async (token: string) =>
      (await (await connect(gateway, token)).listTools()).tools.map((t) => t.name).sort();
    expect(await names(tokens.op!)).toEqual(['notes__crash', 'notes__garble', 'notes__read_note']);
    expect(await names(tokens.slow!)).toContain('notes__slow');
    expect(await names(tokens.mentor!)).toContain('notes__delete_note');
    expect(await names(tokens.noScope!)).toEqual([]);
    expect(await names(tokens.observer!)).toEqual([]);
  });

  it('keeps the upstream tool definition apart from the name', async () => {
    const direct = new Client({ name: 'direct', version: '1' });
    await direct.connect(new StdioClientTransport({ command: 'node', args: [FIXTURE] }));
    try {
      const upstream = (await direct.listTools()).tools.find((t) => t.name === 'read_note');
      const via = (await (await connect(gateway, tokens.op!)).listTools()).tools.find(
        (t) => t.name === 'notes__read_note',
      );
      expect(via).toEqual({ ...upstream, name: 'notes__read_note' });
    } finally {
      await direct.close();
    }
  });
});

describe('tools/call', () => {
  it('passes an allowed call through unchanged apart from the _meta mark', async () => {
    const direct = new Client({ name: 'direct', version: '1' });
    await direct.connect(new StdioClientTransport({ command: 'node', args: [FIXTURE] }));
    const expected = (await direct.callTool({
      name: 'read_note',
      arguments: { id: 'n1' },
    })) as CallToolResult;
    await direct.close();
    const agent = await connect(gateway, tokens.op!);
    const result = await call(agent, 'notes__read_note', { id: 'n1' });
    const { _meta, ...rest } = result;
    expect(rest).toEqual(expected);
    expect(_meta?.[AI_OUTPUT_META_KEY]).toBe(AI_OUTPUT_MARKER);
    expect(_meta?.[DECISION_META_KEY]).toMatch(/\S/);
    expect(upstreamCalls(logFile).at(-1)).toMatchObject({
      tool: 'read_note',
      arguments: { id: 'n1' },
    });
  });

  it('refuses a tool above the caller LOA and never reaches the upstream', async () => {
    const agent = await connect(gateway, tokens.op!);
    const d = denial(await call(agent, 'notes__delete_note', { id: 'n2' }));
    expect(d.code).toBe('loa_insufficient');
    expect(d.decision_id).toMatch(/\S/);
    expect(upstreamCalls(logFile).some((c) => c.tool === 'delete_note')).toBe(false);
  });

  it('refuses calls outside the token scope', async () => {
    const op = await connect(gateway, tokens.op!);
    expect(denial(await call(op, 'notes__slow', { ms: 1 })).code).toBe('scope_denied');
    const noScope = await connect(gateway, tokens.noScope!);
    expect(denial(await call(noScope, 'notes__read_note', { id: 'n1' })).code).toBe('scope_denied');
    expect(upstreamCalls(logFile).some((c) => c.tool === 'slow')).toBe(false);
  });

  it('takes identity from the token: claims in _meta are forgery, claims in arguments do nothing', async () => {
    const agent = await connect(gateway, tokens.op!);
    for (const meta of [
      { 'sigil/signer_type': 'human' },
      { signerType: 'human' },
      { 'sigil/subject': 'did:sigil:root' },
      { delegation_id: 'cd'.repeat(32) },
    ]) {
      const d = denial(await call(agent, 'notes__read_note', { id: 'n1' }, meta));
      expect(d.code).toBe('mcp_rule_violated');
      expect(d.reason).toContain('mcp-004');
    }
    const before = upstreamCalls(logFile).length;
    const ok = await call(agent, 'notes__read_note', {
      id: 'n1',
      signer_type: 'human',
      subject: 'did:sigil:root',
      probe: 'zebra-cleartext-probe',
    });
    expect(ok.isError).toBeFalsy();
    expect(upstreamCalls(logFile).length).toBe(before + 1);
    const record = await runtime.log.get(String(ok._meta?.[DECISION_META_KEY]));
    const payload = record?.payload as unknown as { caller: Caller };
    expect(payload.caller.subject).toBe('did:sigil:agent-1');
    expect(payload.caller.signer.type).toBe('ai');
  });

  it('needs the consent the MCP rules demand of AI callers', async () => {
    const agent = await connect(gateway, tokens.noConsent!);
    const d = denial(await call(agent, 'notes__read_note', { id: 'n1' }));
    expect(d.code).toBe('mcp_rule_violated');
    expect(d.reason).toContain('mcp-006');
  });

  it('lets a human token call without AI rules', async () => {
    const agent = await connect(gateway, tokens.human!);
    const r = await call(agent, 'notes__read_note', { id: 'n2' });
    expect(r.isError).toBeFalsy();
    expect(r._meta?.[AI_OUTPUT_META_KEY]).toBe(AI_OUTPUT_MARKER);
  });

  it('refuses unknown tools and tools no policy names (default deny)', async () => {
    const agent = await connect(gateway, tokens.op!);
    expect(denial(await call(agent, 'notes__missing', {})).code).toBe('tool_not_allowed');
    expect(denial(await call(agent, 'elsewhere__read_note', {})).code).toBe('tool_not_allowed');
    const bare = await Gateway.start({
      runtime,
      config: config(
        `${notesUpstream(logFile)}\n[[policy]]\ntool = "notes__read_*"\nmin_loa = "operator"\n`,
      ),
      log: () => undefined,
    });
    try {
      const a = await connect(bare, tokens.op!);
      expect((await a.listTools()).tools.map((t) => t.name)).toEqual(['notes__read_note']);
      expect(denial(await call(a, 'notes__crash', {})).code).toBe('tool_not_allowed');
      expect(denial(await call(a, 'notes__read_nothing', {})).code).toBe('tool_not_found');
      expect(upstreamCalls(logFile).some((c) => c.tool === 'crash')).toBe(false);
    } finally {
      await bare.close();
    }
  });
});

describe('approval', () => {
  it('waits for a human approval, and refuses on rejection or timeout', async () => {
    const approver = await humanApprover(runtime, root);
    const agent = await connect(approvalGateway, tokens.op!);
    const pending = call(agent, 'notes__delete_note', { id: 'n1' });
    let open: ApprovalView | undefined;
    await waitFor(async () => {
      open = (await runtime.approvals.list(approver.caller)).find((a) => a.status === 'pending');
      return open !== undefined;
    });
    // the approver reads what it approves
    expect(open).toMatchObject({ tool: 'notes__delete_note', arguments: { id: 'n1' } });
    const ai = await runtime.tokens.authenticate(tokens.mentor!);
    await expect(
      runtime.approvals.decide(ai, open!.id, {
        verdict: 'approved',
        signature: verdictSignature(open!, 'approved', approver.privateKey),
      }),
    ).rejects.toMatchObject({ code: 'approver_not_human' });
    await runtime.approvals.decide(approver.caller, open!.id, {
      verdict: 'approved',
      signature: verdictSignature(open!, 'approved', approver.privateKey),
    });
    const ok = await pending;
    expect(ok.isError).toBeFalsy();
    expect(upstreamCalls(approvalLog).map((c) => c.tool)).toEqual(['delete_note']);

    const rejected = call(agent, 'notes__delete_note', { id: 'n2' });
    open = undefined;
    await waitFor(async () => {
      open = (await runtime.approvals.list(approver.caller)).find((a) => a.status === 'pending');
      return open !== undefined;
    });
    await runtime.approvals.decide(approver.caller, open!.id, {
      verdict: 'rejected',
      signature: verdictSignature(open!, 'rejected', approver.privateKey),
    });
    expect(denial(await rejected)).toMatchObject({
      code: 'approval_rejected',
      approval_id: open!.id,
    });

    const d = denial(await call(agent, 'notes__delete_note', { id: 'n2' }));
    expect(d.code).toBe('approval_timeout');
    expect(upstreamCalls(approvalLog)).toHaveLength(1);
  });
});

describe('delegation', () => {
  it('a human delegates tool calls to an agent, and revoking stops its next call', async () => {
    const { token: aliceToken } = await runtime.tokens.create(root, {
      subject: 'did:sigil:alice-delegator',
      loa: 'operator',
      signer: { type: 'human' },
    });
    const alice = await runtime.tokens.authenticate(aliceToken);
    const d = await runtime.delegations.create(alice, {
      to: 'did:sigil:alice-agent',
      actions: ['mcp.tools.call'],
    });
    const { token } = await runtime.tokens.create(root, {
      subject: 'did:sigil:alice-agent',
      loa: 'operator',
      signer: { type: 'ai', delegationId: d.delegation_id },
    });
    // The agent acts on Alice's data (the chain's principal), so Alice's consent is the one asked.
    await runtime.consent.grant(alice, {
      bailee: 'did:sigil:alice-agent',
      scope: 'mcp.tools.call',
      purpose: 'retrieval',
    });
    const agent = await connect(gateway, token);
    const ok = await call(agent, 'notes__read_note', { id: 'n1' });
    expect(ok.isError, JSON.stringify(ok)).toBeFalsy();
    const allowed = await runtime.log.get(String(ok._meta?.[DECISION_META_KEY]));
    const state = (allowed?.payload as unknown as { state: { authority: { chain: unknown[] } } })
      .state;
    expect(state.authority.chain).toHaveLength(1);

    await runtime.delegations.revoke(alice, d.delegation_id);
    const before = upstreamCalls(logFile).length;
    const denied = denial(await call(agent, 'notes__read_note', { id: 'n1' }));
    expect(denied.code).toBe('escalation_required');
    const record = await runtime.log.get(String(denied.decision_id));
    const decision = (record?.payload as unknown as { decision: { violations: unknown[] } })
      .decision;
    expect(decision.violations).toEqual([
      expect.objectContaining({ invariant: 'authority-chain-valid' }),
    ]);
    expect(upstreamCalls(logFile).length).toBe(before);
  });
});

describe('upstream failures', () => {
  it('fails a hung call alone, at its timeout', async () => {
    const agent = await connect(gateway, tokens.slow!);
    const d = denial(await call(agent, 'notes__slow', { ms: 10_000 }));
    expect(d.code).toBe('upstream_timeout');
    expect((await call(agent, 'notes__read_note', { id: 'n1' })).isError).toBeFalsy();
  });

  it('fails a malformed reply alone', async () => {
    const agent = await connect(gateway, tokens.op!);
    expect(denial(await call(agent, 'notes__garble', {})).code).toBe('upstream_timeout');
    expect((await call(agent, 'notes__read_note', { id: 'n1' })).isError).toBeFalsy();
  });

  it('contains a crashed stdio upstream and restarts it', async () => {
    // The call after the crash waits for the restart (a process spawn) within its own timeout,
    // which on a loaded machine is longer than the other tests' 5 s.
    const patient = await Gateway.start({
      runtime,
      config: config(
        notesUpstream(logFile) + NOTES_POLICY,
        'call_timeout_ms = 30000\napproval_timeout_ms = 600\n',
      ),
      backoff: { initialMs: 50, maxMs: 400 },
      log: () => undefined,
    });
    gateways.push(patient);
    const agent = await connect(patient, tokens.op!);
    const d = denial(await call(agent, 'notes__crash', {}));
    expect(d.code).toBe('upstream_error');
    const crashed = upstreamCalls(logFile).at(-1);
    expect(crashed?.tool).toBe('crash');
    const after = await call(agent, 'notes__read_note', { id: 'n1' });
    expect(after.isError, JSON.stringify(after)).toBeFalsy();
    expect(upstreamCalls(logFile).at(-1)?.pid).not.toBe(crashed?.pid);
  }, 60_000);
});

describe('resources and prompts', () => {
  it('namespaces, governs and marks them', async () => {
    const agent = await connect(gateway, tokens.op!);
    const resources = (await agent.listResources()).resources.map((r) => r.uri);
    expect(resources).toContain('sigil://notes/notes://n1');
    const templates = (await agent.listResourceTemplates()).resourceTemplates;
    expect(templates.map((t) => t.uriTemplate)).toEqual(['sigil://notes/notes://{id}']);
    const read = await agent.readResource({ uri: 'sigil://notes/notes://n2' });
    expect(read.contents[0]).toMatchObject({
      uri: 'sigil://notes/notes://n2',
      text: 'second note',
    });
    expect(read._meta?.[AI_OUTPUT_META_KEY]).toBe(AI_OUTPUT_MARKER);
    const prompt = await agent.getPrompt({ name: 'notes__summarize', arguments: { id: 'n1' } });
    expect(prompt.messages[0]?.content).toMatchObject({ text: 'Summarise note n1' });
    expect((await agent.listPrompts()).prompts.map((p) => p.name)).toEqual(['notes__summarize']);
    callsMade += 2;

    const hidden = await connect(gateway, tokens.noScope!);
    expect((await hidden.listResources()).resources).toEqual([]);
    await expect(hidden.readResource({ uri: 'sigil://notes/notes://n1' })).rejects.toThrow(
      /scope_denied/,
    );
    callsMade += 1;
  });
});

describe('the log', () => {
  it('seals every call, keeps arguments out of clear text, and validates', async () => {
    const records = (await runtime.log.list({ kind: 'mcp_call', limit: 1000 })).records;
    // The approval test's three calls and the default-deny gateway's call count too.
    expect(records.length).toBe(callsMade);
    for (const r of records) {
      const p = r.payload as Record<string, unknown>;
      expect(p.arguments_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(r.links.some((l) => l.rel === 'decision')).toBe(true);
    }
    const outcomes = new Set(records.map((r) => (r.payload as { outcome: string }).outcome));
    expect(outcomes).toEqual(new Set(['ok', 'denied', 'error', 'timeout']));
    await runtime.log.checkpoint();
    expect((await runtime.log.validate({ workers: 0 })).ok).toBe(true);
    // 'second note' is a result and the probe an argument; neither may sit in the store in clear.
    const stores = readdirSync(e.dataDir).filter((f) => f.startsWith('canon.db'));
    expect(stores.length).toBeGreaterThan(0);
    for (const f of stores) {
      const bytes = readFileSync(join(e.dataDir, f));
      expect(bytes.includes(Buffer.from('second note'))).toBe(false);
      expect(bytes.includes(Buffer.from('zebra-cleartext-probe'))).toBe(false);
    }
  });
});
