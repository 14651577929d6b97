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
  type Progress,
  type ReadResourceResult,
  type Resource,
  type ResourceTemplate,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import type { JsonValue } from '../core/canonical.ts';
import { canonicalBytes } from '../core/canonical.ts';
import { isSigilError, SigilError } from '../core/errors.ts';
import { sha256Hex } from '../core/hash.ts';
import { AI_OUTPUT_META_KEY, markOutput } from '../gatekeeper/index.ts';
import { authorize, effectiveLoa, scopeAllows, type Loa } from '../policy/index.ts';
import type { Caller, DecisionRequest, SigilRuntime } from '../runtime/index.ts';
import type { QuoteVerifier } from '../gatekeeper/tee.ts';
import { attestationRefusal, loadQuoteVerifier } from '../runtime/attestation.ts';
import type { GatewayConfig, PolicyKind } from './config.ts';
import {
  exportedName,
  exportedUri,
  namespacedName,
  splitNamespaced,
  splitNamespacedUri,
} from './names.ts';
import { ToolPins } from './pins.ts';
import { redactSecrets, type Redaction } from './redact.ts';
import { PolicyTable } from './policy.ts';
import { NO_TRACES, type CallTrace, type GatewayTracer } from './trace.ts';
import { Upstream, type RequestOptions, type UpstreamCatalog } from './upstream.ts';
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
  /** The agent session's own connection to an upstream, so what the upstream sends back
   * during the call (logs, progress, sampling) reaches this agent alone. */
  link?: (upstream: Upstream) => Upstream;
  /** The agent cancelled the request. */
  signal?: AbortSignal;
  /** Relays the upstream's progress notifications to the agent. */
  onprogress?: (progress: Progress) => void;
  /** The operation is already on the agent's link (a relayed request): no link lookup. */
  direct?: boolean;
  /** The agent's W3C traceparent (`_meta` or HTTP header): the call's trace continues it. */
  traceparent?: string | undefined;
}

function requestOptions(ctx: CallContext): RequestOptions {
  return {
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    ...(ctx.onprogress ? { onprogress: ctx.onprogress } : {}),
  };
}

/** The name policy rows match: always `<upstream name>__<own name>`, whatever the prefix. */
function policyNameOf(route: Route): string {
  return namespacedName(route.upstream.name, route.name);
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
  /** Verifies hardware TEE quotes; loaded from [tee] quote_verifier when not given. */
  quoteVerifier?: QuoteVerifier;
  /** OpenTelemetry spans (trace.ts); none by default. */
  tracer?: GatewayTracer;
}

export type Outcome<T> =
  { ok: true; value: T; decisionId: string } | { ok: false; denial: GatewayDenial };

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
  /**
   * Runs it upstream with `payload` (the arguments as redacted, when the row redacts) and
   * `meta`, the `_meta` the upstream gets (the decision id, the gateway's traceparent).
   */
  exec: (
    upstream: Upstream,
    timeoutMs: number,
    meta: Record<string, string>,
    payload: JsonValue,
  ) => Promise<T>;
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

/** A duration in ms, to the microsecond, as the mcp_call record carries it. */
function ms(duration: number): number {
  return Math.round(duration * 1000) / 1000;
}

/** What the agent gets when the log could not take a decision or an outcome. */
function unsealed<T>(decisionId: string | null, reason: string): Outcome<T> {
  return { ok: false, denial: { code: 'record_failed', reason, decision_id: decisionId } };
}

/** Where a name the agent used leads: the upstream and the upstream's own name for it. */
export interface Route {
  upstream: Upstream;
  name: string;
}

/** Exported tool and prompt names to their routes, for one set of upstream catalogues. */
interface RouteIndex {
  catalogs: UpstreamCatalog[];
  tool: Map<string, Route>;
  prompt: Map<string, Route>;
}

/** Exported names of one kind that more than one upstream offers. */
function duplicates(names: Iterable<[string, string]>): string[] {
  const owner = new Map<string, string>();
  const out: string[] = [];
  for (const [name, upstream] of names) {
    const first = owner.get(name);
    if (first !== undefined && first !== upstream) out.push(`${name} (${first}, ${upstream})`);
    owner.set(name, upstream);
  }
  return out;
}

export class Gateway {
  readonly runtime: SigilRuntime;
  readonly config: GatewayConfig;
  readonly policy: PolicyTable;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly backoff: { initialMs: number; maxMs: number } | undefined;
  readonly #quoteVerifier: QuoteVerifier | undefined;
  readonly pins: ToolPins;
  readonly #log: (line: string) => void;
  readonly #tracer: GatewayTracer;
  readonly #listeners = new Set<() => void>();
  readonly #inflight = new Set<Promise<unknown>>();
  #routeIndex: RouteIndex | undefined;
  #closed = false;

  private constructor(opts: GatewayOptions) {
    this.runtime = opts.runtime;
    this.config = opts.config;
    this.policy = new PolicyTable(opts.config.policies);
    this.backoff = opts.backoff;
    this.#quoteVerifier = opts.quoteVerifier;
    this.#tracer = opts.tracer ?? NO_TRACES;
    this.#log = opts.log ?? ((line) => process.stderr.write(`sigil gateway: ${line}\n`));
    this.pins = new ToolPins(opts.runtime, this.#log, () => this.#changed());
    const upstreams = new Map<string, Upstream>();
    for (const cfg of opts.config.upstreams) {
      const upstream: Upstream = new Upstream(cfg, {
        clientInfo: GATEWAY_INFO,
        log: this.#log,
        // A new catalogue is compared with its pins before anyone is told of it.
        onChange: () => void this.#repin(upstream),
        connectTimeoutMs: opts.config.callTimeoutMs,
        ...(opts.backoff ? { backoff: opts.backoff } : {}),
      });
      upstreams.set(cfg.name, upstream);
    }
    this.upstreams = upstreams;
  }

  async #repin(upstream: Upstream): Promise<void> {
    try {
      await this.pins.reconcile(upstream);
    } catch (err) {
      // Unsealed pins leave the tools unapproved (hidden): fail closed.
      this.#log(`could not check the pins of ${upstream.name}: ${errorText(err)}`);
    }
    this.#changed();
  }

  /**
   * Starts the gateway: connects every upstream once (failures retry in the background).
   * Refuses ('config_invalid') upstreams whose exported names collide, which an unprefixed
   * upstream (`prefix = ""`) can cause.
   */
  static async start(opts: GatewayOptions): Promise<Gateway> {
    const verifierPath = opts.config.tee?.quoteVerifier;
    const gateway = new Gateway(
      opts.quoteVerifier === undefined && verifierPath !== undefined
        ? { ...opts, quoteVerifier: await loadQuoteVerifier(verifierPath) }
        : opts,
    );
    await Promise.all([...gateway.upstreams.values()].map((u) => u.start()));
    await Promise.all([...gateway.upstreams.values()].map((u) => gateway.#repin(u)));
    const clashes = gateway.collisions();
    if (clashes.length > 0) {
      await gateway.close();
      throw new SigilError(
        'config_invalid',
        `${opts.config.file}: upstream names collide: ${clashes.join('; ')}`,
        { file: opts.config.file, key: 'upstream.prefix', line: null },
      );
    }
    return gateway;
  }

  /** Names the agent would see from more than one upstream (such names are never served). */
  collisions(): string[] {
    const ups = [...this.upstreams.values()];
    const each = (f: (u: Upstream) => string[]) =>
      ups.flatMap((u) => f(u).map((n): [string, string] => [n, u.name]));
    const p = (u: Upstream) => u.config.prefix;
    return [
      ...duplicates(each((u) => u.catalog.tools.map((t) => exportedName(p(u), t.name)))),
      ...duplicates(each((u) => u.catalog.prompts.map((t) => exportedName(p(u), t.name)))),
      ...duplicates(
        each((u) => [
          ...u.catalog.resources.map((r) => exportedUri(p(u), r.uri)),
          ...u.catalog.resourceTemplates.map((r) => exportedUri(p(u), r.uriTemplate)),
        ]),
      ),
    ];
  }

  /** Subscribes to catalogue changes (an upstream (re)connected or changed its lists). */
  onCatalogChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #changed(): void {
    const clashes = this.collisions();
    if (clashes.length > 0) this.#log(`names hidden because upstreams collide: ${clashes}`);
    for (const fn of this.#listeners) fn();
  }

  /** The level the runtime will judge this caller at (strict mode caps unverified callers). */
  effectiveLoa(caller: Caller): Loa {
    return effectiveLoa(this.runtime.config.irl.enforcementMode, caller.loa, caller.verified);
  }

  /** Whether the caller may use a governed name at all, as far as can be known without asking. */
  visible(caller: Caller, kind: PolicyKind, name: string): boolean {
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

  /** Every exported name of a kind with its route, colliding names left out. */
  #exports<T>(
    items: (u: Upstream) => T[],
    own: (item: T) => string,
    exported: (prefix: string, name: string) => string,
  ): Array<{ exported: string; route: Route; item: T }> {
    const all = [...this.upstreams.values()].flatMap((upstream) =>
      items(upstream).map((item) => ({
        exported: exported(upstream.config.prefix, own(item)),
        route: { upstream, name: own(item) },
        item,
      })),
    );
    const count = new Map<string, number>();
    for (const e of all) count.set(e.exported, (count.get(e.exported) ?? 0) + 1);
    return all.filter((e) => count.get(e.exported) === 1);
  }

  /** The tools this caller may call, under their exported names; everything else stays hidden. */
  listTools(caller: Caller): Tool[] {
    return this.#exports(
      (u) => u.catalog.tools,
      (t) => t.name,
      exportedName,
    )
      .filter(
        (e) =>
          this.pins.status(e.route.upstream, e.route.name) === 'approved' &&
          this.visible(caller, 'tool', policyNameOf(e.route)),
      )
      .map((e) => ({ ...e.item, name: e.exported }));
  }

  listResources(caller: Caller): Resource[] {
    return this.#exports(
      (u) => u.catalog.resources,
      (r) => r.uri,
      exportedUri,
    )
      .filter((e) => this.visible(caller, 'resource', policyNameOf(e.route)))
      .map((e) => ({ ...e.item, uri: e.exported }));
  }

  listResourceTemplates(caller: Caller): ResourceTemplate[] {
    return this.#exports(
      (u) => u.catalog.resourceTemplates,
      (t) => t.uriTemplate,
      exportedUri,
    )
      .filter((e) => this.visible(caller, 'resource', policyNameOf(e.route)))
      .map((e) => ({ ...e.item, uriTemplate: e.exported }));
  }

  listPrompts(caller: Caller): Prompt[] {
    return this.#exports(
      (u) => u.catalog.prompts,
      (p) => p.name,
      exportedName,
    )
      .filter((e) => this.visible(caller, 'prompt', policyNameOf(e.route)))
      .map((e) => ({ ...e.item, name: e.exported }));
  }

  /**
   * The exported tool and prompt names with their routes, built once per set of catalogues: an
   * upstream's catalogue is replaced whole when it changes, so the same catalogue objects mean
   * the same names (a call looks its name up instead of rebuilding every export).
   */
  #routes(): RouteIndex {
    const catalogs = [...this.upstreams.values()].map((u) => u.catalog);
    const cached = this.#routeIndex;
    if (
      cached !== undefined &&
      cached.catalogs.length === catalogs.length &&
      cached.catalogs.every((c, i) => c === catalogs[i])
    ) {
      return cached;
    }
    const index = (kind: 'tool' | 'prompt') =>
      new Map(
        this.#exports<{ name: string }>(
          (u) => (kind === 'tool' ? u.catalog.tools : u.catalog.prompts),
          (t) => t.name,
          exportedName,
        ).map((e) => [e.exported, e.route]),
      );
    this.#routeIndex = { catalogs, tool: index('tool'), prompt: index('prompt') };
    return this.#routeIndex;
  }

  /** The upstream a tool or prompt name leads to (offered or not), or undefined. */
  routeName(kind: 'tool' | 'prompt', name: string): Route | undefined {
    return this.#routeOf(kind, name).route;
  }

  /** routeName, and whether the upstream offers the name (last known catalogue). */
  #routeOf(kind: 'tool' | 'prompt', name: string): { route: Route | undefined; offered: boolean } {
    const offered = this.#routes()[kind].get(name);
    if (offered) return { route: offered, offered: true };
    const split = splitNamespaced(name);
    const ups = [...this.upstreams.values()];
    const prefixed = split && ups.find((u) => u.config.prefix === split.upstream);
    // A name no export matched may still be offered under it (an export hidden by a collision).
    const of = (route: Route): { route: Route; offered: boolean } => ({
      route,
      offered: (kind === 'tool'
        ? route.upstream.catalog.tools
        : route.upstream.catalog.prompts
      ).some((t) => t.name === route.name),
    });
    if (prefixed && split) return of({ upstream: prefixed, name: split.name });
    const bare = ups.filter((u) => u.config.prefix === '');
    return bare.length === 1
      ? of({ upstream: bare[0]!, name })
      : { route: undefined, offered: false };
  }

  /**
   * The upstream a resource URI leads to and the URI in the upstream's terms (not yet
   * normalised): `sigil://<prefix>/<uri>`, or for unprefixed upstreams the one offering it.
   */
  routeUri(uri: string): Route | undefined {
    const ups = [...this.upstreams.values()];
    const split = splitNamespacedUri(uri);
    const prefixed = split && ups.find((u) => u.config.prefix === split.upstream);
    if (prefixed && split) return { upstream: prefixed, name: split.uri };
    const bare = ups.filter((u) => u.config.prefix === '');
    if (bare.length <= 1) return bare[0] && { upstream: bare[0], name: uri };
    const owner = bare.find(
      (u) =>
        u.catalog.resources.some((r) => r.uri === uri) ||
        u.catalog.resourceTemplates.some(
          (t) => t.uriTemplate === uri || new UriTemplate(t.uriTemplate).match(uri) !== null,
        ),
    );
    return owner && { upstream: owner, name: uri };
  }

  /** One tools/call: adjudicated, maybe approved, forwarded, sealed, marked. Never throws. */
  async callTool(
    caller: Caller,
    params: { name: string; arguments?: Record<string, unknown>; _meta?: unknown },
    ctx: CallContext = {},
  ): Promise<CallToolResult> {
    const { route, offered } = this.#routeOf('tool', params.name);
    const upstreamName = route?.upstream.name ?? '';
    const tool = route?.name ?? params.name;
    const pin = route && offered ? this.pins.status(route.upstream, tool) : 'approved';
    const outcome = await this.#run(
      caller,
      {
        kind: 'tool',
        policyName: route ? policyNameOf(route) : params.name,
        upstream: route?.upstream,
        upstreamName,
        recordName: tool,
        target: `${upstreamName}/${tool}`,
        payload: asJson(params.arguments ?? {}),
        meta: params._meta,
        offered: (up) => up.catalog.tools.some((t) => t.name === tool),
        ...(pin === 'approved'
          ? {}
          : {
              refusal: {
                code: 'tool_definition_changed',
                reason:
                  pin === 'changed'
                    ? `the definition of ${upstreamName}__${tool} changed since it was pinned; a human must approve it`
                    : `${upstreamName}__${tool} is not yet approved (pin = "strict")`,
              },
            }),
        exec: (up, timeoutMs, meta, payload) =>
          up.request(
            'tools/call',
            { name: tool, arguments: payload as Record<string, unknown>, _meta: meta },
            CallToolResultSchema,
            timeoutMs,
            requestOptions(ctx),
          ),
        failed: (r) => r.isError === true,
      },
      ctx,
    );
    if (!outcome.ok) return denialResult(outcome.denial);
    return { ...outcome.value, _meta: marked(outcome.value._meta, outcome.decisionId) };
  }

  /**
   * A resource URI as the upstream will resolve it, with the name the policy matches; or the
   * refusal of a URI whose meaning depends on who decodes it.
   */
  resolveUri(
    uri: string,
  ):
    | { route: Route | undefined; uri: string; policyName: string; refusal?: undefined }
    | { route: Route | undefined; uri: string; policyName: string; refusal: string } {
    const route = this.routeUri(uri);
    const normalised = normaliseResourceUri(route?.name ?? uri);
    const own = normalised.ok ? normalised.uri : (route?.name ?? uri);
    const policyName = route ? namespacedName(route.upstream.name, own) : uri;
    const resolved = { route: route && { ...route, name: own }, uri: own, policyName };
    return normalised.ok ? resolved : { ...resolved, refusal: normalised.reason };
  }

  /** resources/read of a gateway URI; denials throw McpError carrying the Sigil code. */
  async readResource(
    caller: Caller,
    params: { uri: string; _meta?: unknown },
    ctx: CallContext = {},
  ): Promise<ReadResourceResult> {
    // The row is matched against the URI the upstream will resolve, and that URI is sent.
    const resolved = this.resolveUri(params.uri);
    const upstreamName = resolved.route?.upstream.name ?? '';
    const uri = resolved.uri;
    const outcome = await this.#run(
      caller,
      {
        kind: 'resource',
        policyName: resolved.policyName,
        upstream: resolved.route?.upstream,
        upstreamName,
        recordName: `resource:${uri}`,
        target: `${upstreamName}/resource/${uri}`,
        payload: { uri },
        meta: params._meta,
        offered: () => true,
        ...(resolved.refusal === undefined
          ? {}
          : {
              refusal: {
                code: 'resource_uri_invalid',
                reason: `resource URI refused: ${resolved.refusal}`,
              },
            }),
        exec: (up, timeoutMs, meta) =>
          up.request(
            'resources/read',
            { uri, _meta: meta },
            ReadResourceResultSchema,
            timeoutMs,
            requestOptions(ctx),
          ),
      },
      ctx,
    );
    if (!outcome.ok) throw denialError(outcome.denial);
    const prefix = resolved.route?.upstream.config.prefix ?? '';
    const contents = outcome.value.contents.map((c) => ({ ...c, uri: exportedUri(prefix, c.uri) }));
    return { ...outcome.value, contents, _meta: marked(outcome.value._meta, outcome.decisionId) };
  }

  /** prompts/get of an exported prompt; denials throw McpError carrying the Sigil code. */
  async getPrompt(
    caller: Caller,
    params: { name: string; arguments?: Record<string, string>; _meta?: unknown },
    ctx: CallContext = {},
  ): Promise<GetPromptResult> {
    const route = this.routeName('prompt', params.name);
    const upstreamName = route?.upstream.name ?? '';
    const prompt = route?.name ?? params.name;
    const outcome = await this.#run(
      caller,
      {
        kind: 'prompt',
        policyName: route ? policyNameOf(route) : params.name,
        upstream: route?.upstream,
        upstreamName,
        recordName: `prompt:${prompt}`,
        target: `${upstreamName}/prompt/${prompt}`,
        payload: asJson(params.arguments ?? {}),
        meta: params._meta,
        offered: (up) => up.catalog.prompts.some((p) => p.name === prompt),
        exec: (up, timeoutMs, meta, payload) =>
          up.request(
            'prompts/get',
            { name: prompt, arguments: payload as Record<string, string>, _meta: meta },
            GetPromptResultSchema,
            timeoutMs,
            requestOptions(ctx),
          ),
      },
      ctx,
    );
    if (!outcome.ok) throw denialError(outcome.denial);
    return { ...outcome.value, _meta: marked(outcome.value._meta, outcome.decisionId) };
  }

  /**
   * A request an upstream sends the agent during its calls (sampling, elicitation, roots): an
   * action of the agent's session like any call, adjudicated as `<upstream>__<method>` against
   * the `request` rows, sealed, and only then relayed to the agent by `send`.
   */
  async relayRequest<T>(
    caller: Caller,
    upstream: Upstream,
    request: { method: string; params?: unknown },
    send: (timeoutMs: number) => Promise<T>,
  ): Promise<Outcome<T>> {
    return this.#run(
      caller,
      {
        kind: 'request',
        policyName: namespacedName(upstream.name, request.method),
        upstream,
        upstreamName: upstream.name,
        recordName: `request:${request.method}`,
        target: `${upstream.name}/request/${request.method}`,
        payload: asJson(request.params ?? {}),
        meta: undefined,
        offered: () => true,
        exec: (_up, timeoutMs) => send(timeoutMs),
      },
      { direct: true },
    );
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
    const trace = this.#tracer.call(
      {
        'mcp.kind': op.kind,
        'mcp.target': op.target,
        'sigil.tool': op.policyName,
        'sigil.upstream': op.upstreamName,
      },
      ctx.traceparent,
    );
    const work = this.#govern(caller, op, ctx, trace);
    this.#inflight.add(work);
    let failure: string | undefined;
    try {
      const outcome = await work;
      if (!outcome.ok) {
        trace.set('sigil.code', outcome.denial.code);
        if (outcome.denial.code === 'record_failed') failure = outcome.denial.reason;
      }
      return outcome;
    } finally {
      this.#inflight.delete(work);
      trace.end(failure);
    }
  }

  async #govern<T>(
    caller: Caller,
    asked: Operation<T>,
    ctx: CallContext,
    trace: CallTrace,
  ): Promise<Outcome<T>> {
    const started = performance.now();
    // An upstream that requires attestation is called only while its attestation passes.
    const unattested =
      asked.refusal === undefined && asked.upstream !== undefined
        ? attestationRefusal(
            `upstream ${asked.upstream.config.name}`,
            asked.upstream.config.attestationFile,
            this.config.tee,
            this.#quoteVerifier,
            Date.now(),
          )
        : null;
    const given = unattested === null ? asked : { ...asked, refusal: unattested };
    const rule =
      given.refusal === undefined ? this.policy.match(given.kind, given.policyName) : null;
    // Secrets leave the arguments before anything sees them: the decision, its condition, the
    // upstream and the sealed record all get the redacted ones.
    const redacting = rule?.redact?.includes('secrets') === true;
    const args = redacting ? redactSecrets(given.payload) : null;
    const op = args === null ? given : { ...given, payload: args.value };
    const claimed = claimsFromMeta(op.meta);
    const spanAttrs = { 'mcp.kind': op.kind, 'mcp.target': op.target };
    let decision;
    try {
      decision = await trace.span('sigil.decision', spanAttrs, async (set) => {
        const d = await this.runtime.check(caller, {
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
        for (const s of [set, trace.set]) {
          s('sigil.decision_id', d.decision_id);
          s('sigil.verdict', d.verdict);
        }
        return d;
      });
    } catch (err) {
      // No decision could be sealed: fail closed, and nothing reaches the upstream.
      this.#log(`decision failed for ${op.policyName}: ${errorText(err)}`);
      return unsealed(null, `the decision could not be sealed (${errorCode(err)})`);
    }
    const decisionId = decision.decision_id;
    const traced = { ...spanAttrs, 'sigil.decision_id': decisionId };
    let resultRedaction: Redaction | null = null;
    // The upstream's own time and a human's wait, so the gateway's added latency is the rest.
    let upstreamMs: number | undefined;
    let approvalMs: number | undefined;
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
      trace.set('sigil.outcome', outcome);
      try {
        await trace.span('sigil.seal', { ...traced, 'sigil.outcome': outcome }, () =>
          this.runtime.gateway.recordCall(caller, {
            upstream: op.upstreamName,
            tool: op.recordName,
            decision_id: decisionId,
            arguments: op.payload,
            outcome,
            latency_ms: ms(performance.now() - started),
            ...(upstreamMs === undefined ? {} : { upstream_ms: upstreamMs }),
            ...(approvalMs === undefined ? {} : { approval_ms: approvalMs }),
            ...extra,
            ...(redacting
              ? {
                  redaction: {
                    arguments: asJson(args?.redaction ?? null),
                    result: asJson(resultRedaction),
                  },
                }
              : {}),
          }),
        );
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
      const waiting = performance.now();
      const approval = await this.#approve(caller, op, decisionId, ctx);
      approvalMs = ms(performance.now() - waiting);
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
    const calling = performance.now();
    try {
      const via = ctx.direct === true ? upstream : (ctx.link?.(upstream) ?? upstream);
      value = await trace.span(
        'sigil.upstream',
        { ...traced, 'sigil.upstream': op.upstreamName },
        (_set, traceparent) =>
          op.exec(
            via,
            timeoutMs,
            // The upstream joins the trace under the gateway's span, never the agent's own.
            traceparent === undefined
              ? { [DECISION_META_KEY]: decisionId }
              : { [DECISION_META_KEY]: decisionId, traceparent },
            op.payload,
          ),
        true,
      );
    } catch (err) {
      upstreamMs = ms(performance.now() - calling);
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
    upstreamMs = ms(performance.now() - calling);
    if (redacting) {
      const redacted = redactSecrets(asJson(value));
      value = redacted.value as T;
      resultRedaction = redacted.redaction;
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
    // The summary is stored in clear, so it names the arguments by hash only; the arguments
    // themselves are sealed with the request, for the approver to read.
    const argsHash = sha256Hex(canonicalBytes(op.payload));
    const { id } = await this.runtime.approvals.request(caller, {
      decision_id: decisionId,
      action: MCP_ACTION,
      target: op.target,
      tool: op.policyName,
      arguments: op.payload,
      summary: `${caller.subject} calls ${op.kind} ${op.policyName} (arguments sha256 ${argsHash})`,
    });
    const note = `approval ${id} pending: ${caller.subject} → ${op.policyName}; approve with: sigil approve ${id}`;
    this.#log(note);
    ctx.notify?.(note);
    const status = await this.runtime.approvals.await(id, this.config.approvalTimeoutMs);
    return { id, status };
  }

  /** Stops accepting calls, lets in-flight ones finish (bounded), closes the upstreams. */
  async close(drainMs = 5_000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.pins.close();
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
