/**
 * What the MCP gateway needs besides decisions and approvals (./approvals.ts): sealing each
 * tool call.
 */
import type { JsonValue } from '../../core/canonical.ts';
import { canonicalBytes } from '../../core/canonical.ts';
import { sha256Hex } from '../../core/hash.ts';
import type { RuntimeCore } from '../core.ts';
import type { Caller } from '../decide.ts';

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
