/**
 * The MCP server the agent talks to: one per agent connection (stdio) or session (HTTP).
 * Each request's caller is resolved from its transport (the token), never from the request.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  ErrorCode,
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
import { isSigilError } from '../core/errors.ts';
import type { Caller } from '../runtime/index.ts';
import { denialResult, GATEWAY_INFO, type CallContext, type Gateway } from './gateway.ts';

export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Resolves the caller of one request; throws SigilError 'token_invalid' when it cannot. */
export type CallerResolver = (extra: Extra) => Promise<Caller>;

function authError(err: unknown): McpError {
  const code = isSigilError(err) ? err.code : 'token_invalid';
  return new McpError(ErrorCode.InvalidRequest, `Sigil: ${code}: the caller is not authenticated`, {
    code,
  });
}

/** Progress notifications while a call waits (only when the agent sent a progress token). */
function contextFor(extra: Extra): CallContext {
  const token = extra._meta?.progressToken;
  if (token === undefined) return {};
  return {
    notify: (message) => {
      void extra
        .sendNotification({
          method: 'notifications/progress',
          params: { progressToken: token, progress: 0, message },
        })
        .catch(() => undefined);
    },
  };
}

/** Builds the agent-facing server over `gateway`, resolving callers with `callerOf`. */
export function createAgentServer(gateway: Gateway, callerOf: CallerResolver): Server {
  const server = new Server(GATEWAY_INFO, {
    capabilities: {
      tools: { listChanged: true },
      resources: { listChanged: true },
      prompts: { listChanged: true },
    },
    instructions:
      'Tools are namespaced <upstream>__<tool>. Every call is checked and recorded by Sigil; ' +
      'a refused call returns an error result naming the Sigil code and decision id.',
  });
  const caller = async (extra: Extra) => {
    try {
      return await callerOf(extra);
    } catch (err) {
      throw authError(err);
    }
  };

  server.setRequestHandler(ListToolsRequestSchema, async (_req, extra) => ({
    tools: gateway.listTools(await caller(extra)),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
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
    return gateway.callTool(who, req.params, contextFor(extra));
  });
  server.setRequestHandler(ListResourcesRequestSchema, async (_req, extra) => ({
    resources: gateway.listResources(await caller(extra)),
  }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async (_req, extra) => ({
    resourceTemplates: gateway.listResourceTemplates(await caller(extra)),
  }));
  server.setRequestHandler(ReadResourceRequestSchema, async (req, extra) =>
    gateway.readResource(await caller(extra), req.params, contextFor(extra)),
  );
  server.setRequestHandler(ListPromptsRequestSchema, async (_req, extra) => ({
    prompts: gateway.listPrompts(await caller(extra)),
  }));
  server.setRequestHandler(GetPromptRequestSchema, async (req, extra) =>
    gateway.getPrompt(await caller(extra), req.params, contextFor(extra)),
  );

  let initialized = false;
  server.oninitialized = () => {
    initialized = true;
  };
  const unsubscribe = gateway.onCatalogChange(() => {
    if (!initialized) return;
    void server.sendToolListChanged().catch(() => undefined);
    void server.sendResourceListChanged().catch(() => undefined);
    void server.sendPromptListChanged().catch(() => undefined);
  });
  const previous = server.onclose;
  server.onclose = () => {
    unsubscribe();
    previous?.();
  };
  return server;
}
