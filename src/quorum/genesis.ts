/**
 * Genesis: the proposal that names the initial witness set (Root and at least k Mentors, each
 * enrolled with its own key) and is committed only with every named witness's signature. Until
 * it is sealed no other system change commits; after it, the witnesses it names are in force.
 */
import type { JsonValue } from '../core/canonical.ts';
import { SigilError } from '../core/errors.ts';
import type { QuorumRequirements } from './proposals.ts';
import { holdsSlot, type Standing, type WitnessRegistry, type WitnessRole } from './registry.ts';

/** A witness as genesis names it. */
export interface GenesisWitness {
  readonly did: string;
  readonly role: WitnessRole;
  readonly public_key: string;
  readonly registered_at: string;
}

/** The change a genesis proposal carries. */
export interface GenesisChange {
  readonly witnesses: readonly GenesisWitness[];
  readonly mentors_required: number;
}

/** The genesis a change carries, or null when it is not a genesis change. */
export function genesisOf(change: JsonValue): GenesisChange | null {
  if (typeof change !== 'object' || change === null || Array.isArray(change)) return null;
  if (!('genesis' in change)) return null;
  const g = change.genesis;
  const invalid = () => new SigilError('change_invalid', 'a genesis change names its witnesses');
  if (typeof g !== 'object' || g === null || Array.isArray(g)) throw invalid();
  const { witnesses, mentors_required } = g;
  if (
    !isGenesisWitnesses(witnesses) ||
    typeof mentors_required !== 'number' ||
    !Number.isSafeInteger(mentors_required)
  ) {
    throw invalid();
  }
  return { witnesses, mentors_required };
}

function isGenesisWitnesses(list: unknown): list is GenesisWitness[] {
  return (
    Array.isArray(list) &&
    list.every((w: unknown) => {
      if (typeof w !== 'object' || w === null) return false;
      const { did, role, public_key, registered_at } = w as Record<string, unknown>;
      return (
        typeof did === 'string' &&
        (role === 'root' || role === 'mentor') &&
        typeof public_key === 'string' &&
        typeof registered_at === 'string'
      );
    })
  );
}

/**
 * The genesis change for the witnesses enrolled now that hold their slot's standing: refused
 * ('genesis_incomplete') without a Root witness and at least `mentorsRequired` Mentors.
 */
export function genesisChange(
  registry: WitnessRegistry,
  standing: Standing,
  mentorsRequired: number,
): { change: { genesis: GenesisChange }; requirements: QuorumRequirements } {
  const witnesses = [...registry.entries.values()]
    .filter((e) => e.revoked_at === null && holdsSlot(e.role, standing.get(e.did)))
    .map((e) => ({
      did: e.did,
      role: e.role,
      public_key: e.public_key,
      registered_at: e.registered_at,
    }))
    .sort((a, b) => (a.did < b.did ? -1 : a.did > b.did ? 1 : 0));
  const root = witnesses.filter((w) => w.role === 'root').length;
  const mentors = witnesses.length - root;
  if (root < 1 || mentors < mentorsRequired) {
    throw new SigilError(
      'genesis_incomplete',
      `genesis needs Root and ${mentorsRequired} Mentors enrolled with their standing; ` +
        `enrolled: ${root} Root, ${mentors} Mentors`,
      { root, mentors, mentors_required: mentorsRequired },
    );
  }
  return {
    change: { genesis: { witnesses, mentors_required: mentorsRequired } },
    // Every named witness signs: the set is sealed with all their signatures.
    requirements: { root, mentors },
  };
}
