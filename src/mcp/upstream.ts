/**
 * One upstream MCP server, as the gateway's client: connects over stdio (a child process) or
 * Streamable HTTP, keeps a catalogue of its tools, resources and prompts (refreshed on its
 * list_changed notifications), and survives it: a crashed or unreachable upstream is restarted
 * with exponential backoff, a call waits for it only within the call's own timeout, and a hung
 * or malformed reply fails that call alone.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  McpError,
  ProgressNotificationSchema,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
  type ClientCapabilities,
  type Implementation,
  type Progress,
  type Prompt,
  type Resource,
  type ResourceTemplate,
  type ServerCapabilities,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import { SigilError } from '../core/errors.ts';
import type { UpstreamConfig } from './config.ts';

/** What an upstream offers, in its own names. */
export interface UpstreamCatalog {
  tools: Tool[];
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
  prompts: Prompt[];
}

export type UpstreamState = 'connecting' | 'ready' | 'down' | 'closed';

export interface UpstreamOptions {
  clientInfo: Implementation;
  /** Called whenever the catalogue changes (connect, reconnect, list_changed). */
  onChange?: () => void;
  /** Diagnostics (stderr of the gateway; never the agent's channel). */
  log?: (line: string) => void;
  /** Backoff bounds for restarts, in ms. */
  backoff?: { initialMs: number; maxMs: number };
  /** Bound on connecting and listing. */
  connectTimeoutMs?: number;
  /** What the gateway tells the upstream it supports as a client (default: nothing). */
  capabilities?: ClientCapabilities;
  /** Installs request and notification handlers on each new connection. */
  setup?: (client: Client) => void;
  /** Whether to keep a catalogue (default true); a per-agent link keeps none. */
  catalog?: boolean;
  /** Called on the upstream's list_changed notifications. */
  onListChanged?: () => void;
}

/** Per-request options: the agent's cancellation, and its progress notifications. */
export interface RequestOptions {
  signal?: AbortSignal;
  onprogress?: (progress: Progress) => void;
}

const EMPTY: UpstreamCatalog = { tools: [], resources: [], resourceTemplates: [], prompts: [] };
/** A connection that lived this long resets the backoff: it was not a crash loop. */
const STABLE_MS = 10_000;
const MAX_PAGES = 100;

export class Upstream {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly #opts: UpstreamOptions;
  #state: UpstreamState = 'connecting';
  #client: Client | null = null;
  #generation = 0;
  #catalog: UpstreamCatalog = EMPTY;
  #backoffMs: number;
  #retry: NodeJS.Timeout | null = null;
  #connectedAt = 0;
  #wake: Array<() => void> = [];
  #restarts = 0;
  #progressSeq = 0;
  readonly #progress = new Map<string, (progress: Progress) => void>();

  constructor(config: UpstreamConfig, opts: UpstreamOptions) {
    this.name = config.name;
    this.config = config;
    this.#opts = opts;
    this.#backoffMs = opts.backoff?.initialMs ?? 200;
  }

  get state(): UpstreamState {
    return this.#state;
  }

  /** How many times the upstream was reconnected after its first connection attempt. */
  get restarts(): number {
    return this.#restarts;
  }

  get catalog(): UpstreamCatalog {
    return this.#catalog;
  }

  /** Connects once; on failure schedules retries and resolves anyway (the gateway keeps serving). */
  async start(): Promise<void> {
    await this.#connect();
  }

  /** Sends one request, waiting for a (re)connection only until `timeoutMs` has passed. */
  async request<S extends z.ZodType>(
    method: string,
    params: Record<string, unknown>,
    schema: S,
    timeoutMs: number,
    opts: RequestOptions = {},
  ): Promise<z.infer<S>> {
    const deadline = Date.now() + timeoutMs;
    const { client, generation } = await this.#readyClient(deadline);
    // Progress is matched by our own token, not the SDK's: the SDK handles a notification a
    // microtask late and drops one that arrives together with the response.
    let token: string | undefined;
    let sent = params;
    if (opts.onprogress) {
      token = `sigil-progress-${++this.#progressSeq}`;
      this.#progress.set(token, opts.onprogress);
      const meta = (params._meta ?? {}) as Record<string, unknown>;
      sent = { ...params, _meta: { ...meta, progressToken: token } };
    }
    try {
      return (await client.request({ method, params: sent } as never, schema as never, {
        timeout: Math.max(1, deadline - Date.now()),
        ...(opts.signal ? { signal: opts.signal } : {}),
      })) as z.infer<S>;
    } catch (err) {
      // An HTTP upstream that fails below MCP (refused, reset, unknown session) is reconnected.
      if (this.config.transport === 'http' && !(err instanceof McpError)) this.#lost(generation);
      throw err;
    } finally {
      if (token !== undefined) this.#progress.delete(token);
    }
  }

  /** Closes the connection (and the child process) and stops restarting. */
  async close(): Promise<void> {
    this.#state = 'closed';
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    this.#wakeAll();
    const client = this.#client;
    this.#client = null;
    this.#generation += 1;
    await client?.close().catch(() => undefined);
  }

  #log(line: string): void {
    this.#opts.log?.(`upstream ${this.name}: ${line}`);
  }

  #transport(): Transport {
    const c = this.config;
    if (c.transport === 'http') {
      return new StreamableHTTPClientTransport(new URL(c.url), {
        requestInit: { headers: c.headers },
      });
    }
    const transport = new StdioClientTransport({
      command: c.command,
      args: c.args,
      env: c.env,
      cwd: c.cwd,
      stderr: 'pipe',
    });
    let pending = '';
    transport.stderr?.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') this.#log(line);
    });
    return transport;
  }

  async #connect(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'connecting';
    const generation = ++this.#generation;
    const client = new Client(this.#opts.clientInfo, {
      capabilities: this.#opts.capabilities ?? {},
    });
    this.#opts.setup?.(client);
    client.setNotificationHandler(ProgressNotificationSchema, (n) => {
      const { progressToken, ...progress } = n.params;
      this.#progress.get(String(progressToken))?.(progress as Progress);
    });
    client.onclose = () => this.#lost(generation);
    client.onerror = (err) => this.#log(`transport error: ${err.message}`);
    const timeout = this.#opts.connectTimeoutMs ?? 10_000;
    try {
      await client.connect(this.#transport(), { timeout });
      const keep = this.#opts.catalog !== false;
      const refresh = () => {
        if (keep) void this.#refresh(client, generation, timeout);
        this.#opts.onListChanged?.();
      };
      client.setNotificationHandler(ToolListChangedNotificationSchema, refresh);
      client.setNotificationHandler(ResourceListChangedNotificationSchema, refresh);
      client.setNotificationHandler(PromptListChangedNotificationSchema, refresh);
      if (keep) this.#catalog = await listCatalog(client, timeout);
    } catch (err) {
      if (generation !== this.#generation) return;
      this.#log(`connect failed: ${err instanceof Error ? err.message : String(err)}`);
      this.#generation += 1;
      await client.close().catch(() => undefined);
      this.#scheduleRetry();
      return;
    }
    // A close() or a lost connection during the handshake bumped the generation.
    if (generation !== this.#generation) {
      await client.close().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#state = 'ready';
    this.#connectedAt = Date.now();
    this.#wakeAll();
    this.#opts.onChange?.();
  }

  /** Lists the catalogue again (another connection heard that it changed). */
  refresh(): void {
    const client = this.#client;
    if (client === null || this.#opts.catalog === false) return;
    void this.#refresh(client, this.#generation, this.#opts.connectTimeoutMs ?? 10_000);
  }

  /** What the upstream said it supports, once connected. */
  get serverCapabilities(): ServerCapabilities | undefined {
    return this.#client?.getServerCapabilities();
  }

  async #refresh(client: Client, generation: number, timeout: number): Promise<void> {
    try {
      const catalog = await listCatalog(client, timeout);
      if (generation !== this.#generation) return;
      this.#catalog = catalog;
      this.#opts.onChange?.();
    } catch (err) {
      this.#log(`list failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The connection of `generation` ended: drop it and restart with backoff. */
  #lost(generation: number): void {
    if (generation !== this.#generation || this.#state === 'closed') return;
    this.#generation += 1;
    const client = this.#client;
    this.#client = null;
    void client?.close().catch(() => undefined);
    if (this.#state === 'ready' && Date.now() - this.#connectedAt >= STABLE_MS) {
      this.#backoffMs = this.#opts.backoff?.initialMs ?? 200;
    }
    this.#log('connection lost');
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (this.#state === 'closed') return;
    this.#state = 'down';
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(delay * 2, this.#opts.backoff?.maxMs ?? 30_000);
    this.#log(`restarting in ${delay} ms`);
    this.#retry = setTimeout(() => {
      this.#retry = null;
      this.#restarts += 1;
      void this.#connect();
    }, delay);
    this.#retry.unref();
  }

  #wakeAll(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const fn of wake) fn();
  }

  async #readyClient(deadline: number): Promise<{ client: Client; generation: number }> {
    for (;;) {
      if (this.#state === 'ready' && this.#client !== null) {
        return { client: this.#client, generation: this.#generation };
      }
      const left = deadline - Date.now();
      if (this.#state === 'closed' || left <= 0) {
        throw new SigilError('upstream_unavailable', `upstream ${this.name} is ${this.#state}`, {
          upstream: this.name,
        });
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#wake.push(done);
      });
    }
  }
}

async function listAll<T>(
  fetchPage: (
    cursor: string | undefined,
  ) => Promise<{ items: T[]; nextCursor?: string | undefined }>,
): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  try {
    for (let page = 0; page < MAX_PAGES; page++) {
      const { items, nextCursor } = await fetchPage(cursor);
      out.push(...items);
      if (nextCursor === undefined) break;
      cursor = nextCursor;
    }
  } catch (err) {
    // A server that advertises a capability but refuses one listing (e.g. no resource
    // templates) still serves the rest; a dead connection fails the whole catalogue.
    if (
      err instanceof McpError &&
      err.code !== ErrorCode.ConnectionClosed &&
      err.code !== ErrorCode.RequestTimeout
    )
      return out;
    throw err;
  }
  return out;
}

/** Lists everything the server's capabilities advertise. */
async function listCatalog(client: Client, timeout: number): Promise<UpstreamCatalog> {
  const caps = client.getServerCapabilities() ?? {};
  const opts = { timeout };
  const params = (cursor: string | undefined) => (cursor === undefined ? {} : { cursor });
  const [tools, resources, resourceTemplates, prompts] = await Promise.all([
    caps.tools
      ? listAll(async (c) => {
          const r = await client.listTools(params(c), opts);
          return { items: r.tools, nextCursor: r.nextCursor };
        })
      : [],
    caps.resources
      ? listAll(async (c) => {
          const r = await client.listResources(params(c), opts);
          return { items: r.resources, nextCursor: r.nextCursor };
        })
      : [],
    caps.resources
      ? listAll(async (c) => {
          const r = await client.listResourceTemplates(params(c), opts);
          return { items: r.resourceTemplates, nextCursor: r.nextCursor };
        })
      : [],
    caps.prompts
      ? listAll(async (c) => {
          const r = await client.listPrompts(params(c), opts);
          return { items: r.prompts, nextCursor: r.nextCursor };
        })
      : [],
  ]);
  return { tools, resources, resourceTemplates, prompts };
}
