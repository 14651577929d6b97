/** The canon: user-space writes (system-space becomes a proposal) and reading records. */
import { z } from 'zod';
import { SigilError } from '../../core/errors.ts';
import type { AddRoute } from '../route.ts';
import {
  IdParams,
  Proposal,
  RecordListQuery,
  RecordPage,
  RecordView,
  SealedRecord,
  WriteRequest,
} from '../schemas.ts';
import { wireProposal } from '../../runtime/wire.ts';

export function canonRoutes(add: AddRoute): void {
  add({
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
        schema: z.object({ proposal: Proposal, decision_id: z.string() }),
      },
    },
    errors: [400, 401, 403, 409, 413, 415, 429],
    handler: async ({ body, caller, runtime, reply }) => {
      const result = await runtime.records.write(caller, body);
      if (result.record) return result.record;
      if (!result.proposal)
        throw new SigilError('internal', 'a write made neither a record nor a proposal');
      reply.code(202);
      return { proposal: wireProposal(result.proposal), decision_id: result.decision_id };
    },
  });

  add({
    method: 'GET',
    url: '/api/canon/records/:id',
    summary: 'One record by id: its body for its readers, else its public envelope',
    tag: 'canon',
    auth: 'caller',
    loa: 'guest',
    params: IdParams,
    responses: {
      200: { description: 'The record, or its public envelope only', schema: RecordView },
    },
    errors: [400, 401, 403, 404, 429],
    handler: async ({ params, caller, runtime }) => runtime.records.get(caller, params.id),
  });

  add({
    method: 'GET',
    url: '/api/canon/records',
    summary: 'Records in log order, a page at a time; bodies only for their readers',
    tag: 'canon',
    auth: 'caller',
    loa: 'guest',
    querystring: RecordListQuery,
    responses: { 200: { description: 'A page of records', schema: RecordPage } },
    errors: [400, 401, 403, 429],
    handler: async ({ query, caller, runtime }) =>
      runtime.records.list(caller, {
        ...(query.kind !== undefined ? { kind: query.kind } : {}),
        ...(query.since !== undefined ? { since: query.since } : {}),
        ...(query.limit !== undefined ? { limit: Number(query.limit) } : {}),
        ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
      }),
  });
}
