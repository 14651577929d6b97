/**
 * Issue 13 §4, as an attacker would try it through the real server while a real gateway process
 * (over stdio, a real SDK client and upstream) holds a gated call: approving is adjudicated like
 * any action (matrix, scopes, AI signers refused) and sealed as a decision; the verdict is the
 * approver's typed human signature over {approval id, tool, arguments hash, verdict} under a
 * witness key they enrolled; the approver reads the call's arguments before signing.
 */
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { generateKeyPair } from '../../src/core/ed25519.ts';
import { ERROR_META_KEY } from '../../src/mcp/index.ts';
import { SigilRuntime, type ApprovalView } from '../../src/runtime/index.ts';
import {
  agentToken,
  humanApprover,
  notesUpstream,
  upstreamCalls,
  verdictSignature,
} from '../mcp/helpers.ts';
import {
  MASTER_KEY,
  ROOMY_LIMITS,
  call,
  sigilGatewayClient,
  startServer,
  tempDataDir,
  type ServerProcess,
} from './helpers.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let dir: ReturnType<typeof tempDataDir>;
let server: ServerProcess;
let agent: Client;
let upstreamLog: string;
let approver: Awaited<ReturnType<typeof humanApprover>>;
const tokens: Record<string, string> = {};

const approve = (token: string, id: string, body: unknown) =>
  call(server.url, 'POST', `/api/approvals/${id}`, { token, body });

async function pending(): Promise<ApprovalView> {
  for (let i = 0; i < 200; i++) {
    const listed = await call(server.url, 'GET', '/api/approvals', { token: approver.token });
    expect(listed.status, listed.text).toBe(200);
    const open = (listed.body as { approvals: ApprovalView[] }).approvals.find(
      (a) => a.status === 'pending',
    );
    if (open) return open;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no approval request appeared');
}

beforeAll(async () => {
  dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
  const env = { ...process.env, SIGIL_MASTER_KEY: MASTER_KEY, SIGIL_CONFIG: dir.config };
  const boot = await SigilRuntime.bootstrap({
    config: loadConfig({ env, dataDir: dir.dataDir }),
    env,
  });
  const runtime = boot.runtime;
  try {
    const rootCaller = await runtime.tokens.authenticate(boot.rootToken!);
    tokens.agent = await agentToken(runtime, rootCaller);
    approver = await humanApprover(runtime, rootCaller);
    const human = async (
      subject: string,
      loa: 'guest' | 'observer' | 'operator' | 'mentor',
      scopes?: string[],
    ) =>
      (
        await runtime.tokens.create(rootCaller, {
          subject,
          loa,
          signer: { type: 'human' },
          ...(scopes ? { scopes } : {}),
        })
      ).token;
    for (const loa of ['guest', 'observer', 'operator'] as const) {
      tokens[loa] = await human(`did:sigil:appr-${loa}`, loa);
    }
    tokens.mentorNoKey = await human('did:sigil:appr-nokey', 'mentor');
    // Reads the sealed decisions of others: the explicit audit grant.
    tokens.auditor = await human('did:sigil:appr-auditor', 'observer', [
      'canon.read',
      'canon.audit',
    ]);
    // A Mentor scoped to reading the canon: the finding of issue 13 §4.
    tokens.mentorCanonRead = await human(approver.caller.subject, 'mentor', ['canon.read']);
    tokens.aiMentor = await agentToken(runtime, rootCaller, {
      subject: 'did:sigil:appr-ai',
      loa: 'mentor',
      scopes: ['approval.read', 'approval.decide'],
      delegated: ['approval.read', 'approval.decide'],
    });
  } finally {
    await runtime.close();
  }
  server = await startServer(dir.dataDir, dir.config);
  upstreamLog = join(dir.dataDir, '..', 'notes.log');
  agent = await sigilGatewayClient(
    dir,
    `approval_timeout_ms = 60000\n${notesUpstream(upstreamLog)}
[[policy]]
tool = "notes__delete_note"
min_loa = "operator"
approval = true
`,
    tokens.agent!,
    'approvals-agent',
  );
}, 90_000);

afterAll(async () => {
  await agent?.close().catch(() => undefined);
  await server?.stop();
  dir?.remove();
});

describe('approvals are decisions', () => {
  it('only a human, scoped, enrolled Mentor with a signature over this call decides it', async () => {
    const gated = agent.callTool(
      { name: 'notes__delete_note', arguments: { id: 'n1' } },
      undefined,
      {
        timeout: 90_000,
      },
    ) as Promise<CallToolResult>;
    const open = await pending();
    // the approver sees what it approves, decrypted for it
    expect(open).toMatchObject({
      tool: 'notes__delete_note',
      arguments: { id: 'n1' },
      requested_by: 'did:sigil:agent-1',
    });
    const good = verdictSignature(open, 'approved', approver.privateKey);

    // below Mentor: listing and deciding are denied, and each denial is sealed
    for (const loa of ['guest', 'observer', 'operator'] as const) {
      const list = await call(server.url, 'GET', '/api/approvals', { token: tokens[loa] });
      expect(list.status, loa).toBe(403);
      expect((list.body as Json).code).toBe('loa_insufficient');
      const d = await approve(tokens[loa]!, open.id, { verdict: 'approved', signature: good });
      expect(d.status, loa).toBe(403);
      expect((d.body as Json).code).toBe('loa_insufficient');
      expect((d.body as Json).decision_id).toMatch(/^rec_/);
    }
    // a Mentor token scoped to canon.read neither lists nor approves, even with a good signature
    const scoped = await approve(tokens.mentorCanonRead!, open.id, {
      verdict: 'approved',
      signature: good,
    });
    expect(scoped.status).toBe(403);
    expect((scoped.body as Json).code).toBe('scope_denied');
    expect(
      (await call(server.url, 'GET', '/api/approvals', { token: tokens.mentorCanonRead })).status,
    ).toBe(403);
    // an AI Mentor holding both scopes is refused as an approver, whatever it signs
    const ai = await approve(tokens.aiMentor!, open.id, { verdict: 'approved', signature: good });
    expect(ai.status).toBe(403);
    expect((ai.body as Json).code).toBe('approver_not_human');
    // a human Mentor with no enrolled key has nothing to sign with
    const nokey = await approve(tokens.mentorNoKey!, open.id, {
      verdict: 'approved',
      signature: good,
    });
    expect(nokey.status).toBe(403);
    expect((nokey.body as Json).code).toBe('approver_not_enrolled');
    // signatures over anything else than this call and this verdict are refused
    for (const signature of [
      verdictSignature(
        { ...open, arguments_hash: '0'.repeat(64) },
        'approved',
        approver.privateKey,
      ),
      verdictSignature({ ...open, tool: 'notes__read_note' }, 'approved', approver.privateKey),
      verdictSignature({ ...open, id: 'another' }, 'approved', approver.privateKey),
      verdictSignature(open, 'rejected', approver.privateKey),
      // someone else's key
      verdictSignature(open, 'approved', generateKeyPair().privateKey),
    ]) {
      const r = await approve(approver.token, open.id, { verdict: 'approved', signature });
      expect(r.status, r.text).toBe(400);
      expect((r.body as Json).code).toBe('approval_signature_invalid');
    }
    // a verdict field outside approved|rejected is bad input
    const bad = await approve(approver.token, open.id, { verdict: 'yes', signature: good });
    expect(bad.status).toBe(400);
    expect(upstreamCalls(upstreamLog)).toEqual([]);
    expect((await pending()).id).toBe(open.id);

    const ok = await approve(approver.token, open.id, { verdict: 'approved', signature: good });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body).toMatchObject({ id: open.id, status: 'approved' });
    expect((await gated).isError).toBeFalsy();
    expect(upstreamCalls(upstreamLog).map((c) => c.tool)).toEqual(['delete_note']);
    // once decided, no second verdict
    const again = await approve(approver.token, open.id, {
      verdict: 'rejected',
      signature: verdictSignature(open, 'rejected', approver.privateKey),
    });
    expect(again.status).toBe(409);
    expect((again.body as Json).code).toBe('approval_not_pending');

    // sealed: the allowing decision, and the verdict with its signature and key, linked to it
    const decisionId = (ok.body as Json).decision_id as string;
    const decision = (
      await call(server.url, 'GET', `/api/canon/records/${decisionId}`, {
        token: tokens.auditor!,
      })
    ).body as Json;
    expect(decision.kind).toBe('decision');
    expect(decision.payload.request).toMatchObject({
      action: 'approval.decide',
      target: `approvals/${open.id}`,
    });
    expect(decision.payload.caller.subject).toBe(approver.caller.subject);
    expect(decision.payload.decision.verdict).toBe('allow');
    const listed = (
      (await call(server.url, 'GET', '/api/approvals', { token: approver.token })).body as {
        approvals: ApprovalView[];
      }
    ).approvals.find((a) => a.id === open.id)!;
    expect(listed).toMatchObject({
      status: 'approved',
      decided_by: approver.caller.subject,
      verdict_decision_id: decisionId,
      signature: good,
      witness_id: approver.witnessId,
    });
  }, 120_000);

  it('a rejection is signed too, and the agent is refused with approval_rejected', async () => {
    const gated = agent.callTool(
      { name: 'notes__delete_note', arguments: { id: 'n2' } },
      undefined,
      {
        timeout: 90_000,
      },
    ) as Promise<CallToolResult>;
    const open = await pending();
    const r = await approve(approver.token, open.id, {
      verdict: 'rejected',
      signature: verdictSignature(open, 'rejected', approver.privateKey),
    });
    expect(r.status, r.text).toBe(200);
    const result = await gated;
    expect(result.isError).toBe(true);
    expect((result._meta?.[ERROR_META_KEY] as Json).code).toBe('approval_rejected');
    expect(upstreamCalls(upstreamLog).map((c) => c.tool)).toEqual(['delete_note']);
  }, 120_000);
});
