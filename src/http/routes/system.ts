/** System changes through the quorum: witness enrolment, genesis, proposals, votes, commits. */
import { z } from 'zod';
import type { AddRoute } from '../route.ts';
import {
  AttestRequest,
  CommitRequest,
  EnrolmentChallenge,
  EnrolRequest,
  EmptyRequest,
  IdParams,
  Proposal,
  ProposalWithStatus,
  ProposeRequest,
  SealedRecord,
  WitnessEntry,
  WitnessList,
} from '../schemas.ts';
import { wireProposal } from '../../runtime/wire.ts';

export function systemRoutes(add: AddRoute): void {
  add({
    method: 'POST',
    url: '/api/canon/system/witnesses/challenge',
    summary: "A single-use challenge for the caller's own witness enrolment (human Mentor or Root)",
    tag: 'quorum',
    auth: 'caller',
    loa: 'mentor',
    body: EmptyRequest,
    bodyOptional: true,
    responses: { 201: { description: 'The challenge', schema: EnrolmentChallenge } },
    errors: [400, 401, 403, 413, 415, 429],
    handler: async ({ caller, runtime }) => runtime.quorum.enrolmentChallenge(caller),
  });

  add({
    method: 'POST',
    url: '/api/canon/system/witnesses',
    summary:
      "Enrols the caller's own witness key with a proof of possession over its challenge; " +
      'after genesis it counts once the quorum commits {"witness_add": did}',
    tag: 'quorum',
    auth: 'caller',
    loa: 'mentor',
    body: EnrolRequest,
    responses: { 201: { description: 'The enrolled witness', schema: WitnessEntry } },
    errors: [400, 401, 403, 409, 413, 415, 429],
    handler: async ({ body, caller, runtime }) => runtime.quorum.enrol(caller, body),
  });

  add({
    method: 'GET',
    url: '/api/canon/system/witnesses',
    summary: 'Every witness entry and the sealed genesis (null before it)',
    tag: 'quorum',
    auth: 'caller',
    loa: 'guest',
    responses: { 200: { description: 'The witnesses', schema: WitnessList } },
    errors: [401, 403, 429],
    handler: async ({ caller, runtime }) => runtime.quorum.witnesses(caller),
  });

  add({
    method: 'POST',
    url: '/api/canon/system/genesis',
    summary:
      'Opens the genesis proposal naming the enrolled Root and Mentors; it commits only with all their votes',
    tag: 'quorum',
    auth: 'caller',
    loa: 'root',
    body: EmptyRequest,
    bodyOptional: true,
    responses: { 201: { description: 'The genesis proposal', schema: Proposal } },
    errors: [400, 401, 403, 409, 413, 415, 429],
    handler: async ({ caller, runtime }) => wireProposal(await runtime.quorum.genesis(caller)),
  });

  add({
    method: 'POST',
    url: '/api/canon/system/propose',
    summary: 'Opens a system-change proposal; nothing changes until it is committed',
    tag: 'quorum',
    auth: 'caller',
    loa: 'root',
    body: ProposeRequest,
    responses: { 201: { description: 'The proposal', schema: Proposal } },
    errors: [400, 401, 403, 413, 415, 429],
    handler: async ({ body, caller, runtime }) =>
      wireProposal(await runtime.quorum.propose(caller, body.change)),
  });

  add({
    method: 'POST',
    url: '/api/canon/system/attest',
    summary:
      "The caller's vote as the witness it is: typed human signatures over its provenance and vote",
    tag: 'quorum',
    auth: 'caller',
    loa: 'mentor',
    body: AttestRequest,
    responses: { 200: { description: 'The proposal and its quorum', schema: ProposalWithStatus } },
    errors: [400, 401, 403, 404, 409, 413, 415, 429],
    handler: async ({ body, caller, runtime }) => {
      const { proposal, status } = await runtime.quorum.attest(caller, body);
      return { proposal: wireProposal(proposal), status };
    },
  });

  add({
    method: 'POST',
    url: '/api/canon/system/commit',
    summary: 'Applies a proposal once Root and k Mentors have attested (409 quorum_required)',
    tag: 'quorum',
    auth: 'caller',
    loa: 'root',
    body: CommitRequest,
    responses: {
      200: {
        description: 'The committed proposal and its sealed system record',
        schema: z.object({ proposal: Proposal, record: SealedRecord }),
      },
    },
    errors: [400, 401, 403, 404, 409, 413, 415, 429],
    handler: async ({ body, caller, runtime }) => {
      const { proposal, record } = await runtime.quorum.commit(caller, body.proposal_id);
      return { proposal: wireProposal(proposal), record };
    },
  });

  add({
    method: 'GET',
    url: '/api/canon/system/proposals',
    summary: 'Every proposal',
    tag: 'quorum',
    auth: 'caller',
    loa: 'guest',
    responses: {
      200: {
        description: 'The proposals',
        schema: z.object({ proposals: z.array(Proposal) }),
      },
    },
    errors: [401, 403, 429],
    handler: async ({ caller, runtime }) => ({
      proposals: (await runtime.quorum.list(caller)).map(wireProposal),
    }),
  });

  add({
    method: 'GET',
    url: '/api/canon/system/proposals/:id',
    summary: 'One proposal and its quorum status',
    tag: 'quorum',
    auth: 'caller',
    loa: 'guest',
    params: IdParams,
    responses: { 200: { description: 'The proposal', schema: ProposalWithStatus } },
    errors: [400, 401, 403, 404, 429],
    handler: async ({ params, caller, runtime }) => {
      const { proposal, status } = await runtime.quorum.get(caller, params.id);
      return { proposal: wireProposal(proposal), status };
    },
  });
}
