/** The log's decisions: a filtered list (newest first), per-minute counts, and replay. */
import type { AddRoute } from '../route.ts';
import {
  IdParams,
  Loa,
  TIME_PATTERN,
  UINT_PATTERN,
  array,
  named,
  nullable,
  obj,
  str,
  strict,
  uintSchema as uint,
} from '../schemas.ts';

const DecisionSummary = named(
  'DecisionSummary',
  obj(
    {
      decision_id: { type: 'string' },
      seq: uint,
      ts: { type: 'string', format: 'date-time' },
      verdict: { type: 'string', enum: ['allow', 'deny'] },
      code: nullable({ type: 'string' }),
      reason: { type: 'string' },
      mode: { type: 'string' },
      subject: { type: 'string' },
      loa: Loa,
      signer_type: { type: 'string' },
      action: { type: 'string' },
      target: { type: 'string' },
      score: nullable({ type: 'number' }),
    },
    [
      'decision_id',
      'seq',
      'ts',
      'verdict',
      'code',
      'reason',
      'mode',
      'subject',
      'loa',
      'signer_type',
      'action',
      'target',
      'score',
    ],
  ),
);

const DecisionPage = named(
  'DecisionPage',
  obj(
    {
      decisions: array(DecisionSummary),
      before: { type: 'string', description: 'pass as `before` for the next, older page' },
      scanned: uint,
    },
    ['decisions', 'scanned'],
  ),
);

const counts = (key: string) =>
  array(obj({ [key]: { type: 'string' }, count: uint }, [key, 'count']));

const DecisionStats = named(
  'DecisionStats',
  obj(
    {
      minutes: uint,
      since: { type: 'string', format: 'date-time' },
      per_minute: array(
        obj(
          {
            minute: { type: 'string', format: 'date-time' },
            allow: uint,
            deny: { type: 'object', additionalProperties: uint },
          },
          ['minute', 'allow', 'deny'],
        ),
      ),
      totals: obj({ allow: uint, deny: uint }, ['allow', 'deny']),
      top_denied_actions: counts('action'),
      top_denied_callers: counts('subject'),
      log_size: uint,
    },
    [
      'minutes',
      'since',
      'per_minute',
      'totals',
      'top_denied_actions',
      'top_denied_callers',
      'log_size',
    ],
  ),
);

const verdictOf = obj({ verdict: { type: 'string' }, code: nullable({ type: 'string' }) }, [
  'verdict',
  'code',
]);

const Replay = named(
  'Replay',
  obj(
    {
      decision_id: { type: 'string' },
      recorded: verdictOf,
      replayed: verdictOf,
      matches: { type: 'boolean', description: 'same verdict and code' },
      identical: { type: 'boolean', description: 'the whole decision is the same' },
    },
    ['decision_id', 'recorded', 'replayed', 'matches', 'identical'],
  ),
);

interface ListQuery {
  verdict?: 'allow' | 'deny';
  code?: string;
  subject?: string;
  action?: string;
  target?: string;
  since?: string;
  until?: string;
  before?: string;
  limit?: string;
}

const time = (description: string) => str(40, { pattern: TIME_PATTERN, description });

export function decisionRoutes(add: AddRoute): void {
  add<unknown, ListQuery>({
    method: 'GET',
    url: '/api/decisions',
    summary: 'Sealed decisions, newest first, filtered; a page reads at most 10 000 records',
    tag: 'trust',
    auth: 'caller',
    loa: 'guest',
    querystring: strict({
      verdict: { type: 'string', enum: ['allow', 'deny'] },
      code: str(64, { pattern: '^[a-z0-9_]{1,64}$' }),
      subject: str(256, { minLength: 1, description: 'the caller DID, exactly' }),
      action: str(128, { minLength: 1, description: 'exact, or a prefix ending in *' }),
      target: str(256, { minLength: 1, description: 'a substring of the target' }),
      since: time('RFC 3339 UTC: decisions at or after'),
      until: time('RFC 3339 UTC: decisions before'),
      before: str(16, { pattern: UINT_PATTERN, description: 'from the previous page' }),
      limit: str(3, { pattern: '^[1-9][0-9]{0,2}$', description: '1–200 (default 50)' }),
    }),
    responses: { 200: { description: 'A page of decisions', schema: DecisionPage } },
    errors: [400, 401, 403, 429],
    handler: async ({ query, caller, runtime }) => {
      const { before, limit, ...filter } = query;
      return runtime.listDecisions(caller, {
        ...filter,
        ...(before !== undefined ? { before: Number(before) } : {}),
        ...(limit !== undefined ? { limit: Number(limit) } : {}),
      });
    },
  });

  add<unknown, { minutes?: string }>({
    method: 'GET',
    url: '/api/decisions/stats',
    summary: 'Decisions per minute (allowed, denied by code), top denied actions and callers',
    tag: 'trust',
    auth: 'caller',
    loa: 'observer',
    querystring: strict({
      minutes: str(4, { pattern: '^[1-9][0-9]{0,3}$', description: '1–1440 (default 60)' }),
    }),
    responses: { 200: { description: 'The counts', schema: DecisionStats } },
    errors: [400, 401, 403, 429],
    handler: async ({ query, caller, runtime, reply }) => {
      reply.header('cache-control', 'no-store');
      return runtime.decisionStats(
        caller,
        query.minutes === undefined ? 60 : Number(query.minutes),
      );
    },
  });

  add<unknown, unknown, { id: string }>({
    method: 'POST',
    url: '/api/decisions/:id/replay',
    summary: 'Re-runs a sealed decision on its recorded inputs and says whether it agrees',
    tag: 'trust',
    auth: 'caller',
    loa: 'guest',
    params: IdParams,
    bodyOptional: true,
    body: strict({}),
    responses: { 200: { description: 'Recorded and replayed decision', schema: Replay } },
    errors: [400, 401, 403, 404, 413, 415, 429],
    handler: async ({ params, caller, runtime }) => runtime.replayFor(caller, params.id),
  });
}
