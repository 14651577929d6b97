/** The canon: user-space writes (system-space becomes a proposal) and reading records. */
import type { JsonValue } from '../../core/canonical.ts';
import { RECORD_KINDS, type Link, type RecordKind } from '../../canon/record.ts';
import type { AddRoute } from '../route.ts';
import {
  IdParams,
  Proposal,
  RecordPage,
  SealedRecord,
  TIME_PATTERN,
  UINT_PATTERN,
  WriteRequest,
  obj,
  str,
  strict,
} from '../schemas.ts';

interface WriteBody {
  id?: string;
  kind?: RecordKind;
  payload: JsonValue;
  links?: Link[];
  space?: 'user' | 'system';
}

interface ListQuery {
  kind?: RecordKind;
  since?: string;
  limit?: string;
  cursor?: string;
}

export function canonRoutes(add: AddRoute): void {
  add<WriteBody>({
    method: 'POST',
    url: '/api/canon/user/write',
    summary:
      'Writes a sealed user-space record (kind user_data, audit_record or rag_doc; a governing kind is kind_reserved); a system-space write becomes a quorum proposal',
    tag: 'canon',
    auth: 'caller',
    loa: 'mentor (operator with allow_operator_canon_write)',
    body: WriteRequest,
    responses: {
      201: { description: 'The sealed record (seq, id, hash, sig …)', schema: SealedRecord },
      202: {
        description: 'space "system": a proposal that needs the witness quorum',
        schema: obj({ proposal: Proposal, decision_id: { type: 'string' } }, [
          'proposal',
          'decision_id',
        ]),
      },
    },
    errors: [400, 401, 403, 409, 413, 415, 429],
    handler: async ({ body, caller, runtime, reply }) => {
      const result = await runtime.writeRecord(caller, body);
      if (result.record) return result.record;
      reply.code(202);
      return { proposal: result.proposal, decision_id: result.decision_id };
    },
  });

  add<unknown, unknown, { id: string }>({
    method: 'GET',
    url: '/api/canon/records/:id',
    summary: 'One record by id',
    tag: 'canon',
    auth: 'caller',
    loa: 'guest',
    params: IdParams,
    responses: { 200: { description: 'The record', schema: SealedRecord } },
    errors: [400, 401, 403, 404, 429],
    handler: async ({ params, caller, runtime }) => runtime.getRecord(caller, params.id),
  });

  add<unknown, ListQuery>({
    method: 'GET',
    url: '/api/canon/records',
    summary: 'Records in log order, a page at a time',
    tag: 'canon',
    auth: 'caller',
    loa: 'guest',
    querystring: strict({
      kind: { type: 'string', enum: [...RECORD_KINDS] },
      since: str(40, {
        pattern: TIME_PATTERN,
        description: 'RFC 3339 UTC: records with ts ≥ since',
      }),
      limit: str(4, { pattern: '^[1-9][0-9]{0,3}$', description: '1–1000 (default 100)' }),
      cursor: str(16, { pattern: UINT_PATTERN, description: 'from the previous page' }),
    }),
    responses: { 200: { description: 'A page of records', schema: RecordPage } },
    errors: [400, 401, 403, 429],
    handler: async ({ query, caller, runtime }) =>
      runtime.listRecords(caller, {
        ...(query.kind !== undefined ? { kind: query.kind } : {}),
        ...(query.since !== undefined ? { since: query.since } : {}),
        ...(query.limit !== undefined ? { limit: Number(query.limit) } : {}),
        ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
      }),
  });
}
