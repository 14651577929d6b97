/**
 * System changes through the quorum: genesis, proposals, votes and commits. A change takes
 * effect only as a `system_config` record, sealed once Root and k human Mentor witnesses have
 * voted for it and the kernel, judging their votes as quorum evidence, permits the commit.
 * Before genesis only the genesis proposal commits.
 */
import type { JsonValue } from '../../core/canonical.ts';
import { SigilError, isSigilError } from '../../core/errors.ts';
import type { SealedRecord } from '../../canon/log.ts';
import { isSettingChange, parseSettingChange } from '../../config/index.ts';
import {
  extractFeatures,
  parseTrustModel,
  scoreTrust,
  type Loa,
  type TrustModel,
} from '../../policy/index.ts';
import { isDid } from '../../core/did.ts';
import {
  activeWitnesses,
  attest as attestProposal,
  commitProposal,
  createProposal,
  genesisChange,
  genesisOf,
  holdsSlot,
  inForce,
  quorumEvidenceJson,
  quorumStatus,
  type Electorate,
  type EnrolmentChallenge,
  type Proposal,
  type QuorumRequirements,
  type QuorumStatus,
  type WitnessEntry,
} from '../../quorum/index.ts';
import { isLoa, loaAtLeast } from '../../policy/index.ts';
import {
  checkRoleGrant,
  isRoleGrantChange,
  parseRoleGrant,
  requireRoleGrant,
  roleGrantedRecord,
} from './roles.ts';
import { asJson, checkId, type RuntimeCore } from '../core.ts';
import { VIEWS, attestationViews } from '../view-ns.ts';
import type { Caller } from '../decide.ts';
import {
  electorate as electorateOf,
  enrolmentChallenge,
  enrolWitness,
  genesisInfo,
  listWitnesses,
  standingMap,
  witnessRegistry,
  type GenesisInfo,
} from './witnesses.ts';

function hasOnly(change: object, keys: readonly string[]): boolean {
  return Object.keys(change).every((k) => keys.includes(k));
}

/** The requests of the quorum flow itself, as the runtime adjudicates them. */
const QUORUM_FLOW: ReadonlyArray<{
  action: string;
  target: string;
  loa: Loa;
  payload?: JsonValue;
}> = [
  {
    action: 'system.propose',
    target: 'system/proposals',
    loa: 'root',
    payload: { setting: 'irl.threshold', value: 0.4 },
  },
  { action: 'system.attest', target: `system/proposals/${'0'.repeat(64)}`, loa: 'mentor' },
  { action: 'system.commit', target: `system/proposals/${'0'.repeat(64)}`, loa: 'root' },
];

/**
 * Refuses a threshold or model under which the quorum could no longer sit ('setting_invalid'):
 * if Root's proposal or commit, or a Mentor's attestation, scored below the threshold at rest,
 * no later system change could undo it.
 */
function checkQuorumReachable(model: TrustModel, threshold: number): void {
  for (const r of QUORUM_FLOW) {
    const { values } = extractFeatures({ ...r, ratePressure: 0 }, model);
    const { score } = scoreTrust(model, values);
    if (!(score >= threshold)) {
      throw new SigilError(
        'setting_invalid',
        `this change would lock the quorum out: ${r.loa}'s ${r.action} would score ` +
          `${score.toFixed(3)}, below the threshold ${threshold}`,
        { action: r.action, score, threshold },
      );
    }
  }
}

/**
 * A change is one Sigil can apply once committed: a setting (`{setting, value}`), a trust model
 * (`{model}`) or a system-space write (`{write, id}`). Anything else is refused now
 * ('unknown_setting', 'setting_invalid', 'model_invalid', 'change_invalid'), so nothing the
 * quorum signs is a silent no-op, and no change may leave the quorum unable to sit again.
 */
/**
 * Refuses ('quorum_unreachable') a change after which fewer witnesses in force with their
 * standing would remain than a quorum needs: Root, and `mentors` Mentors.
 */
async function checkWitnessesSuffice(
  core: RuntimeCore,
  removing: string | null,
  mentors: number,
): Promise<void> {
  const standing = await standingMap(core);
  const left = activeWitnesses(await witnessRegistry(core)).filter(
    (w) => w.did !== removing && holdsSlot(w.role, standing.get(w.did)),
  );
  const root = left.filter((w) => w.role === 'root').length;
  if (root >= 1 && left.length - root >= mentors) return;
  throw new SigilError(
    'quorum_unreachable',
    `the quorum could no longer sit: ${root} Root and ${left.length - root} Mentor witnesses ` +
      `would remain for Root + ${mentors} Mentors`,
    { root, mentors: left.length - root, mentors_required: mentors },
  );
}

/** The witness entry a `witness_add` or `witness_remove` change names, from the registry. */
async function namedWitness(core: RuntimeCore, did: JsonValue, adding: boolean) {
  if (typeof did !== 'string' || !isDid(did)) {
    throw new SigilError('change_invalid', 'witness_add and witness_remove name a witness DID');
  }
  const entry = (await witnessRegistry(core)).entries.get(did);
  if (entry === undefined) throw new SigilError('witness_unknown', `${did} has not enrolled`);
  if (adding && (inForce(entry) || entry.revoked_at !== null)) {
    throw new SigilError('witness_exists', `${did} is not an enrolment waiting to be admitted`);
  }
  if (!adding && !inForce(entry)) {
    throw new SigilError('witness_unknown', `${did} is not a witness in force`);
  }
  return entry;
}

/**
 * A change is one Sigil can apply once committed: a setting (`{setting, value}`), a trust model
 * (`{model}`), a system-space write (`{write, id}`), a governed role (`{role_grant}`), a witness
 * admitted or removed (`{witness_add: did}`, `{witness_remove: did}`, expanded here to the
 * enrolled entry, so the witnesses sign the very key) or a raised standing (`{standing_grant:
 * {subject, loa}}`). Anything else is refused now ('unknown_setting', 'setting_invalid',
 * 'model_invalid', 'change_invalid'), so nothing the quorum signs is a silent no-op, and no change
 * may leave the quorum unable to sit again. Returns the change to propose.
 */
async function checkChange(
  core: RuntimeCore,
  model: TrustModel,
  change: JsonValue,
): Promise<JsonValue> {
  if (isSettingChange(change)) {
    const { setting, value } = parseSettingChange(change);
    if (setting === 'irl.threshold') checkQuorumReachable(model, value as number);
    if (setting === 'quorum.mentors_required' && (await genesisInfo(core)) !== null) {
      await checkWitnessesSuffice(core, null, value as number);
    }
    return change;
  }
  if (typeof change === 'object' && change !== null && !Array.isArray(change)) {
    if ('model' in change && hasOnly(change, ['model'])) {
      checkQuorumReachable(parseTrustModel(change.model), core.config.irl.threshold);
      return change;
    }
    if ('write' in change && hasOnly(change, ['write', 'id'])) return change;
    if (isRoleGrantChange(change)) {
      parseRoleGrant(change.role_grant);
      return change;
    }
    if ('witness_add' in change && hasOnly(change, ['witness_add'])) {
      return { witness_add: asJson(await namedWitness(core, change.witness_add!, true)) };
    }
    if ('witness_remove' in change && hasOnly(change, ['witness_remove'])) {
      const entry = await namedWitness(core, change.witness_remove!, false);
      await checkWitnessesSuffice(core, entry.did, core.config.quorum.mentorsRequired);
      return { witness_remove: asJson(entry) };
    }
    if ('standing_grant' in change && hasOnly(change, ['standing_grant'])) {
      const g = change.standing_grant as { subject?: unknown; loa?: unknown } | null;
      if (
        typeof g !== 'object' ||
        g === null ||
        !isDid(g.subject) ||
        !isLoa(g.loa) ||
        !loaAtLeast(g.loa, 'mentor') ||
        !hasOnly(g, ['subject', 'loa'])
      ) {
        throw new SigilError(
          'change_invalid',
          'standing_grant is {"subject": <DID>, "loa": "mentor" | "root"}',
        );
      }
      return { standing_grant: { subject: g.subject, loa: g.loa } };
    }
  }
  throw new SigilError(
    'change_invalid',
    'a change is {"setting": key, "value": v}, {"model": …}, {"write": …, "id": …}, ' +
      '{"role_grant": …}, {"witness_add": did}, {"witness_remove": did} or {"standing_grant": …}',
  );
}

/** Opens a proposal (Root); returns it with the id of the decision that allowed it. */
export async function propose(
  core: RuntimeCore,
  caller: Caller,
  requested: JsonValue,
  model: TrustModel,
): Promise<{ proposal: Proposal; decision_id: string }> {
  const change = await checkChange(core, model, requested);
  if (isRoleGrantChange(change)) {
    await requireRoleGrant(core, caller, parseRoleGrant(change.role_grant));
  }
  return openProposal(core, caller, change);
}

/**
 * Opens the genesis proposal (Root, once): it names every witness enrolled now with its slot's
 * standing (Root and at least k Mentors, else 'genesis_incomplete') and needs all their votes.
 */
export async function proposeGenesis(
  core: RuntimeCore,
  caller: Caller,
): Promise<{ proposal: Proposal; decision_id: string }> {
  const d = await core.require(caller, { action: 'system.propose', target: 'system/genesis' });
  if ((await genesisInfo(core)) !== null) {
    throw new SigilError('genesis_exists', 'genesis is sealed; the witness set changes by quorum');
  }
  const { change, requirements } = genesisChange(
    await witnessRegistry(core),
    await standingMap(core),
    core.config.quorum.mentorsRequired,
  );
  return {
    proposal: await sealProposal(core, caller, asJson(change), requirements, d.decision_id),
    decision_id: d.decision_id,
  };
}

async function openProposal(
  core: RuntimeCore,
  caller: Caller,
  change: JsonValue,
): Promise<{ proposal: Proposal; decision_id: string }> {
  const d = await core.require(caller, {
    action: 'system.propose',
    target: 'system/proposals',
    payload: change,
  });
  // Read after the decision, which brings the configuration up to date with the log.
  const requirements = { root: 1, mentors: core.config.quorum.mentorsRequired };
  return {
    proposal: await sealProposal(core, caller, change, requirements, d.decision_id),
    decision_id: d.decision_id,
  };
}

/** Opens and seals a proposal the decision `decisionId` allowed. */
async function sealProposal(
  core: RuntimeCore,
  caller: Caller,
  change: JsonValue,
  requirements: QuorumRequirements,
  decisionId: string,
): Promise<Proposal> {
  const proposal = createProposal({
    change,
    proposer: caller,
    now: core.now(),
    requirements,
    ttlMs: core.config.quorum.proposalTtlSeconds * 1000,
  });
  await core.append(
    'quorum_event',
    { event: 'proposed', proposal: asJson(proposal) },
    { space: 'system', links: [{ rel: 'decision', id: decisionId }] },
  );
  return proposal;
}

/** A proposal with its votes, and the seq of the record that wrote its view row (for `expect`). */
async function loadProposalEntry(
  core: RuntimeCore,
  id: string,
): Promise<{ proposal: Proposal; seq: number }> {
  const row = await VIEWS.proposals.entry(core.log.views, checkId(id, 'proposal id'));
  if (!row) throw new SigilError('proposal_not_found', `no proposal with id ${id}`);
  const attestations = (await attestationViews(id).list(core.log.views))
    .map((r) => r.value)
    .sort((a, b) => a.attested_at.localeCompare(b.attested_at));
  return { proposal: { ...row.value, attestations }, seq: row.seq };
}

async function loadProposal(core: RuntimeCore, id: string): Promise<Proposal> {
  return (await loadProposalEntry(core, id)).proposal;
}

/**
 * The caller votes for a proposal as the witness it is (its subject DID), with its two typed
 * human signatures (Mentor+, human callers only): no one votes for another.
 */
export async function attest(
  core: RuntimeCore,
  caller: Caller,
  input: { proposal_id: string; signature: string; provenance_signature: string },
): Promise<{ proposal: Proposal; status: QuorumStatus }> {
  await core.require(caller, {
    action: 'system.attest',
    target: `system/proposals/${input.proposal_id}`,
  });
  if (caller.signer.type !== 'human') {
    throw new SigilError('witness_not_human', 'only human witnesses count');
  }
  const loaded = await loadProposal(core, input.proposal_id);
  const electorate = await electorateOf(core, loaded);
  const proposal = attestProposal(
    loaded,
    {
      witness_id: caller.subject,
      signature: input.signature,
      provenance_signature: input.provenance_signature,
    },
    electorate,
    core.now(),
  );
  const added = proposal.attestations.at(-1)!;
  await core.append(
    'quorum_event',
    {
      event: 'attested',
      proposal_id: proposal.id,
      witness_id: added.witness_id,
      by: caller.subject,
      attestation: asJson(added),
    },
    { space: 'system' },
  );
  return { proposal, status: quorumStatus(proposal, electorate) };
}

/** Before genesis only genesis commits ('genesis_required'); after it, never again. */
async function checkGenesisOrder(core: RuntimeCore, proposal: Proposal): Promise<void> {
  const sealed = (await genesisInfo(core)) !== null;
  const isGenesis = genesisOf(proposal.change) !== null;
  if (!sealed && !isGenesis) {
    throw new SigilError(
      'genesis_required',
      'no system change commits before genesis: enrol Root and the Mentors, then `sigil quorum genesis`',
    );
  }
  if (sealed && isGenesis) throw new SigilError('genesis_exists', 'genesis is already sealed');
}

/** A witness change still applies to the registry as it is now ('witness_exists'/'witness_unknown'). */
async function checkWitnessChange(core: RuntimeCore, change: JsonValue): Promise<void> {
  if (typeof change !== 'object' || change === null || Array.isArray(change)) return;
  const named = (change.witness_add ?? change.witness_remove) as WitnessEntry | undefined;
  if (named === undefined) return;
  const current = await namedWitness(core, named.did, 'witness_add' in change);
  if (current.public_key !== named.public_key || current.role !== named.role) {
    throw new SigilError('witness_exists', `${named.did} enrolled another key since the proposal`);
  }
}

/**
 * The commit is a system change: the kernel judges the proposal's votes itself
 * (quorum-legitimate), and its decision is sealed before anything else is said, so a caller
 * the matrix refuses learns nothing. Before genesis no one is a witness in force, so the kernel
 * finds no counted vote; that refusal is answered 'genesis_required'.
 */
async function adjudicateCommit(
  core: RuntimeCore,
  caller: Caller,
  proposalId: string,
): Promise<{ loaded: Proposal; seq: number; electorate: Electorate }> {
  const request = { action: 'system.commit', target: `system/proposals/${proposalId}` };
  let loaded: Proposal;
  let seq: number;
  try {
    ({ proposal: loaded, seq } = await loadProposalEntry(core, proposalId));
  } catch (err) {
    if (!isSigilError(err, 'proposal_not_found')) throw err;
    await core.require(caller, request).catch((denial: unknown) => {
      if (!isSigilError(denial, 'quorum_required')) throw denial;
    });
    throw err;
  }
  const electorate = await electorateOf(core, loaded);
  try {
    await core.require(caller, { ...request, quorum: quorumEvidenceJson(loaded, electorate) });
  } catch (denial) {
    const beforeGenesis =
      isSigilError(denial, 'quorum_required') &&
      genesisOf(loaded.change) === null &&
      (await genesisInfo(core)) === null;
    if (!beforeGenesis) throw denial;
    throw new SigilError(
      'genesis_required',
      'no system change commits before genesis: enrol Root and the Mentors, then `sigil quorum genesis`',
      denial.details,
    );
  }
  return { loaded, seq, electorate };
}

/** Seals the change once the quorum is met ('quorum_required' until then). */
export async function commit(
  core: RuntimeCore,
  caller: Caller,
  proposalId: string,
): Promise<{ proposal: Proposal; record: SealedRecord }> {
  const { loaded, seq, electorate } = await adjudicateCommit(core, caller, proposalId);
  await checkGenesisOrder(core, loaded);
  await checkWitnessChange(core, loaded.change);
  const { proposal, record } = commitProposal(loaded, electorate, core.now());
  // Witnesses signed the proposal (id and change hash), so their signatures travel in the
  // payload where anyone can re-check them against the registry.
  const config = {
    kind: 'system_config' as const,
    payload: asJson({ ...record.payload, attestations: record.witnesses }),
    extra: { space: 'system' as const },
  };
  const change = proposal.change;
  const records: Parameters<RuntimeCore['appendMany']>[0][number][] = [config];
  if (isRoleGrantChange(change)) {
    // A role takes effect in the same transaction as the change that grants it, and only if
    // the subject still holds no role of another branch.
    const grant = parseRoleGrant(change.role_grant);
    await checkRoleGrant(core, grant);
    records.push(roleGrantedRecord(grant, proposal.id, core.now()));
  }
  // Compare-and-set, inside the commit's own transaction: the proposal's row is still the
  // pending one read above (its `system_config` rewrites it), so of two commits racing on one
  // or several instances only the first seals; the other is 'proposal_not_pending'.
  const expect = [{ ns: VIEWS.proposals.name, key: proposal.id, seq }];
  try {
    const [sealed] = await core.appendMany(records, { expect });
    return { proposal, record: sealed! };
  } catch (err) {
    if (!isSigilError(err, 'conflict')) throw err;
    throw new SigilError('proposal_not_pending', `proposal ${proposal.id} was committed meanwhile`);
  }
}

export async function listProposals(core: RuntimeCore, caller: Caller): Promise<Proposal[]> {
  await core.require(caller, { action: 'canon.read', target: 'system/proposals' });
  const rows = await VIEWS.proposals.list(core.log.views);
  return Promise.all(rows.map((r) => loadProposal(core, r.key)));
}

export async function getProposal(
  core: RuntimeCore,
  caller: Caller,
  id: string,
): Promise<{ proposal: Proposal; status: QuorumStatus }> {
  await core.require(caller, { action: 'canon.read', target: `system/proposals/${id}` });
  const proposal = await loadProposal(core, id);
  return { proposal, status: quorumStatus(proposal, await electorateOf(core, proposal)) };
}

/** The quorum room (`runtime.quorum`): enrolment, genesis, proposals, votes and commits. */
export function quorumService(core: RuntimeCore, model: () => TrustModel) {
  return {
    /** A single-use challenge for the caller's own witness enrolment. */
    enrolmentChallenge: (caller: Caller): Promise<EnrolmentChallenge> =>
      enrolmentChallenge(core, caller),
    /** The caller enrols its own key with a proof of possession over its challenge. */
    enrol: (
      caller: Caller,
      input: { challenge_id: string; public_key: string; proof: string },
    ): Promise<WitnessEntry> => enrolWitness(core, caller, input),
    witnesses: (
      caller: Caller,
    ): Promise<{ witnesses: WitnessEntry[]; genesis: GenesisInfo | null }> =>
      listWitnesses(core, caller),
    /** Opens the genesis proposal naming the enrolled witness set. */
    genesis: async (caller: Caller): Promise<Proposal> =>
      (await proposeGenesis(core, caller)).proposal,
    /** Opens a system-change proposal; it takes effect only when committed with a quorum. */
    propose: async (caller: Caller, change: JsonValue): Promise<Proposal> =>
      (await propose(core, caller, change, model())).proposal,
    attest: (
      caller: Caller,
      input: { proposal_id: string; signature: string; provenance_signature: string },
    ): Promise<{ proposal: Proposal; status: QuorumStatus }> => attest(core, caller, input),
    commit: (
      caller: Caller,
      proposalId: string,
    ): Promise<{ proposal: Proposal; record: SealedRecord }> => commit(core, caller, proposalId),
    list: (caller: Caller): Promise<Proposal[]> => listProposals(core, caller),
    get: (caller: Caller, id: string): Promise<{ proposal: Proposal; status: QuorumStatus }> =>
      getProposal(core, caller, id),
  };
}
export type QuorumService = ReturnType<typeof quorumService>;
