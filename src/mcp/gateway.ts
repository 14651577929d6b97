/**
 * The gateway's core, independent of how the agent connects: it holds the upstreams and the
 * policy table, shows each caller only what it may use, and runs every tools/call (and every
 * resource read and prompt get) through Sigil before it may reach an upstream:
 *
 *   runtime.check (LOA, scope, rate limit, the six MCP rules, invariants, trust; sealed as a
 *   `decision` record) → the gateway's policy row (default deny, min_loa, scope) → human
 *   approval when the row asks for it → the upstream, within its timeout → an `mcp_call`
 *   record sealing arguments and result (encrypted; hashes in clear) → the result, marked
 *   AI-mediated in `_meta`.
 *
 * Identity comes only from the authenticated caller; claims in `_meta` are handed to decide()
 * as claims, so a forged subject or signer type is a recorded mcp-004 violation.
 */
import { readFileSync } from 'node:fs';
import {
  CallToolResultSchema,
  ErrorCode,
  GetPromptResultSchema,
  McpError,
  ReadResourceResultSchema,
  type CallToolResult,
  type GetPromptResult,
  type Implementation,
  type Prompt,
  type ReadResourceResult,
  type Resource,
  type ResourceTemplate,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { JsonValue } from '../core/canonical.ts';
import { canonicalBytes } from '../core/canonical.ts';
import { isSigilError } from '../core/errors.ts';
import { sha256Hex } from '../core/hash.ts';
import { AI_OUTPUT_META_KEY, markOutput } from '../gatekeeper/index.ts';
import { authorize, effectiveLoa, scopeAllows, type Loa } from '../policy/index.ts';
import type { Caller, DecisionRequest, SigilRuntime } from '../runtime/index.ts';
import type { GatewayConfig, PolicyKind } from './config.ts';
import { namespacedName, namespacedUri, splitNamespaced, splitNamespacedUri } from './names.ts';
import { PolicyTable } from './policy.ts';
import { Upstream } from './upstream.ts';
import { normaliseResourceUri } from './uri.ts';

/** The MCP action every governed gateway operation is adjudicated as. */
export const MCP_ACTION = 'mcp.tools.call';
/** `_meta` key carrying the decision record id of a call. */
export const DECISION_META_KEY = 'sigil/decision_id';
/** `_meta` key carrying a denial: {code, reason, decision_id, approval_id?}. */
export const ERROR_META_KEY = 'sigil/error';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
/** How the gateway introduces itself to agents and upstreams. */
export const GATEWAY_INFO: Implementation = { name: 'sigil-gateway', version: pkg.version };

/** Per-call hooks from the agent-facing server. */
export interface CallContext {
  /** Tells the agent something while it waits (an approval); best effort. */
  notify?: (message: string) => void;
}

/** A refused or failed operation, as the agent sees it. */
export interface GatewayDenial {
  code: string;
  reason: string;
  decision_id: string | null;
  approval_id?: string;
}

export interface GatewayOptions {
  runtime: SigilRuntime;
  config: GatewayConfig;
  /** Diagnostics; never the agent's channel. Defaults to stderr. */
  log?: (line: string) => void;
  /** Restart backoff bounds for upstreams (tests shorten them). */
  backoff?: { initialMs: number; maxMs: number };
}

type Outcome<T> = { ok: true; value: T; decisionId: string } | { ok: false; denial: GatewayDenial };

interface Operation<T> {
  kind: PolicyKind;
  /** The namespaced name the policy table matches. */
  policyName: string;
  upstream: Upstream | undefined;
  upstreamName: string;
  /** The tool (or `resource:<uri>`, `prompt:<name>`) as recorded in the mcp_call record. */
  recordName: string;
  target: string;
  payload: JsonValue;
  meta: unknown;
  /** Whether the upstream offers the name (last known catalogue); resources are its call. */
  offered: (upstream: Upstream) => boolean;
  exec: (upstream: Upstream, timeoutMs: number, decisionId: string) => Promise<T>;
  /** A tool result that reports its own failure is recorded as outcome 'error'. */
  failed?: (value: T) => boolean;
  /** Refused before any policy row applies (an unsafe resource URI); sealed like any denial. */
  refusal?: { code: string; reason: string };
}

const CLAIM_KEYS = {
  subject: ['sigil/subject', 'subject'],
  signerType: ['sigil/signer_type', 'signer_type', 'signerType'],
  delegationId: ['sigil/delegation_id', 'delegation_id', 'delegationId'],
} as const;

/** What a request's `_meta` claims about its author (compared with the token by mcp-004). */
export function claimsFromMeta(meta: unknown): DecisionRequest['claimed'] {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return undefined;
  const m = meta as Record<string, unknown>;
  const out: { subject?: string; signerType?: string; delegationId?: string } = {};
  for (const [field, keys] of Object.entries(CLAIM_KEYS) as [
    keyof typeof out,
    readonly string[],
  ][]) {
    for (const key of keys) {
      if (!Object.hasOwn(m, key)) continue;
      const v = m[key];
      out[field] = typeof v === 'string' ? v : JSON.stringify(v);
      break;
    }
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function asJson(value: unknown): JsonValue {
  return (value ?? null) as JsonValue;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function errorCode(err: unknown): string {
  return isSigilError(err) ? err.code : 'internal_error';
}

/** What the agent gets when the log could not take a decision or an outcome. */
function unsealed<T>(decisionId: string | null, reason: string): Outcome<T> {
  return { ok: false, denial: { code: 'record_failed', reason, decision_id: decisionId } };
}

export class Gateway {
  readonly runtime: SigilRuntime;
  readonly config: GatewayConfig;
  readonly policy: PolicyTable;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly #log: (line: string) => void;
  readonly #listeners = new Set<() => void>();
  readonly #inflight = new Set<Promise<unknown>>();
  #closed = false;

  private constructor(opts: GatewayOptions) {
    this.runtime = opts.runtime;
    this.config = opts.config;
    this.policy = new PolicyTable(opts.config.policies);
    this.#log = opts.log ?? ((line) => process.stderr.write(`sigil gateway: ${line}\n`));
    const upstreams = new Map<string, Upstream>();
    for (const cfg of opts.config.upstreams) {
      upstreams.set(
        cfg.name,
        new Upstream(cfg, {
          clientInfo: GATEWAY_INFO,
          log: this.#log,
          onChange: () => this.#changed(),
          connectTimeoutMs: opts.config.callTimeoutMs,
          ...(opts.backoff ? { backoff: opts.backoff } : {}),
        }),
      );
    }
    this.upstreams = upstreams;
  }

  /** Starts the gateway: connects every upstream once (failures retry in the background). */
  static async start(opts: GatewayOptions): Promise<Gateway> {
    const gateway = new Gateway(opts);
    await Promise.all([...gateway.upstreams.values()].map((u) => u.start()));
    return gateway;
  }

  /** Subscribes to catalogue changes (an upstream (re)connected or changed its lists). */
  onCatalogChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #changed(): void {
    for (const fn of this.#listeners) fn();
  }

  /** The level the runtime will judge this caller at (strict mode caps unverified callers). */
  effectiveLoa(caller: Caller): Loa {
    return effectiveLoa(this.runtime.config.irl.enforcementMode, caller.loa, caller.verified);
  }

  /** Whether the caller may use a governed name at all, as far as can be known without asking. */
  #visible(caller: Caller, kind: PolicyKind, name: string): boolean {
    const loa = this.effectiveLoa(caller);
    const flags = {
      allow_operator_canon_write: this.runtime.config.trust.allowOperatorCanonWrite,
      allow_admin_export: this.runtime.config.trust.allowAdminExport,
    };
    return (
      authorize(loa, MCP_ACTION, flags).allowed &&
      scopeAllows(caller.scopes, MCP_ACTION) &&
      this.policy.check(kind, name, loa, caller.scopes) === null
    );
  }

  /** The tools this caller may call, namespaced; everything else stays hidden. */
  listTools(caller: Caller): Tool[] {
    const out: Tool[] = [];
    for (const up of this.upstreams.values()) {
      for (const tool of up.catalog.tools) {
        const name = namespacedName(up.name, tool.name);
        if (this.#visible(caller, 'tool', name)) out.push({ ...tool, name });
      }
    }
    return out;
  }

  listResources(caller: Caller): Resource[] {
    const out: Resource[] = [];
    for (const up of this.upstreams.values()) {
      for (const r of up.catalog.resources) {
        if (this.#visible(caller, 'resource', namespacedName(up.name, r.uri))) {
          out.push({ ...r, uri: namespacedUri(up.name, r.uri) });
        }
      }
    }
    return out;
  }

  listResourceTemplates(caller: Caller): ResourceTemplate[] {
    const out: ResourceTemplate[] = [];
    for (const up of this.upstreams.values()) {
      for (const t of up.catalog.resourceTemplates) {
        if (this.#visible(caller, 'resource', namespacedName(up.name, t.uriTemplate))) {
          out.push({ ...t, uriTemplate: namespacedUri(up.name, t.uriTemplate) });
        }
      }
    }
    return out;
  }

  listPrompts(caller: Caller): Prompt[] {
    const out: Prompt[] = [];
    for (const up of this.upstreams.values()) {
      for (const p of up.catalog.prompts) {
        const name = namespacedName(up.name, p.name);
        if (this.#visible(caller, 'prompt', name)) out.push({ ...p, name });
      }
    }
    return out;
  }

  /** One tools/call: adjudicated, maybe approved, forwarded, sealed, marked. Never throws. */
  async callTool(
    caller: Caller,
    params: { name: string; arguments?: Record<string, unknown>; _meta?: unknown },
    ctx: CallContext = {},
  ): Promise<CallToolResult> {
    const route = splitNamespaced(params.name);
    const upstreamName = route?.upstream ?? '';
    const tool = route?.name ?? params.name;
    const args = asJson(params.arguments ?? {});
    const outcome = await this.#run(
      caller,
      {
        kind: 'tool',
        policyName: params.name,
        upstream: route ? this.upstreams.get(route.upstream) : undefined,
        upstreamName,
        recordName: tool,
        target: `${upstreamName}/${tool}`,
        payload: args,
        meta: params._meta,
        offered: (up) => up.catalog.tools.some((t) => t.name === tool),
        exec: (up, timeoutMs, decisionId) =>
          up.request(
            'tools/call',
            {
              name: tool,
              arguments: params.arguments ?? {},
              _meta: { [DECISION_META_KEY]: decisionId },
            },
            CallToolResultSchema,
            timeoutMs,
          ),
        failed: (r) => r.isError === true,
      },
      ctx,
    );
    if (!outcome.ok) return denialResult(outcome.denial);
    return { ...outcome.value, _meta: marked(outcome.value._meta, outcome.decisionId) };
  }

  /** resources/read of a gateway URI; denials throw McpError carrying the Sigil code. */
  async readResource(
    caller: Caller,
    params: { uri: string; _meta?: unknown },
    ctx: CallContext = {},
  ): Promise<ReadResourceResult> {
    const route = splitNamespacedUri(params.uri);
    const upstreamName = route?.upstream ?? '';
    // The row is matched against the URI the upstream will resolve, and that URI is sent.
    const normalised = normaliseResourceUri(route?.uri ?? params.uri);
    const uri = normalised.ok ? normalised.uri : (route?.uri ?? params.uri);
    const outcome = await this.#run(
      caller,
      {
        kind: 'resource',
        policyName: namespacedName(upstreamName, uri),
        upstream: route ? this.upstreams.get(route.upstream) : undefined,
        upstreamName,
        recordName: `resource:${uri}`,
        target: `${upstreamName}/resource/${uri}`,
        payload: { uri },
        meta: params._meta,
        offered: () => true,
        ...(normalised.ok
          ? {}
          : {
              refusal: {
                code: 'resource_uri_invalid',
                reason: `resource URI refused: ${normalised.reason}`,
              },
            }),
        exec: (up, timeoutMs) =>
          up.request('resources/read', { uri }, ReadResourceResultSchema, timeoutMs),
      },
      ctx,
    );
    if (!outcome.ok) throw denialError(outcome.denial);
    const contents = outcome.value.contents.map((c) => ({
      ...c,
      uri: namespacedUri(upstreamName, c.uri),
    }));
    return { ...outcome.value, contents, _meta: marked(outcome.value._meta, outcome.decisionId) };
  }

  /** prompts/get of a namespaced prompt; denials throw McpError carrying the Sigil code. */
  async getPrompt(
    caller: Caller,
    params: { name: string; arguments?: Record<string, string>; _meta?: unknown },
    ctx: CallContext = {},
  ): Promise<GetPromptResult> {
    const route = splitNamespaced(params.name);
    const upstreamName = route?.upstream ?? '';
    const prompt = route?.name ?? params.name;
    const outcome = await this.#run(
      caller,
      {
        kind: 'prompt',
        policyName: params.name,
        upstream: route ? this.upstreams.get(route.upstream) : undefined,
        upstreamName,
        recordName: `prompt:${prompt}`,
        target: `${upstreamName}/prompt/${prompt}`,
        payload: asJson(params.arguments ?? {}),
        meta: params._meta,
        offered: (up) => up.catalog.prompts.some((p) => p.name === prompt),
        exec: (up, timeoutMs) =>
          up.request(
            'prompts/get',
            { name: prompt, arguments: params.arguments ?? {} },
            GetPromptResultSchema,
            timeoutMs,
          ),
      },
      ctx,
    );
    if (!outcome.ok) throw denialError(outcome.denial);
    return { ...outcome.value, _meta: marked(outcome.value._meta, outcome.decisionId) };
  }

  async #run<T>(caller: Caller, op: Operation<T>, ctx: CallContext): Promise<Outcome<T>> {
    if (this.#closed) {
      return {
        ok: false,
        denial: {
          code: 'gateway_closed',
          reason: 'the gateway is shutting down',
          decision_id: null,
        },
      };
    }
    const work = this.#govern(caller, op, ctx);
    this.#inflight.add(work);
    try {
      return await work;
    } finally {
      this.#inflight.delete(work);
    }
  }

  async #govern<T>(caller: Caller, op: Operation<T>, ctx: CallContext): Promise<Outcome<T>> {
    const started = performance.now();
    const rule = op.refusal === undefined ? this.policy.match(op.kind, op.policyName) : null;
    const claimed = claimsFromMeta(op.meta);
    let decision;
    try {
      decision = await this.runtime.check(caller, {
        action: MCP_ACTION,
        target: op.target,
        payload: op.payload,
        outputMarking: 'gateway',
        // The policy row is part of the decision, so the sealed verdict is the final one.
        policy:
          op.refusal === undefined
            ? this.policy.decisionPolicy(op.kind, op.policyName)
            : { rule: null, refusal: op.refusal },
        ...(rule?.risk === undefined ? {} : { declaredRisk: rule.risk }),
        ...(claimed ? { claimed } : {}),
      });
    } catch (err) {
      // No decision could be sealed: fail closed, and nothing reaches the upstream.
      this.#log(`decision failed for ${op.policyName}: ${errorText(err)}`);
      return unsealed(null, `the decision could not be sealed (${errorCode(err)})`);
    }
    const decisionId = decision.decision_id;
    /**
     * Seals the call's outcome and only then lets `result` out. Nothing about the trail is best
     * effort: an outcome that could not be sealed reaches the agent as `record_failed`, never
     * as the result or the denial it would have been.
     */
    const finish = async (
      outcome: 'ok' | 'denied' | 'error' | 'timeout',
      extra: { result?: JsonValue; error?: string },
      result: Outcome<T>,
    ): Promise<Outcome<T>> => {
      try {
        await this.runtime.recordMcpCall(caller, {
          upstream: op.upstreamName,
          tool: op.recordName,
          decision_id: decisionId,
          arguments: op.payload,
          outcome,
          latency_ms: Math.round((performance.now() - started) * 1000) / 1000,
          ...extra,
        });
      } catch (err) {
        this.#log(`could not seal the ${outcome} outcome of ${op.policyName}: ${errorText(err)}`);
        return unsealed(decisionId, `the call's outcome could not be sealed (${errorCode(err)})`);
      }
      return result;
    };
    const deny = (code: string, reason: string, approvalId?: string): Promise<Outcome<T>> =>
      finish(
        'denied',
        { error: `${code}: ${reason}` },
        {
          ok: false,
          denial: {
            code,
            reason,
            decision_id: decisionId,
            ...(approvalId === undefined ? {} : { approval_id: approvalId }),
          },
        },
      );

    if (decision.verdict === 'deny') {
      return deny(decision.code ?? 'internal_deny', decision.reason);
    }
    const upstream = op.upstream;
    if (upstream === undefined || !op.offered(upstream)) {
      return deny('tool_not_found', `no upstream offers ${op.kind} ${op.policyName}`);
    }

    if (rule?.approval) {
      const approval = await this.#approve(caller, op, decisionId, ctx);
      if (approval.status !== 'approved') {
        return deny(
          approval.status === 'rejected' ? 'approval_rejected' : 'approval_timeout',
          approval.status === 'rejected'
            ? `a human rejected approval ${approval.id}`
            : `no human decided approval ${approval.id} within ${this.config.approvalTimeoutMs} ms`,
          approval.id,
        );
      }
    }

    const timeoutMs = upstream.config.timeoutMs ?? this.config.callTimeoutMs;
    let value: T;
    try {
      value = await op.exec(upstream, timeoutMs, decisionId);
    } catch (err) {
      const timedOut = err instanceof McpError && err.code === ErrorCode.RequestTimeout;
      const code = timedOut
        ? 'upstream_timeout'
        : isSigilError(err)
          ? err.code
          : err instanceof McpError
            ? 'upstream_error'
            : 'upstream_failed';
      const reason = `${op.upstreamName}: ${errorText(err)}`;
      return finish(
        timedOut ? 'timeout' : 'error',
        { error: `${code}: ${reason}` },
        { ok: false, denial: { code, reason, decision_id: decisionId } },
      );
    }
    const failed = op.failed?.(value) ?? false;
    return finish(
      failed ? 'error' : 'ok',
      {
        result: asJson(value),
        ...(failed ? { error: 'tool_error: the tool reported an error' } : {}),
      },
      { ok: true, value, decisionId },
    );
  }

  async #approve<T>(
    caller: Caller,
    op: Operation<T>,
    decisionId: string,
    ctx: CallContext,
  ): Promise<{ id: string; status: 'approved' | 'rejected' | 'timeout' }> {
    // The summary is stored in clear, so it names the arguments by hash only.
    const argsHash = sha256Hex(canonicalBytes(op.payload));
    const { id } = await this.runtime.requestApproval(caller, {
      decision_id: decisionId,
      action: MCP_ACTION,
      target: op.target,
      summary: `${caller.subject} calls ${op.kind} ${op.policyName} (arguments sha256 ${argsHash})`,
    });
    const note = `approval ${id} pending: ${caller.subject} → ${op.policyName}; approve with: sigil approve ${id}`;
    this.#log(note);
    ctx.notify?.(note);
    const status = await this.runtime.awaitApproval(id, this.config.approvalTimeoutMs);
    return { id, status };
  }

  /** Stops accepting calls, lets in-flight ones finish (bounded), closes the upstreams. */
  async close(drainMs = 5_000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    if (this.#inflight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.#inflight]),
        new Promise((r) => {
          timer = setTimeout(r, drainMs);
        }),
      ]);
      clearTimeout(timer);
    }
    await Promise.all([...this.upstreams.values()].map((u) => u.close()));
  }
}

/** `_meta` with the AI marker and the decision id added to whatever the upstream sent. */
function marked(meta: unknown, decisionId: string): Record<string, unknown> {
  const base =
    typeof meta === 'object' && meta !== null && !Array.isArray(meta)
      ? (meta as Record<string, JsonValue>)
      : {};
  return { ...markOutput(base), [DECISION_META_KEY]: decisionId };
}

/** The MCP tool error result for a refused or failed call. */
export function denialResult(d: GatewayDenial): CallToolResult {
  const ref = d.decision_id === null ? '' : ` (decision ${d.decision_id})`;
  return {
    content: [{ type: 'text', text: `Sigil: ${d.code}: ${d.reason}${ref}` }],
    isError: true,
    _meta: {
      [AI_OUTPUT_META_KEY]: markOutput()[AI_OUTPUT_META_KEY],
      ...(d.decision_id === null ? {} : { [DECISION_META_KEY]: d.decision_id }),
      [ERROR_META_KEY]: { ...d },
    },
  };
}

/** The JSON-RPC error for a refused resource read or prompt get. */
export function denialError(d: GatewayDenial): McpError {
  const ref = d.decision_id === null ? '' : ` (decision ${d.decision_id})`;
  return new McpError(ErrorCode.InvalidRequest, `Sigil: ${d.code}: ${d.reason}${ref}`, { ...d });
}
