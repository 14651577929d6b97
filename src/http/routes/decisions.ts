/** The log's decisions: a filtered list (newest first), per-minute counts, and replay. */
import type { AddRoute } from '../route.ts';
import {
  DecisionListQuery,
  DecisionPage,
  DecisionStats,
  DecisionStatsQuery,
  EmptyRequest,
  GatewayStats,
  IdParams,
  Replay,
} from '../schemas.ts';

export function decisionRoutes(add: AddRoute): void {
  add({
    method: 'GET',
    url: '/api/decisions',
    summary: 'Sealed decisions, newest first, filtered; a page reads at most 10 000 records',
    tag: 'trust',
    auth: 'caller',
    loa: 'guest',
    querystring: DecisionListQuery,
    responses: { 200: { description: 'A page of decisions', schema: DecisionPage } },
    errors: [400, 401, 403, 429],
    handler: async ({ query, caller, runtime }) => {
      const { before, limit, ...filter } = query;
      return runtime.decisions.list(caller, {
        ...filter,
        ...(before !== undefined ? { before: Number(before) } : {}),
        ...(limit !== undefined ? { limit: Number(limit) } : {}),
      });
    },
  });

  add({
    method: 'GET',
    url: '/api/decisions/stats',
    summary: 'Decisions per minute (allowed, denied by code), top denied actions and callers',
    tag: 'trust',
    auth: 'caller',
    loa: 'observer',
    querystring: DecisionStatsQuery,
    responses: { 200: { description: 'The counts', schema: DecisionStats } },
    errors: [400, 401, 403, 429],
    handler: async ({ query, caller, runtime, reply }) => {
      reply.header('cache-control', 'no-store');
      return runtime.decisions.stats(
        caller,
        query.minutes === undefined ? 60 : Number(query.minutes),
      );
    },
  });

  add({
    method: 'GET',
    url: '/api/gateway/stats',
    summary: "The MCP gateway's calls per tool, with the median latency it added to each",
    tag: 'trust',
    auth: 'caller',
    loa: 'observer',
    querystring: DecisionStatsQuery,
    responses: { 200: { description: 'The calls per tool', schema: GatewayStats } },
    errors: [400, 401, 403, 429],
    handler: async ({ query, caller, runtime, reply }) => {
      reply.header('cache-control', 'no-store');
      return runtime.gateway.stats(
        caller,
        query.minutes === undefined ? 60 : Number(query.minutes),
      );
    },
  });

  add({
    method: 'POST',
    url: '/api/decisions/:id/replay',
    summary: 'Re-runs a sealed decision on its recorded inputs and says whether it agrees',
    tag: 'trust',
    auth: 'caller',
    loa: 'guest',
    params: IdParams,
    bodyOptional: true,
    body: EmptyRequest,
    responses: { 200: { description: 'Recorded and replayed decision', schema: Replay } },
    errors: [400, 401, 403, 404, 413, 415, 422, 429],
    handler: async ({ params, caller, runtime }) => runtime.replayFor(caller, params.id),
  });
}
