/**
 * The human approval gate (the governance monitor's, gatekeeper/monitor.ts) on live calls: a
 * gated gateway call waits in the store until a human Mentor or Root signs a verdict on it.
 *
 * - A request seals the call's tool, the hash of its arguments and the arguments themselves (in
 *   the encrypted record body; the view row keeps the hash and the record's id only).
 * - Listing and deciding are adjudicated like any action (`approval.read`, `approval.decide`:
 *   matrix, scopes, rate limits, AI signers refused) and sealed as decisions.
 * - A verdict is the approver's typed human signature over {approval id, tool, arguments hash,
 *   verdict}, verified under a key the approver enrolled as a witness; the signature and the key
 *   are sealed with the verdict, which links the decision that allowed it.
 */
import type { JsonValue } from '../../core/canonical.ts';
import { canonicalBytes } from '../../core/canonical.ts';
import { fromBase64Url } from '../../core/encoding.ts';
import { isSigilError, SigilError } from '../../core/errors.ts';
import { sha256Hex } from '../../core/hash.ts';
import { newRecordId } from '../../canon/record.ts';
import {
  decideApproval as applyVerdict,
  openApprovalGate,
  type ApprovalVerdict,
} from '../../gatekeeper/index.ts';
import { asJson, checkId, iso, newId, type RuntimeCore } from '../core.ts';
import { VIEWS } from '../view-ns.ts';
import type { Caller } from '../decide.ts';
import { witnessRegistry } from './witnesses.ts';

const APPROVAL_POLL_MS = 100;

/** An approval request as the view keeps it (no arguments: those stay in the sealed body). */
export interface ApprovalInfo {
  id: string;
  status: 'pending' | 'approved' | 'rejected';
  action: string;
  target: string;
  tool: string;
  arguments_hash: string;
  summary: string;
  decision_id: string;
  requested_by: string;
  created_at: string;
  /** The record holding the call's arguments. */
  request_record_id: string;
  decided_by?: string;
  decided_at?: string;
  /** The decision that allowed the verdict. */
  verdict_decision_id?: string;
  /** The approver's typed human signature over the verdict, and the witness key it verified under. */
  signature?: string;
  witness_id?: string;
}

/** An approval as an approver sees it: with the call's arguments, decrypted for them. */
export type ApprovalView = ApprovalInfo & { arguments: JsonValue | null };

/** Hex SHA-256 of the canonical arguments: what the approver's signature covers. */
export function argumentsHash(args: JsonValue): string {
  return sha256Hex(canonicalBytes(args));
}

/** Opens a pending request for a gated call; the gateway waits on it (see awaitApproval). */
export async function requestApproval(
  core: RuntimeCore,
  caller: Caller,
  input: {
    decision_id: string;
    action: string;
    target: string;
    tool: string;
    arguments: JsonValue;
    summary: string;
  },
): Promise<{ id: string }> {
  const recordId = newRecordId();
  const gate = openApprovalGate({
    approval_id: newId(),
    tool: input.tool,
    arguments_hash: argumentsHash(input.arguments),
  });
  const approval: ApprovalInfo = {
    id: gate.approval_id,
    status: 'pending',
    action: input.action,
    target: input.target,
    tool: gate.tool,
    arguments_hash: gate.arguments_hash,
    summary: input.summary,
    decision_id: input.decision_id,
    requested_by: caller.subject,
    created_at: iso(core.now()),
    request_record_id: recordId,
  };
  await core.append(
    'governance_event',
    { event: 'approval_requested', approval: asJson(approval), arguments: input.arguments },
    { id: recordId, links: [{ rel: 'decision', id: input.decision_id }] },
  );
  return { id: approval.id };
}

async function loadApproval(core: RuntimeCore, id: string): Promise<ApprovalInfo> {
  const current = await VIEWS.approvals.get(core.log.views, id);
  if (!current) throw new SigilError('not_found', `no approval request ${id}`);
  return current;
}

/** The witness keys `subject` enrolled and has not revoked. */
async function enrolledKeys(
  core: RuntimeCore,
  subject: string,
): Promise<{ witness_id: string; key: Uint8Array }[]> {
  const keys: { witness_id: string; key: Uint8Array }[] = [];
  for (const w of (await witnessRegistry(core)).entries.values()) {
    if (w.did !== subject || w.revoked_at !== null) continue;
    try {
      keys.push({ witness_id: w.witness_id, key: fromBase64Url(w.public_key) });
    } catch {
      // An undecodable key verifies nothing; the others still may.
    }
  }
  return keys;
}

/**
 * A human Mentor or Root signs a verdict on a pending request. Adjudicated first (a denial is
 * sealed and thrown); then 'not_found', 'approval_not_pending', 'approver_not_enrolled' (no witness key to verify under) or
 * 'approval_signature_invalid'. Only then is the verdict sealed.
 */
export async function decideApproval(
  core: RuntimeCore,
  approver: Caller,
  id: string,
  input: { verdict: ApprovalVerdict; signature: string },
): Promise<{ id: string; status: ApprovalVerdict; decision_id: string }> {
  checkId(id, 'approval id');
  const d = await core.require(approver, {
    action: 'approval.decide',
    target: `approvals/${id}`,
    payload: { verdict: input.verdict },
  });
  const current = await loadApproval(core, id);
  if (current.status !== 'pending') {
    throw new SigilError('approval_not_pending', `approval ${id} is already ${current.status}`);
  }
  const keys = await enrolledKeys(core, approver.subject);
  if (keys.length === 0) {
    throw new SigilError(
      'approver_not_enrolled',
      `${approver.subject} has no witness key to sign approvals with; enrol one first`,
    );
  }
  const { gate, key } = applyVerdict(
    {
      approval_id: current.id,
      tool: current.tool,
      arguments_hash: current.arguments_hash,
      status: current.status,
      decided_by: null,
      decided_at: null,
    },
    {
      approver_did: approver.subject,
      verdict: input.verdict,
      signer_type: approver.signer,
      signature: input.signature,
    },
    keys.map((k) => k.key),
    core.now(),
  );
  const next: ApprovalInfo = {
    ...current,
    status: input.verdict,
    decided_by: gate.decided_by!,
    decided_at: gate.decided_at!,
    verdict_decision_id: d.decision_id,
    signature: input.signature,
    witness_id: keys[key]!.witness_id,
  };
  // Compare-and-set on the pending row (made by the request record): of two verdicts racing,
  // on one instance or several over one database, the store seals only the first.
  const request = await core.log.get(current.request_record_id);
  if (request === undefined) {
    throw new SigilError('state_invalid', `approval ${id}: its request record is missing`);
  }
  try {
    await core.append(
      'governance_event',
      { event: `approval_${input.verdict}`, approval: asJson(next) },
      { links: [{ rel: 'decision', id: d.decision_id }] },
      { expect: [{ ns: VIEWS.approvals.name, key: id, seq: request.seq }] },
    );
  } catch (err) {
    if (isSigilError(err) && err.code === 'conflict') {
      throw new SigilError('approval_not_pending', `approval ${id} was decided meanwhile`);
    }
    throw err;
  }
  return { id, status: input.verdict, decision_id: d.decision_id };
}

/** Waits for a verdict on a request, polling the store; `stopped` ends the wait early. */
export async function awaitApproval(
  core: RuntimeCore,
  id: string,
  timeoutMs: number,
  stopped: () => boolean,
): Promise<'approved' | 'rejected' | 'timeout'> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = await VIEWS.approvals.get(core.log.views, id);
    if (a && a.status !== 'pending') return a.status;
    if (Date.now() >= deadline || stopped()) return 'timeout';
    await new Promise((r) =>
      setTimeout(r, Math.min(APPROVAL_POLL_MS, Math.max(1, deadline - Date.now()))),
    );
  }
}

/** The call's arguments from the request's sealed body (null when the record holds none). */
async function argumentsOf(core: RuntimeCore, approval: ApprovalInfo): Promise<JsonValue | null> {
  if (typeof approval.request_record_id !== 'string') return null;
  const record = await core.log.get(approval.request_record_id);
  const payload = record?.kind === 'governance_event' ? record.payload : null;
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return null;
  const args = payload.arguments;
  // Shown only when they are the arguments the approver's signature will cover.
  return args !== undefined && argumentsHash(args) === approval.arguments_hash ? args : null;
}

/** Every request, newest first, each with its arguments (adjudicated as `approval.read`). */
export async function listApprovals(core: RuntimeCore, caller: Caller): Promise<ApprovalView[]> {
  await core.require(caller, { action: 'approval.read', target: 'approvals' });
  const rows = (await VIEWS.approvals.list(core.log.views)).map((r) => r.value);
  rows.sort((a, b) => b.created_at.localeCompare(a.created_at));
  return Promise.all(rows.map(async (a) => ({ ...a, arguments: await argumentsOf(core, a) })));
}

/** The approvals room (`runtime.approvals`): a human's signed yes or no on a gated call. */
export function approvalsService(core: RuntimeCore, stopped: () => boolean) {
  return {
    request: (
      caller: Caller,
      input: Parameters<typeof requestApproval>[2],
    ): Promise<{ id: string }> => requestApproval(core, caller, input),
    /** The approver's signed verdict on a pending request. */
    decide: (
      approver: Caller,
      id: string,
      input: { verdict: ApprovalVerdict; signature: string },
    ): Promise<{ id: string; status: ApprovalVerdict; decision_id: string }> =>
      decideApproval(core, approver, id, input),
    /** Waits for a human decision on an approval request (polling the store); ends on close. */
    await: (id: string, timeoutMs: number): Promise<'approved' | 'rejected' | 'timeout'> =>
      awaitApproval(core, id, timeoutMs, stopped),
    list: (caller: Caller): Promise<ApprovalView[]> => listApprovals(core, caller),
  };
}
export type ApprovalsService = ReturnType<typeof approvalsService>;
