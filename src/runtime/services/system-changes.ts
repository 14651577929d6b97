/**
 * System changes through the quorum: the witness registry, proposals, attestations and
 * commits. A change takes effect only as a `system_config` record, sealed once Root and k human
 * Mentors have signed the proposal.
 */
import type { JsonValue } from '../../core/canonical.ts';
import { SigilError } from '../../core/errors.ts';
import type { SealedRecord } from '../../canon/log.ts';
import { isSettingChange, parseSettingChange } from '../../config/index.ts';
import {
  extractFeatures,
  parseTrustModel,
  scoreTrust,
  type Loa,
  type TrustModel,
} from '../../policy/index.ts';
import {
  applyWitnessEvent,
  attest as attestProposal,
  commitProposal,
  createProposal,
  emptyRegistry,
  quorumStatus,
  registerWitness as registerWitnessEntry,
  type Proposal,
  type QuorumStatus,
  type WitnessAttestation,
  type WitnessEntry,
  type WitnessRegistry,
} from '../../quorum/index.ts';
import { attestationsNs } from '../../canon/views.ts';
import {
  checkRoleGrant,
  isRoleGrantChange,
  parseRoleGrant,
  requireRoleGrant,
  roleGrantedRecord,
} from './roles.ts';
import { NS, asJson, checkId, type RuntimeCore } from '../core.ts';
import type { Caller } from '../decide.ts';

/** The witness registry, as sealed by witness events. */
export async function witnessRegistry(core: RuntimeCore): Promise<WitnessRegistry> {
  let registry = emptyRegistry();
  for (const { value } of await core.log.views.list(NS.witnesses)) {
    registry = applyWitnessEvent(registry, {
      type: 'witness_registered',
      entry: value as unknown as WitnessEntry,
    });
  }
  return registry;
}

/** Registers a witness (human Root); its DID must not be the registering actor's own. */
export async function registerWitness(
  core: RuntimeCore,
  caller: Caller,
  input: { witness_id: string; did: string; role: 'root' | 'mentor'; public_key: string },
): Promise<WitnessEntry> {
  await core.require(caller, {
    action: 'witness.register',
    target: `witnesses/${input.witness_id}`,
    payload: { did: input.did, witness_id: input.witness_id, role: input.role },
  });
  const { event } = registerWitnessEntry(await witnessRegistry(core), input, caller, core.now());
  const entry = (event as { entry: WitnessEntry }).entry;
  await core.append('witness_event', asJson(event), { space: 'system' });
  return entry;
}

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
function checkChange(core: RuntimeCore, model: TrustModel, change: JsonValue): void {
  if (isSettingChange(change)) {
    const { setting, value } = parseSettingChange(change);
    if (setting === 'irl.threshold') checkQuorumReachable(model, value as number);
    return;
  }
  if (typeof change === 'object' && change !== null && !Array.isArray(change)) {
    if ('model' in change && hasOnly(change, ['model'])) {
      checkQuorumReachable(parseTrustModel(change.model), core.config.irl.threshold);
      return;
    }
    if ('write' in change && hasOnly(change, ['write', 'id'])) return;
    if (isRoleGrantChange(change)) {
      parseRoleGrant(change.role_grant);
      return;
    }
  }
  throw new SigilError(
    'change_invalid',
    'a change is {"setting": key, "value": v}, {"model": …}, {"write": …, "id": …} or {"role_grant": …}',
  );
}

/** Opens a proposal (Root); returns it with the id of the decision that allowed it. */
export async function propose(
  core: RuntimeCore,
  caller: Caller,
  change: JsonValue,
  model: TrustModel,
): Promise<{ proposal: Proposal; decision_id: string }> {
  checkChange(core, model, change);
  if (isRoleGrantChange(change)) {
    await requireRoleGrant(core, caller, parseRoleGrant(change.role_grant));
  }
  const d = await core.require(caller, {
    action: 'system.propose',
    target: 'system/proposals',
    payload: change,
  });
  const proposal = createProposal({
    change,
    proposer: caller,
    now: core.now(),
    requirements: { root: 1, mentors: core.config.quorum.mentorsRequired },
    ttlMs: core.config.quorum.proposalTtlSeconds * 1000,
  });
  await core.append(
    'quorum_event',
    { event: 'proposed', proposal: asJson(proposal) },
    { space: 'system', links: [{ rel: 'decision', id: d.decision_id }] },
  );
  return { proposal, decision_id: d.decision_id };
}

async function loadProposal(core: RuntimeCore, id: string): Promise<Proposal> {
  const p = await core.log.views.get(NS.proposals, checkId(id, 'proposal id'));
  if (!p) throw new SigilError('proposal_not_found', `no proposal with id ${id}`);
  const rows = await core.log.views.list(attestationsNs(id));
  const attestations = rows
    .map((r) => r.value as unknown as WitnessAttestation)
    .sort((a, b) => a.attested_at.localeCompare(b.attested_at));
  return { ...(p as unknown as Proposal), attestations };
}

/** Adds a witness's typed human signature to a proposal (Mentor+, human callers only). */
export async function attest(
  core: RuntimeCore,
  caller: Caller,
  input: { proposal_id: string; witness_id: string; signature: string },
): Promise<{ proposal: Proposal; status: QuorumStatus }> {
  await core.require(caller, {
    action: 'system.attest',
    target: `system/proposals/${input.proposal_id}`,
  });
  if (caller.signer.type !== 'human') {
    throw new SigilError('witness_not_human', 'only human witnesses count');
  }
  const registry = await witnessRegistry(core);
  const proposal = attestProposal(
    await loadProposal(core, input.proposal_id),
    { witness_id: input.witness_id, signature: input.signature, signer_type: { type: 'human' } },
    registry,
    core.now(),
  );
  const added = proposal.attestations.at(-1)!;
  await core.append(
    'quorum_event',
    {
      event: 'attested',
      proposal_id: proposal.id,
      witness_id: input.witness_id,
      by: caller.subject,
      signature: input.signature,
      attestation: asJson(added),
    },
    { space: 'system' },
  );
  return { proposal, status: quorumStatus(proposal, registry) };
}

/** Seals the change once the quorum is met ('quorum_required' until then). */
export async function commit(
  core: RuntimeCore,
  caller: Caller,
  proposalId: string,
): Promise<{ proposal: Proposal; record: SealedRecord }> {
  await core.require(caller, {
    action: 'system.commit',
    target: `system/proposals/${proposalId}`,
  });
  const { proposal, record } = commitProposal(
    await loadProposal(core, proposalId),
    await witnessRegistry(core),
    core.now(),
  );
  // Witnesses signed the proposal (id and change hash), so their signatures travel in the
  // payload where anyone can re-check them against the registry.
  const config = {
    kind: 'system_config' as const,
    payload: asJson({ ...record.payload, attestations: record.witnesses }),
    extra: { space: 'system' as const },
  };
  const change = proposal.change;
  if (!isRoleGrantChange(change))
    return { proposal, record: await core.append(config.kind, config.payload, config.extra) };
  // A role takes effect in the same transaction as the change that grants it, and only if the
  // subject still holds no role of another branch.
  const grant = parseRoleGrant(change.role_grant);
  await checkRoleGrant(core, grant);
  const [sealed] = await core.appendMany([
    config,
    roleGrantedRecord(grant, proposal.id, core.now()),
  ]);
  return { proposal, record: sealed! };
}

export async function listProposals(core: RuntimeCore, caller: Caller): Promise<Proposal[]> {
  await core.require(caller, { action: 'canon.read', target: 'system/proposals' });
  const rows = await core.log.views.list(NS.proposals);
  return Promise.all(rows.map((r) => loadProposal(core, r.key)));
}

export async function getProposal(
  core: RuntimeCore,
  caller: Caller,
  id: string,
): Promise<{ proposal: Proposal; status: QuorumStatus }> {
  await core.require(caller, { action: 'canon.read', target: `system/proposals/${id}` });
  const proposal = await loadProposal(core, id);
  return { proposal, status: quorumStatus(proposal, await witnessRegistry(core)) };
}

/** The quorum room (`runtime.quorum`): witnesses, proposals, attestations and commits. */
export function quorumService(core: RuntimeCore, model: () => TrustModel) {
  return {
    registerWitness: (
      caller: Caller,
      input: { witness_id: string; did: string; role: 'root' | 'mentor'; public_key: string },
    ): Promise<WitnessEntry> => registerWitness(core, caller, input),
    /** Opens a system-change proposal; it takes effect only when committed with a quorum. */
    propose: async (caller: Caller, change: JsonValue): Promise<Proposal> =>
      (await propose(core, caller, change, model())).proposal,
    attest: (
      caller: Caller,
      input: { proposal_id: string; witness_id: string; signature: string },
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
