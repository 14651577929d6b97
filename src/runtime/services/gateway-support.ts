/**
 * What the MCP gateway needs besides decisions and approvals (./approvals.ts): sealing each
 * tool call, and reading the sealed calls back as per-tool counts with the gateway's added
 * latency.
 */
import type { JsonValue } from '../../core/canonical.ts';
import { canonicalBytes } from '../../core/canonical.ts';
import { SigilError } from '../../core/errors.ts';
import { sha256Hex } from '../../core/hash.ts';
import type { RuntimeCore } from '../core.ts';
import type { Caller } from '../decide.ts';
import { mayReadKind } from '../read-access.ts';
import { MAX_STATS_MINUTES, MINUTE_MS } from './decision-tally.ts';

export interface McpCallEntry {
  upstream: string;
  tool: string;
  decision_id: string;
  arguments: JsonValue;
  result?: JsonValue;
  outcome: 'ok' | 'denied' | 'error' | 'timeout';
  /** The whole call, from the request's arrival to its sealing. */
  latency_ms: number;
  /** The upstream's own time, when it was called (absent in records of older versions). */
  upstream_ms?: number;
  /** The time a human took to decide the call's approval, when it needed one. */
  approval_ms?: number;
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
      ...(entry.upstream_ms === undefined ? {} : { upstream_ms: entry.upstream_ms }),
      ...(entry.approval_ms === undefined ? {} : { approval_ms: entry.approval_ms }),
      error: entry.error ?? null,
      ...(entry.redaction === undefined ? {} : { redaction: entry.redaction }),
    },
    { links: [{ rel: 'decision', id: entry.decision_id }] },
  );
  return { record_id: record.id, seq: record.seq };
}

/** One tool's calls in the window; the latencies are medians over the calls that timed them. */
export interface ToolCallStats {
  upstream: string;
  tool: string;
  calls: number;
  /** Calls whose record carries the upstream's own time (older records do not). */
  timed: number;
  /** Median of latency − upstream − approval wait: what the gateway itself added. */
  median_added_ms: number | null;
  median_upstream_ms: number | null;
}

export interface GatewayStats {
  minutes: number;
  since: string;
  tools: ToolCallStats[];
  /** mcp_call records read; at most MAX_CALLS_READ. */
  scanned: number;
  /** False when the window held more calls than one request reads: the oldest are counted. */
  complete: boolean;
}

/** The most mcp_call records one stats request reads (ten log pages). */
export const MAX_CALLS_READ = 10_000;
const PAGE = 1000;

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const m = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return Math.round(m * 1000) / 1000;
}

const num = (v: JsonValue | undefined): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;

/**
 * The gateway's calls per tool in the last `minutes`, read from the sealed `mcp_call` records
 * (everyone's for a `canon.audit` token, the caller's own otherwise, Root's too), with the median
 * added latency of each: the call's whole latency less the upstream's own time and any wait for
 * a human's approval. Adjudicated as `trust.status`, like the decision counts.
 */
export async function gatewayStats(
  core: RuntimeCore,
  caller: Caller,
  minutes: number,
): Promise<GatewayStats> {
  await core.require(caller, { action: 'trust.status', target: 'gateway/stats' });
  if (!Number.isSafeInteger(minutes) || minutes < 1 || minutes > MAX_STATS_MINUTES) {
    throw new SigilError('bad_request', `minutes must be 1..${MAX_STATS_MINUTES}`);
  }
  const since = new Date((Math.floor(core.now() / MINUTE_MS) - minutes + 1) * MINUTE_MS);
  const byTool = new Map<
    string,
    { upstream: string; tool: string; n: number; added: number[]; up: number[] }
  >();
  let scanned = 0;
  let cursor: string | undefined;
  do {
    const page = await core.log.list({
      kind: 'mcp_call',
      since: since.toISOString(),
      limit: PAGE,
      ...(cursor === undefined ? {} : { cursor }),
    });
    scanned += page.records.length;
    cursor = page.cursor;
    for (const r of page.records) {
      const p = r.payload as { [k: string]: JsonValue };
      if (!mayReadKind(caller, 'mcp_call', typeof p.caller === 'string' ? p.caller : undefined)) {
        continue;
      }
      const upstream = typeof p.upstream === 'string' ? p.upstream : '';
      const tool = typeof p.tool === 'string' ? p.tool : '';
      const key = `${upstream}\u0000${tool}`;
      const t = byTool.get(key) ?? { upstream, tool, n: 0, added: [], up: [] };
      byTool.set(key, t);
      t.n++;
      const total = num(p.latency_ms);
      const upstreamMs = num(p.upstream_ms);
      if (total === undefined || upstreamMs === undefined) continue;
      t.up.push(upstreamMs);
      t.added.push(Math.max(0, total - upstreamMs - (num(p.approval_ms) ?? 0)));
    }
  } while (cursor !== undefined && scanned < MAX_CALLS_READ);
  return {
    minutes,
    since: since.toISOString(),
    tools: [...byTool.values()]
      .sort((a, b) => b.n - a.n || a.tool.localeCompare(b.tool))
      .map((t) => ({
        upstream: t.upstream,
        tool: t.tool,
        calls: t.n,
        timed: t.added.length,
        median_added_ms: median(t.added),
        median_upstream_ms: median(t.up),
      })),
    scanned,
    complete: cursor === undefined,
  };
}

/** The gateway room (`runtime.gateway`): what the MCP gateway seals about the calls it relays. */
export function gatewayService(core: RuntimeCore) {
  return {
    stats: (caller: Caller, minutes: number): Promise<GatewayStats> =>
      gatewayStats(core, caller, minutes),
    recordCall: (
      caller: Caller,
      entry: McpCallEntry,
    ): Promise<{ record_id: string; seq: number }> => recordMcpCall(core, caller, entry),
  };
}
export type GatewayService = ReturnType<typeof gatewayService>;
