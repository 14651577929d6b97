/**
 * The gateway's side of pinned tool definitions: it hashes every upstream tool's definition
 * (name, description, input schema, annotations), pins it at first sight (or, with
 * `pin = "strict"`, asks a human first), and hides and refuses a tool whose definition no
 * longer matches its pin until a human approves the new one (`sigil approve <id>`).
 * A pin is keyed by the upstream's identity (how it is reached: command and arguments, or URL)
 * and the tool's own name, so renaming the upstream in gateway.toml does not reset it.
 */
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { canonicalBytes, type JsonValue } from '../core/canonical.ts';
import { sha256Hex } from '../core/hash.ts';
import type { SigilRuntime } from '../runtime/index.ts';
import type { UpstreamConfig } from './config.ts';
import type { Upstream } from './upstream.ts';

const POLL_MS = 500;

export type PinStatus = 'approved' | 'changed' | 'unapproved';

/** Hex SHA-256 of a tool's canonical definition. */
export function definitionHash(tool: Tool): string {
  const def = JSON.parse(
    JSON.stringify({
      name: tool.name,
      description: tool.description ?? null,
      input_schema: tool.inputSchema ?? null,
      annotations: tool.annotations ?? null,
    }),
  ) as JsonValue;
  return sha256Hex(canonicalBytes(def));
}

/** Identities already computed: a config is fixed once loaded, and every call looks its pin up. */
const identities = new WeakMap<UpstreamConfig, string>();

/** Who an upstream is, independent of its name in gateway.toml. */
export function upstreamIdentity(config: UpstreamConfig): string {
  const known = identities.get(config);
  if (known !== undefined) return known;
  const how: JsonValue =
    config.transport === 'http'
      ? { transport: 'http', url: config.url }
      : { transport: 'stdio', command: config.command, args: config.args };
  const id = sha256Hex(canonicalBytes(how)).slice(0, 32);
  identities.set(config, id);
  return id;
}

interface Entry {
  upstream: string;
  tool: string;
  /** The hash now offered. */
  current: string;
  /** The pinned (approved) hash, if any. */
  pinned: string | undefined;
  /** A pending approval for `current`. */
  approval?: { id: string; hash: string };
  /** A human rejected this hash: no new request until the definition changes again. */
  rejected?: string;
}

export class ToolPins {
  readonly #runtime: SigilRuntime;
  readonly #log: (line: string) => void;
  readonly #changed: () => void;
  readonly #entries = new Map<string, Entry>();
  #timer: NodeJS.Timeout | undefined;
  #polling = false;

  constructor(runtime: SigilRuntime, log: (line: string) => void, changed: () => void) {
    this.#runtime = runtime;
    this.#log = log;
    this.#changed = changed;
  }

  #key(upstream: Upstream, tool: string): string {
    return `${upstreamIdentity(upstream.config)} ${tool}`;
  }

  /** Whether the tool as the upstream now offers it may be listed and called. */
  status(upstream: Upstream, tool: string): PinStatus {
    const e = this.#entries.get(this.#key(upstream, tool));
    if (e === undefined || e.pinned === undefined) return 'unapproved';
    return e.pinned === e.current ? 'approved' : 'changed';
  }

  /** Compares the upstream's catalogue with its pins, pinning and asking as needed. */
  async reconcile(upstream: Upstream): Promise<void> {
    for (const tool of upstream.catalog.tools) {
      const key = this.#key(upstream, tool.name);
      const current = definitionHash(tool);
      let e = this.#entries.get(key);
      if (e === undefined) {
        const pin = await this.#runtime.toolPins.get(key);
        e = { upstream: upstream.name, tool: tool.name, current, pinned: pin?.hash };
        this.#entries.set(key, e);
      }
      e.current = current;
      if (e.pinned === current) continue;
      if (e.pinned === undefined && upstream.config.pin === 'first') {
        await this.#runtime.toolPins.pin({
          key,
          upstream: upstream.name,
          tool: tool.name,
          hash: current,
          approval_id: null,
        });
        e.pinned = current;
        continue;
      }
      if (e.approval?.hash === current || e.rejected === current) continue;
      e.approval = { id: await this.#ask(upstream, tool.name, key, e, current), hash: current };
      this.#poll();
    }
  }

  /** Seals the refusal of the new definition and asks a human to approve it. */
  async #ask(upstream: Upstream, tool: string, key: string, e: Entry, hash: string) {
    const what = e.pinned === undefined ? 'new tool' : 'changed definition';
    const caller = this.#runtime.licenseCaller();
    const target = `${upstream.name}/pin/${tool}`;
    const decision = await this.#runtime.check(caller, {
      action: 'mcp.tools.call',
      target,
      payload: { key, hash, pinned: e.pinned ?? null },
      policy: {
        rule: null,
        refusal: {
          code: 'tool_definition_changed',
          reason: `${what} of ${upstream.name}__${tool} (sha256 ${hash}) awaits approval`,
        },
      },
    });
    const { id } = await this.#runtime.approvals.request(caller, {
      decision_id: decision.decision_id,
      action: 'mcp.tools.call',
      target,
      tool: `${upstream.name}__${tool}`,
      arguments: { key, hash, pinned: e.pinned ?? null },
      summary: `${what} of ${upstream.name}__${tool}: definition sha256 ${hash} (pinned ${e.pinned ?? 'none'})`,
    });
    this.#log(`${what} of ${upstream.name}__${tool} is hidden until approved: sigil approve ${id}`);
    return id;
  }

  /** Waits in the background for the humans' answers to pending approvals. */
  #poll(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.#check(), POLL_MS);
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      let pending = 0;
      let changed = false;
      for (const [key, e] of this.#entries) {
        if (e.approval === undefined) continue;
        const status = await this.#runtime.approvals.await(e.approval.id, 0);
        if (status === 'timeout') {
          pending += 1;
          continue;
        }
        const { id, hash } = e.approval;
        delete e.approval;
        if (status === 'rejected') {
          e.rejected = hash;
          continue;
        }
        await this.#runtime.toolPins.pin({
          key,
          upstream: e.upstream,
          tool: e.tool,
          hash,
          approval_id: id,
        });
        e.pinned = hash;
        changed = true;
      }
      if (pending === 0) this.close();
      if (changed) this.#changed();
    } catch (err) {
      this.#log(`pin approvals: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.#polling = false;
    }
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
