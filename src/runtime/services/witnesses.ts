/**
 * Witnesses and genesis, from the log alone: who holds which standing (live human credentials
 * and committed raises), the witness registry, enrolment challenges, a witness's own enrolment
 * with proof of possession, and whether genesis is sealed.
 */
import { toBase64Url } from '../../core/encoding.ts';
import { isSigilError, SigilError } from '../../core/errors.ts';
import { randomBytes } from '../../core/random.ts';
import { isLoa, loaAtLeast, loaRank, type Loa } from '../../policy/index.ts';
import {
  ENROLMENT_CHALLENGE_TTL_MS,
  electorateFor,
  enrolWitness as enrolEntry,
  isoTime,
  registryFromEntries,
  slotFor,
  type Electorate,
  type EnrolmentChallenge,
  type Proposal,
  type Standing,
  type WitnessEntry,
  type WitnessRegistry,
} from '../../quorum/index.ts';
import { asJson, newId, refuseMissingRow, refusedRows, type RuntimeCore } from '../core.ts';
import { VIEWS } from '../view-ns.ts';
import { liveLicenseRows, liveTokenRows } from './live-rows.ts';
import type { Caller } from '../decide.ts';

/** The sealed genesis, as its view row records it. */
export interface GenesisInfo {
  proposal_id: string;
  sealed_at: string;
  witnesses: string[];
  mentors_required: number;
}

/** The witness registry, as sealed by enrolments, genesis and committed changes. */
export async function witnessRegistry(core: RuntimeCore): Promise<WitnessRegistry> {
  const rows = await VIEWS.witnesses.list(core.log.views);
  // A witness row rolled back past its removal (its old MAC still good) would vote again: the
  // registry is refused whole, since every count of the quorum reads it. Enrolments and the
  // changes the quorum commits both write the rows.
  const byKey = new Map(rows.map((r) => [r.key, r]));
  for (const kind of ['witness_event', 'system_config'] as const) {
    const refused = await refusedRows(core, kind, VIEWS.witnesses.name, byKey, {
      absentIsNone: true,
    });
    for (const { error } of refused.values()) throw error;
  }
  return registryFromEntries(rows.map((r) => r.value));
}

/** The sealed genesis, or null before it. */
export async function genesisInfo(core: RuntimeCore): Promise<GenesisInfo | null> {
  const row = await VIEWS.quorum.get(core.log.views, 'genesis');
  if (row !== undefined) return row;
  await refuseMissingRow(core, 'system_config', VIEWS.quorum.name, 'genesis');
  return null;
}

function raise(map: Map<string, Loa>, subject: string, loa: Loa): void {
  const held = map.get(subject);
  if (held === undefined || loaRank(loa) > loaRank(held)) map.set(subject, loa);
}

/**
 * The highest level each subject holds now. `slot`: what a witness slot reads, live human
 * credentials only (unexpired, unrevoked tokens and licenses), so a witness whose credentials
 * lapse stops counting. Otherwise what minting reads: live credentials of any signer and the
 * levels the quorum committed (`standing_grant`), which let Root mint for that subject.
 */
export async function standingMap(core: RuntimeCore, slot = true): Promise<Standing> {
  const now = core.now();
  const map = new Map<string, Loa>();
  // Rows rolled back past their revocation count for nothing (tokens.ts, licenses.ts).
  for (const t of await liveTokenRows(core)) {
    if (t.revokedAt !== null) continue;
    if (t.expiresAt !== null && !(now < t.expiresAt)) continue;
    if (slot && t.signer.type !== 'human') continue;
    raise(map, t.subject, t.loa);
  }
  for (const { value: l } of await liveLicenseRows(core)) {
    if (l.expiresAt !== null && !(now < Date.parse(l.expiresAt))) continue;
    raise(map, l.owner, l.loa);
  }
  if (slot) return map;
  for (const { value: g } of await VIEWS.standing.list(core.log.views)) {
    raise(map, g.subject, g.loa);
  }
  return map;
}

/** Who may vote on `proposal` now. */
export async function electorate(core: RuntimeCore, proposal: Proposal): Promise<Electorate> {
  return electorateFor(proposal, await witnessRegistry(core), await standingMap(core));
}

/**
 * After genesis, a credential at Mentor or Root for a subject that does not already hold that
 * standing is a system change ('quorum_required'): the quorum first commits a `standing_grant`.
 */
export async function requireStandingFor(
  core: RuntimeCore,
  subject: string,
  loa: string,
): Promise<void> {
  if (!isLoa(loa) || !loaAtLeast(loa, 'mentor')) return;
  if ((await genesisInfo(core)) === null) return;
  const held = (await standingMap(core, false)).get(subject);
  if (held !== undefined && loaAtLeast(held, loa)) return;
  throw new SigilError(
    'quorum_required',
    `${subject} does not hold ${loa} standing: raising it is a system change; propose ` +
      `{"standing_grant": {"subject": "${subject}", "loa": "${loa}"}}`,
    { subject, loa },
  );
}

function humanWitnessCaller(caller: Caller): 'root' | 'mentor' {
  if (caller.signer.type !== 'human') {
    throw new SigilError('witness_not_human', 'only a human enrols a witness key');
  }
  const slot = slotFor(caller.loa);
  if (slot === null) throw new SigilError('loa_insufficient', 'only a Mentor or Root is a witness');
  return slot;
}

/** Issues a single-use enrolment challenge to the caller (a human Mentor or Root), sealed. */
export async function enrolmentChallenge(
  core: RuntimeCore,
  caller: Caller,
): Promise<EnrolmentChallenge> {
  await core.require(caller, {
    action: 'witness.enrol',
    target: `witnesses/${caller.subject}/challenge`,
  });
  const role = humanWitnessCaller(caller);
  const now = core.now();
  const challenge: EnrolmentChallenge = {
    id: newId(),
    subject: caller.subject,
    role,
    nonce: toBase64Url(randomBytes(32)),
    issued_at: isoTime(now),
    expires_at: isoTime(now + ENROLMENT_CHALLENGE_TTL_MS),
    used_at: null,
  };
  await core.append(
    'witness_event',
    { type: 'enrolment_challenge', challenge: asJson(challenge) },
    { space: 'system' },
  );
  return challenge;
}

/**
 * The caller enrols its own key: the witness is its subject DID, the proof a typed human
 * signature over its challenge. Before genesis the entry is a genesis candidate; after it, it
 * counts only once the quorum commits `{"witness_add": "<did>"}`.
 */
export async function enrolWitness(
  core: RuntimeCore,
  caller: Caller,
  input: { challenge_id: string; public_key: string; proof: string },
): Promise<WitnessEntry> {
  await core.require(caller, {
    action: 'witness.enrol',
    target: `witnesses/${caller.subject}`,
    payload: { challenge_id: input.challenge_id, public_key: input.public_key },
  });
  humanWitnessCaller(caller);
  const key = await VIEWS.witnessKeys.entry(core.log.views, String(input.public_key));
  const challenge = await VIEWS.witnessChallenges.entry(core.log.views, String(input.challenge_id));
  const rows = await VIEWS.witnesses.list(core.log.views);
  const entry = enrolEntry(
    registryFromEntries(rows.map((r) => r.value)),
    challenge?.value,
    input,
    caller,
    core.now(),
  );
  if (key !== undefined && key.value.did !== caller.subject) {
    throw new SigilError('witness_key_reused', `this key is already enrolled by ${key.value.did}`);
  }
  // Compare-and-set, inside the enrolment's own transaction: the challenge row is still the
  // unused one its issue wrote, the caller's witness row is still the one checked above, and
  // the key's row too (-1: none, so no other DID took the key meanwhile): of two enrolments
  // racing on one or several instances only the first seals.
  const own = rows.find((r) => r.key === caller.subject)?.seq ?? -1;
  try {
    await core.append(
      'witness_event',
      { type: 'witness_enrolled', entry: asJson(entry), challenge: asJson(challenge!.value) },
      { space: 'system' },
      {
        expect: [
          { ns: VIEWS.witnessChallenges.name, key: challenge!.value.id, seq: challenge!.seq },
          { ns: VIEWS.witnesses.name, key: caller.subject, seq: own },
          { ns: VIEWS.witnessKeys.name, key: entry.public_key, seq: key?.seq ?? -1 },
        ],
      },
    );
  } catch (err) {
    if (isSigilError(err, 'conflict')) {
      if (err.details?.ns === VIEWS.witnessKeys.name) {
        throw new SigilError('witness_key_reused', 'another DID enrolled this key meanwhile');
      }
      throw err.details?.ns === VIEWS.witnesses.name
        ? new SigilError('witness_exists', `${caller.subject} enrolled meanwhile`)
        : new SigilError('witness_challenge_invalid', 'the challenge has been used meanwhile');
    }
    throw err;
  }
  return entry;
}

/** Every witness entry (Root, or the `canon.read` of the registry). */
export async function listWitnesses(
  core: RuntimeCore,
  caller: Caller,
): Promise<{ witnesses: WitnessEntry[]; genesis: GenesisInfo | null }> {
  await core.require(caller, { action: 'canon.read', target: 'system/witnesses' });
  const registry = await witnessRegistry(core);
  return {
    witnesses: [...registry.entries.values()].sort((a, b) =>
      a.registered_at.localeCompare(b.registered_at),
    ),
    genesis: await genesisInfo(core),
  };
}
