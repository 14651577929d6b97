/**
 * What the MCP gateway needs besides decisions: sealing each tool call, and the human
 * approval gate (requests kept in the store, so a human may decide from another process).
 */
import type { JsonValue } from '../../core/canonical.ts';
import { canonicalBytes } from '../../core/canonical.ts';
import { SigilError } from '../../core/errors.ts';
import { sha256Hex } from '../../core/hash.ts';
import { loaAtLeast } from '../../policy/index.ts';
import { NS, asJson, checkId, iso, newId, type RuntimeCore } from '../core.ts';
import type { Caller } from '../decide.ts';

const APPROVAL_POLL_MS = 100;

export interface ApprovalInfo {
  id: string;
  status: 'pending' | 'approved' | 'rejected';
  action: string;
  target: string;
  summary: string;
  decision_id: string;
  requested_by: string;
  created_at: string;
  decided_by?: string;
  decided_at?: string;
}

export interface McpCallEntry {
  upstream: string;
  tool: string;
  decision_id: string;
  arguments: JsonValue;
  result?: JsonValue;
  outcome: 'ok' | 'denied' | 'error' | 'timeout';
  latency_ms: number;
  error?: string;
  /** What redaction replaced: the unredacted content's hash and the kinds found, never a secret. */
  redaction?: JsonValue;
}

/** Seals one gateway tool call; arguments and results live only in the encrypted body. */
export async function recordMcpCall(
  core: RuntimeCore,
  caller: Caller,
  entry: McpCallEntry,
): Promise<{ record_id: string; seq: number }> {
  const record = await core.append(
    'mcp_call',
    {
      caller: caller.subject,
      upstream: entry.upstream,
      tool: entry.tool,
      arguments_hash: sha256Hex(canonicalBytes(entry.arguments ?? null)),
      result_hash: entry.result === undefined ? null : sha256Hex(canonicalBytes(entry.result)),
      arguments: entry.arguments ?? null,
      result: entry.result ?? null,
      outcome: entry.outcome,
      latency_ms: entry.latency_ms,
      error: entry.error ?? null,
      ...(entry.redaction === undefined ? {} : { redaction: entry.redaction }),
    },
    { links: [{ rel: 'decision', id: entry.decision_id }] },
  );
  return { record_id: record.id, seq: record.seq };
}

export async function requestApproval(
  core: RuntimeCore,
  caller: Caller,
  input: { decision_id: string; action: string; target: string; summary: string },
): Promise<{ id: string }> {
  const approval: ApprovalInfo = {
    id: newId(),
    status: 'pending',
    action: input.action,
    target: input.target,
    summary: input.summary,
    decision_id: input.decision_id,
    requested_by: caller.subject,
    created_at: iso(core.now()),
  };
  await core.append('governance_event', {
    event: 'approval_requested',
    approval: asJson(approval),
  });
  return { id: approval.id };
}

function assertHumanMentor(caller: Caller, what: string): void {
  if (caller.signer.type !== 'human') {
    throw new SigilError('approver_not_human', 'only a human may approve');
  }
  if (!loaAtLeast(caller.loa, 'mentor') || !caller.verified) {
    throw new SigilError('loa_insufficient', `${what} need a human Mentor or Root`);
  }
}

/** A human Mentor or Root approves or rejects a pending request. */
export async function approve(
  core: RuntimeCore,
  approver: Caller,
  id: string,
  approved: boolean,
): Promise<{ id: string; status: 'approved' | 'rejected' }> {
  assertHumanMentor(approver, 'approvals');
  const current = (await core.log.views.get(NS.approvals, checkId(id, 'approval id'))) as
    ApprovalInfo | undefined;
  if (!current) throw new SigilError('not_found', `no approval request ${id}`);
  if (current.status !== 'pending') {
    throw new SigilError('conflict', `approval ${id} is already ${current.status}`);
  }
  const status = approved ? 'approved' : 'rejected';
  const next: ApprovalInfo = {
    ...current,
    status,
    decided_by: approver.subject,
    decided_at: iso(core.now()),
  };
  await core.append('governance_event', { event: `approval_${status}`, approval: asJson(next) });
  return { id, status };
}

/** Waits for a decision on a request, polling the store; `stopped` ends the wait early. */
export async function awaitApproval(
  core: RuntimeCore,
  id: string,
  timeoutMs: number,
  stopped: () => boolean,
): Promise<'approved' | 'rejected' | 'timeout'> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = (await core.log.views.get(NS.approvals, id)) as ApprovalInfo | undefined;
    if (a && a.status !== 'pending') return a.status;
    if (Date.now() >= deadline || stopped()) return 'timeout';
    await new Promise((r) =>
      setTimeout(r, Math.min(APPROVAL_POLL_MS, Math.max(1, deadline - Date.now()))),
    );
  }
}

export async function listApprovals(core: RuntimeCore, caller: Caller): Promise<ApprovalInfo[]> {
  if (!loaAtLeast(caller.loa, 'mentor') || !caller.verified) {
    throw new SigilError('loa_insufficient', 'approvals are listed for Mentors and Root');
  }
  return (await core.log.views.list(NS.approvals)).map((r) => r.value as unknown as ApprovalInfo);
}

/** The approvals room (`runtime.approvals`): a human's yes or no on a gated agent action. */
export function approvalsService(core: RuntimeCore, stopped: () => boolean) {
  return {
    request: (
      caller: Caller,
      input: { decision_id: string; action: string; target: string; summary: string },
    ): Promise<{ id: string }> => requestApproval(core, caller, input),
    approve: (
      approver: Caller,
      id: string,
      approved: boolean,
    ): Promise<{ id: string; status: 'approved' | 'rejected' }> =>
      approve(core, approver, id, approved),
    /** Waits for a human decision on an approval request (polling the store); ends on close. */
    await: (id: string, timeoutMs: number): Promise<'approved' | 'rejected' | 'timeout'> =>
      awaitApproval(core, id, timeoutMs, stopped),
    list: (caller: Caller): Promise<ApprovalInfo[]> => listApprovals(core, caller),
  };
}
export type ApprovalsService = ReturnType<typeof approvalsService>;

/** The gateway room (`runtime.gateway`): what the MCP gateway seals about the calls it relays. */
export function gatewayService(core: RuntimeCore) {
  return {
    recordCall: (
      caller: Caller,
      entry: McpCallEntry,
    ): Promise<{ record_id: string; seq: number }> => recordMcpCall(core, caller, entry),
  };
}
export type GatewayService = ReturnType<typeof gatewayService>;
