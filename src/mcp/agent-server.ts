/**
 * The MCP server the agent talks to: one per agent connection (stdio) or session (HTTP).
 * Each request's caller is resolved from its transport (the token), never from the request.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CompleteResultSchema,
  CreateMessageRequestSchema,
  CreateMessageResultSchema,
  ElicitRequestSchema,
  ElicitResultSchema,
  EmptyResultSchema,
  ErrorCode,
  ListRootsRequestSchema,
  ListRootsResultSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type LoggingLevel,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import { isSigilError, SigilError } from '../core/errors.ts';
import type { Caller } from '../runtime/index.ts';
import {
  denialError,
  denialResult,
  GATEWAY_INFO,
  type CallContext,
  type Gateway,
} from './gateway.ts';
import { exportedUri, namespacedName } from './names.ts';
import { Upstream } from './upstream.ts';

export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Resolves the caller of one request; throws SigilError 'token_invalid' when it cannot. */
export type CallerResolver = (extra: Extra) => Promise<Caller>;

function authError(err: unknown): McpError {
  const code = isSigilError(err) ? err.code : 'token_invalid';
  return new McpError(ErrorCode.InvalidRequest, `Sigil: ${code}: the caller is not authenticated`, {
    code,
  });
}

/** The agent's own connections to the upstreams, and the traffic that flows back on them. */
class AgentSession {
  readonly #gateway: Gateway;
  readonly #server: Server;
  readonly #callerOf: CallerResolver;
  readonly #links = new Map<string, Upstream>();
  /** Agent requests in flight, per upstream: what flows back is related to the latest. */
  readonly #calls = new Map<string, Extra[]>();
  #lastExtra: Extra | undefined;
  #level: LoggingLevel | undefined;

  constructor(gateway: Gateway, server: Server, callerOf: CallerResolver) {
    this.#gateway = gateway;
    this.#server = server;
    this.#callerOf = callerOf;
  }

  seen(extra: Extra): void {
    this.#lastExtra = extra;
  }

  /** The session's caller, as its latest request authenticated it. */
  async caller(): Promise<Caller> {
    if (this.#lastExtra === undefined) throw new SigilError('token_invalid', 'no request yet');
    return this.#callerOf(this.#lastExtra);
  }

  /** This session's connection to `upstream`, opened on first use. */
  link(upstream: Upstream): Upstream {
    let link = this.#links.get(upstream.name);
    if (link !== undefined) return link;
    const agent = this.#server.getClientCapabilities() ?? {};
    link = new Upstream(upstream.config, {
      clientInfo: GATEWAY_INFO,
      catalog: false,
      // The upstream may ask only for what the agent itself supports.
      capabilities: {
        ...(agent.sampling ? { sampling: agent.sampling } : {}),
        ...(agent.elicitation ? { elicitation: agent.elicitation } : {}),
        ...(agent.roots ? { roots: agent.roots } : {}),
      },
      setup: (client) => this.#install(client, upstream),
      onListChanged: () => upstream.refresh(),
      connectTimeoutMs: this.#gateway.config.callTimeoutMs,
      ...(this.#gateway.backoff ? { backoff: this.#gateway.backoff } : {}),
    });
    this.#links.set(upstream.name, link);
    void link.start().then(() => this.#applyLevel(link!));
    return link;
  }

  /** Runs an agent request that goes to `upstream`, so what flows back is related to it. */
  async during<T>(upstream: string | undefined, extra: Extra, fn: () => Promise<T>): Promise<T> {
    this.#lastExtra = extra;
    if (upstream === undefined) return fn();
    const list = this.#calls.get(upstream) ?? [];
    list.push(extra);
    this.#calls.set(upstream, list);
    try {
      return await fn();
    } finally {
      list.splice(list.indexOf(extra), 1);
    }
  }

  #current(upstream: string): Extra | undefined {
    return this.#calls.get(upstream)?.at(-1);
  }

  async setLevel(level: LoggingLevel): Promise<void> {
    this.#level = level;
    await Promise.all([...this.#links.values()].map((l) => this.#applyLevel(l)));
  }

  async #applyLevel(link: Upstream): Promise<void> {
    if (this.#level === undefined || link.serverCapabilities?.logging === undefined) return;
    await link
      .request(
        'logging/setLevel',
        { level: this.#level },
        EmptyResultSchema,
        this.#gateway.config.callTimeoutMs,
      )
      .catch(() => undefined);
  }

  #install(client: Client, upstream: Upstream): void {
    const relay =
      <S extends z.ZodType>(schema: S) =>
      async (req: { method: string; params?: unknown }) => {
        const extra = this.#current(upstream.name) ?? this.#lastExtra;
        if (extra === undefined) {
          throw new McpError(ErrorCode.InvalidRequest, 'Sigil: no agent request to relay to');
        }
        const caller = await this.#callerOf(extra);
        const outcome = await this.#gateway.relayRequest(caller, upstream, req, (timeoutMs) => {
          const live = this.#current(upstream.name);
          const message = { method: req.method, params: req.params } as ServerRequest;
          return live
            ? live.sendRequest(message, schema, { timeout: timeoutMs })
            : this.#server.request(message, schema, { timeout: timeoutMs });
        });
        if (!outcome.ok) throw denialError(outcome.denial);
        return outcome.value as never;
      };
    // The SDK accepts handlers only for what the link declared, i.e. what the agent supports.
    const agent = this.#server.getClientCapabilities() ?? {};
    if (agent.sampling) {
      client.setRequestHandler(CreateMessageRequestSchema, relay(CreateMessageResultSchema));
    }
    if (agent.elicitation) client.setRequestHandler(ElicitRequestSchema, relay(ElicitResultSchema));
    if (agent.roots) client.setRequestHandler(ListRootsRequestSchema, relay(ListRootsResultSchema));
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      if (this.#level !== undefined && LEVELS.indexOf(n.params.level) < LEVELS.indexOf(this.#level))
        return;
      const live = this.#current(upstream.name);
      const send = live ? live.sendNotification(n) : this.#server.notification(n);
      void send.catch(() => undefined);
    });
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      void this.#resourceUpdated(upstream, n.params.uri);
    });
  }

  async #resourceUpdated(upstream: Upstream, uri: string): Promise<void> {
    const caller = await this.caller().catch(() => undefined);
    const name = namespacedName(upstream.name, uri);
    if (caller === undefined || !this.#gateway.visible(caller, 'resource', name)) return;
    const exported = exportedUri(upstream.config.prefix, uri);
    await this.#server.sendResourceUpdated({ uri: exported }).catch(() => undefined);
  }

  async close(): Promise<void> {
    const links = [...this.#links.values()];
    this.#links.clear();
    await Promise.all(links.map((l) => l.close()));
  }
}

const LEVELS: readonly LoggingLevel[] = [
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
];

/**
 * The agent's W3C traceparent: in `_meta` (SEP-414, stdio and HTTP), else the Streamable HTTP
 * request's header; `_meta` wins, as it is the request's own.
 */
function traceparentOf(extra: Extra): string | undefined {
  const meta = extra._meta?.traceparent;
  if (typeof meta === 'string') return meta;
  const header = extra.requestInfo?.headers.traceparent;
  return typeof header === 'string' ? header : undefined;
}

/** The call's hooks: approval notes and upstream progress as progress, cancellation, link. */
function contextFor(extra: Extra, session: AgentSession): CallContext {
  const token = extra._meta?.progressToken;
  const base: CallContext = {
    link: (up) => session.link(up),
    signal: extra.signal,
    traceparent: traceparentOf(extra),
  };
  if (token === undefined) return base;
  const progress = (params: Record<string, unknown>) =>
    void extra
      .sendNotification({
        method: 'notifications/progress',
        params: { ...params, progressToken: token },
      } as ServerNotification)
      .catch(() => undefined);
  return {
    ...base,
    notify: (message) => progress({ progress: 0, message }),
    onprogress: (p) => progress({ ...p }),
  };
}

/** Builds the agent-facing server over `gateway`, resolving callers with `callerOf`. */
export function createAgentServer(gateway: Gateway, callerOf: CallerResolver): Server {
  const server = new Server(GATEWAY_INFO, {
    capabilities: {
      tools: { listChanged: true },
      resources: { listChanged: true, subscribe: true },
      prompts: { listChanged: true },
      logging: {},
      completions: {},
    },
    instructions:
      'Every call is checked and recorded by Sigil; a refused call returns an error result ' +
      'naming the Sigil code and decision id.',
  });
  const session = new AgentSession(gateway, server, callerOf);
  const caller = async (extra: Extra) => {
    session.seen(extra);
    try {
      return await callerOf(extra);
    } catch (err) {
      throw authError(err);
    }
  };
  const views = new Map<string, string>();
  const remember = <T>(kind: string, list: T[]): T[] => {
    views.set(kind, JSON.stringify(list));
    return list;
  };

  server.setRequestHandler(ListToolsRequestSchema, async (_req, extra) => ({
    tools: remember('tools', gateway.listTools(await caller(extra))),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    session.seen(extra);
    let who: Caller;
    try {
      who = await callerOf(extra);
    } catch (err) {
      return denialResult({
        code: isSigilError(err) ? err.code : 'token_invalid',
        reason: 'the caller is not authenticated',
        decision_id: null,
      });
    }
    const route = gateway.routeName('tool', req.params.name);
    return session.during(route?.upstream.name, extra, () =>
      gateway.callTool(who, req.params, contextFor(extra, session)),
    );
  });
  server.setRequestHandler(ListResourcesRequestSchema, async (_req, extra) => ({
    resources: remember('resources', gateway.listResources(await caller(extra))),
  }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async (_req, extra) => ({
    resourceTemplates: remember('templates', gateway.listResourceTemplates(await caller(extra))),
  }));
  server.setRequestHandler(ReadResourceRequestSchema, async (req, extra) => {
    const who = await caller(extra);
    const route = gateway.routeUri(req.params.uri);
    return session.during(route?.upstream.name, extra, () =>
      gateway.readResource(who, req.params, contextFor(extra, session)),
    );
  });
  server.setRequestHandler(ListPromptsRequestSchema, async (_req, extra) => ({
    prompts: remember('prompts', gateway.listPrompts(await caller(extra))),
  }));
  server.setRequestHandler(GetPromptRequestSchema, async (req, extra) => {
    const who = await caller(extra);
    const route = gateway.routeName('prompt', req.params.name);
    return session.during(route?.upstream.name, extra, () =>
      gateway.getPrompt(who, req.params, contextFor(extra, session)),
    );
  });
  server.setRequestHandler(SetLevelRequestSchema, async (req, extra) => {
    await caller(extra);
    await session.setLevel(req.params.level);
    return {};
  });

  /** A subscription or completion goes to the upstream of a name the caller may see. */
  const visibleResource = async (extra: Extra, uri: string) => {
    const who = await caller(extra);
    const resolved = gateway.resolveUri(uri);
    if (
      resolved.refusal !== undefined ||
      resolved.route === undefined ||
      !gateway.visible(who, 'resource', resolved.policyName)
    ) {
      throw new McpError(ErrorCode.InvalidParams, `Sigil: tool_not_allowed: ${uri}`, {
        code: 'tool_not_allowed',
      });
    }
    return resolved.route;
  };
  for (const [schema, method] of [
    [SubscribeRequestSchema, 'resources/subscribe'],
    [UnsubscribeRequestSchema, 'resources/unsubscribe'],
  ] as const) {
    server.setRequestHandler(schema, async (req, extra) => {
      const route = await visibleResource(extra, req.params.uri);
      return session
        .link(route.upstream)
        .request(method, { uri: route.name }, EmptyResultSchema, gateway.config.callTimeoutMs);
    });
  }
  server.setRequestHandler(CompleteRequestSchema, async (req, extra) => {
    const ref = req.params.ref;
    let route;
    if (ref.type === 'ref/prompt') {
      const who = await caller(extra);
      route = gateway.routeName('prompt', ref.name);
      if (
        route === undefined ||
        !gateway.visible(who, 'prompt', namespacedName(route.upstream.name, route.name))
      ) {
        throw new McpError(ErrorCode.InvalidParams, `Sigil: tool_not_allowed: ${ref.name}`, {
          code: 'tool_not_allowed',
        });
      }
    } else {
      route = await visibleResource(extra, ref.uri);
    }
    const own =
      ref.type === 'ref/prompt' ? { ...ref, name: route.name } : { ...ref, uri: route.name };
    return session
      .link(route.upstream)
      .request(
        'completion/complete',
        { ...req.params, ref: own },
        CompleteResultSchema,
        gateway.config.callTimeoutMs,
        { signal: extra.signal },
      );
  });

  let initialized = false;
  server.oninitialized = () => {
    initialized = true;
  };
  // list_changed reaches the agent only when its own, policy-filtered view changed.
  const unsubscribe = gateway.onCatalogChange(() => {
    if (!initialized) return;
    void (async () => {
      const who = await session.caller().catch(() => undefined);
      if (who === undefined) return;
      const changed = (kind: string, list: unknown[]) =>
        views.has(kind) && views.get(kind) !== JSON.stringify(list);
      if (changed('tools', gateway.listTools(who))) {
        views.delete('tools');
        await server.sendToolListChanged().catch(() => undefined);
      }
      if (
        changed('resources', gateway.listResources(who)) ||
        changed('templates', gateway.listResourceTemplates(who))
      ) {
        views.delete('resources');
        views.delete('templates');
        await server.sendResourceListChanged().catch(() => undefined);
      }
      if (changed('prompts', gateway.listPrompts(who))) {
        views.delete('prompts');
        await server.sendPromptListChanged().catch(() => undefined);
      }
    })();
  });
  const previous = server.onclose;
  server.onclose = () => {
    unsubscribe();
    void session.close();
    previous?.();
  };
  return server;
}
