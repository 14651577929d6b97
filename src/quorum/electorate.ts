/**
 * Who may vote on a proposal, and the standing a witness slot needs. The electorate of an
 * ordinary proposal is every witness in force whose DID still holds its slot's standing; that
 * of the genesis proposal is the set it names, each still enrolled with the named key. The
 * electorate's keys are exactly the keys the kernel trusts for the vote, so the quorum module
 * and the kernel judge every vote alike.
 */
import { fromBase64Url } from '../core/encoding.ts';
import type { TrustedKeys } from '../gatekeeper/types.ts';
import { genesisOf } from './genesis.ts';
import type { Proposal } from './proposals.ts';
import {
  holdsSlot,
  inForce,
  type Standing,
  type WitnessEntry,
  type WitnessRegistry,
} from './registry.ts';

/** Why a witness cannot vote (or why its vote did not verify). */
export type AttestationFault =
  'witness_unknown' | 'witness_not_in_force' | 'witness_standing_lost' | 'signature_invalid';

export interface Electorate {
  readonly voters: ReadonlyMap<string, WitnessEntry>;
  readonly excluded: ReadonlyMap<string, AttestationFault>;
}

/** The electorate of `proposal` under `registry` and `standing`. */
export function electorateFor(
  proposal: Proposal,
  registry: WitnessRegistry,
  standing: Standing,
): Electorate {
  const voters = new Map<string, WitnessEntry>();
  const excluded = new Map<string, AttestationFault>();
  const genesis = genesisOf(proposal.change);
  if (genesis !== null) {
    for (const named of genesis.witnesses) {
      const entry = registry.entries.get(named.did);
      const same =
        entry !== undefined &&
        entry.revoked_at === null &&
        entry.public_key === named.public_key &&
        entry.role === named.role;
      if (!same) excluded.set(named.did, 'witness_not_in_force');
      else if (!holdsSlot(entry.role, standing.get(entry.did)))
        excluded.set(named.did, 'witness_standing_lost');
      else voters.set(named.did, entry);
    }
    return { voters, excluded };
  }
  for (const entry of registry.entries.values()) {
    if (!inForce(entry)) excluded.set(entry.did, 'witness_not_in_force');
    else if (!holdsSlot(entry.role, standing.get(entry.did)))
      excluded.set(entry.did, 'witness_standing_lost');
    else voters.set(entry.did, entry);
  }
  return { voters, excluded };
}

/** The keys the kernel trusts for a vote on this electorate: each voter's enrolled key. */
export function electorateKeys(electorate: Electorate): TrustedKeys {
  return new Map(
    [...electorate.voters.values()].map((e) => [e.did, [fromBase64Url(e.public_key)]] as const),
  );
}
