/**
 * The witness registry: whose Ed25519 keys count as Root and Mentor witnesses. Pure state
 * rebuilt from events: the runtime seals each WitnessEvent into the log and replays them
 * through applyWitnessEvent, so the registry is exactly what the log says.
 *
 * One key, one DID, one witness: a key is never registered twice (not even after
 * revocation) and a DID has at most one live entry, so no signer can count twice.
 */
import { isDid } from '../core/did.ts';
import { publicKeyFromRaw } from '../core/ed25519.ts';
import { fromBase64Url } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import type { SignerType } from '../core/typed-signature.ts';
import type { Loa } from '../policy/loa.ts';

export type WitnessRole = 'root' | 'mentor';

/** A registered witness. `public_key` is the raw 32-byte Ed25519 key in base64url. */
export interface WitnessEntry {
  readonly witness_id: string;
  readonly did: string;
  readonly role: WitnessRole;
  readonly public_key: string;
  readonly registered_at: string;
  readonly revoked_at: string | null;
}

export interface WitnessRegistry {
  readonly entries: ReadonlyMap<string, WitnessEntry>;
}

/** A registry change, as sealed in the log. */
export type WitnessEvent =
  | { readonly type: 'witness_registered'; readonly entry: WitnessEntry }
  | { readonly type: 'witness_revoked'; readonly witness_id: string; readonly revoked_at: string };

/** Who performs a quorum operation: a verified subject, its level of access and signer type. */
export interface QuorumActor {
  readonly subject: string;
  readonly loa: Loa;
  readonly signer: SignerType;
}

const WITNESS_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** RFC 3339 UTC of epoch milliseconds; 'invalid_time' for anything else. */
export function isoTime(now: number): string {
  if (!Number.isSafeInteger(now) || now < 0 || now > 8_640_000_000_000_000) {
    throw new SigilError('invalid_time', '`now` must be epoch milliseconds');
  }
  return new Date(now).toISOString();
}

function isTimestamp(value: unknown): value is string {
  return (
    typeof value === 'string' && TIMESTAMP_RE.test(value) && Number.isFinite(Date.parse(value))
  );
}

/** Decodes a witness key, proving it is a canonical base64url Ed25519 public key. */
export function witnessKeyBytes(publicKey: string): Uint8Array {
  try {
    const raw = fromBase64Url(publicKey);
    publicKeyFromRaw(raw);
    return raw;
  } catch {
    throw new SigilError(
      'witness_invalid',
      'public_key must be a base64url raw Ed25519 public key',
    );
  }
}

/** An empty registry. */
export function emptyRegistry(): WitnessRegistry {
  return { entries: new Map() };
}

/** The entry for `witness_id`, revoked or not. */
export function lookupWitness(
  registry: WitnessRegistry,
  witness_id: string,
): WitnessEntry | undefined {
  return registry.entries.get(witness_id);
}

/** Entries still in force. */
export function activeWitnesses(registry: WitnessRegistry): WitnessEntry[] {
  return [...registry.entries.values()].filter((e) => e.revoked_at === null);
}

function readEntry(raw: unknown): WitnessEntry {
  const invalid = (why: string) => new SigilError('witness_invalid', `witness entry: ${why}`);
  if (typeof raw !== 'object' || raw === null) throw invalid('expected an object');
  const { witness_id, did, role, public_key, registered_at, revoked_at } = raw as Record<
    string,
    unknown
  >;
  if (typeof witness_id !== 'string' || !WITNESS_ID_RE.test(witness_id))
    throw invalid('bad witness_id');
  if (!isDid(did)) throw invalid('did must be a DID');
  if (role !== 'root' && role !== 'mentor') throw invalid("role must be 'root' or 'mentor'");
  if (typeof public_key !== 'string') throw invalid('public_key must be a string');
  witnessKeyBytes(public_key);
  if (!isTimestamp(registered_at)) throw invalid('registered_at must be an RFC 3339 UTC time');
  if (revoked_at !== null && !isTimestamp(revoked_at))
    throw invalid('revoked_at must be null or a time');
  return { witness_id, did, role, public_key, registered_at, revoked_at };
}

/**
 * Applies one event and returns the new registry (the input is untouched). Validates the
 * event fully, since it may come from storage: 'witness_invalid' for a malformed event,
 * 'witness_exists' for a reused id or a DID with a live entry, 'witness_key_reused' for a
 * key seen before, 'witness_unknown' / 'witness_revoked' for a bad revocation.
 */
export function applyWitnessEvent(registry: WitnessRegistry, event: WitnessEvent): WitnessRegistry {
  const entries = new Map(registry.entries);
  if (event?.type === 'witness_registered') {
    const entry = readEntry(event.entry);
    if (entry.revoked_at !== null)
      throw new SigilError('witness_invalid', 'a new witness cannot be revoked');
    if (entries.has(entry.witness_id)) {
      throw new SigilError('witness_exists', `witness ${entry.witness_id} is already registered`);
    }
    for (const other of entries.values()) {
      if (other.public_key === entry.public_key) {
        throw new SigilError(
          'witness_key_reused',
          `this key is already registered as ${other.witness_id}`,
        );
      }
      if (other.did === entry.did && other.revoked_at === null) {
        throw new SigilError('witness_exists', `${entry.did} already has a live witness entry`);
      }
    }
    entries.set(entry.witness_id, entry);
    return { entries };
  }
  if (event?.type === 'witness_revoked') {
    const { witness_id, revoked_at } = event;
    if (!isTimestamp(revoked_at))
      throw new SigilError('witness_invalid', 'revoked_at must be an RFC 3339 UTC time');
    const entry = typeof witness_id === 'string' ? entries.get(witness_id) : undefined;
    if (entry === undefined)
      throw new SigilError('witness_unknown', `no witness ${String(witness_id)}`);
    if (entry.revoked_at !== null)
      throw new SigilError('witness_revoked', `witness ${witness_id} is already revoked`);
    entries.set(witness_id, { ...entry, revoked_at });
    return { entries };
  }
  throw new SigilError('witness_invalid', 'unknown witness event');
}

/** Rebuilds a registry from its events in log order. */
export function registryFromEvents(events: Iterable<WitnessEvent>): WitnessRegistry {
  let registry = emptyRegistry();
  for (const event of events) registry = applyWitnessEvent(registry, event);
  return registry;
}

/** Only a human Root changes the registry ('loa_insufficient', 'actor_not_human'). */
export function requireHumanRoot(by: QuorumActor, what: string): void {
  if (by?.loa !== 'root') throw new SigilError('loa_insufficient', `only Root may ${what}`);
  if (by.signer?.type !== 'human')
    throw new SigilError('actor_not_human', `only a human Root may ${what}`);
}

/** Registers a witness (human Root only); returns the new registry and the event to seal. */
export function registerWitness(
  registry: WitnessRegistry,
  spec: { witness_id: string; did: string; role: WitnessRole; public_key: string },
  by: QuorumActor,
  now: number,
): { registry: WitnessRegistry; event: WitnessEvent } {
  requireHumanRoot(by, 'register witnesses');
  const event: WitnessEvent = {
    type: 'witness_registered',
    entry: {
      witness_id: spec.witness_id,
      did: spec.did,
      role: spec.role,
      public_key: spec.public_key,
      registered_at: isoTime(now),
      revoked_at: null,
    },
  };
  return { registry: applyWitnessEvent(registry, event), event };
}

/** Revokes a witness (human Root only); returns the new registry and the event to seal. */
export function revokeWitness(
  registry: WitnessRegistry,
  witness_id: string,
  by: QuorumActor,
  now: number,
): { registry: WitnessRegistry; event: WitnessEvent } {
  requireHumanRoot(by, 'revoke witnesses');
  const event: WitnessEvent = { type: 'witness_revoked', witness_id, revoked_at: isoTime(now) };
  return { registry: applyWitnessEvent(registry, event), event };
}
