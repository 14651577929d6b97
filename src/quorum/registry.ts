/**
 * The witness registry: whose Ed25519 keys count as Root and Mentor witnesses. Pure state read
 * from the authenticated `witnesses` view, which projects sealed records only: a witness's own
 * enrolment (key + proof of possession), the sealed genesis, and committed system changes that
 * admit or remove a witness.
 *
 * A witness is its subject DID: one row per DID, and a key never serves two DIDs. An entry
 * counts only while it is in force (admitted by genesis or a committed change, not removed)
 * and its DID still holds the standing its slot needs (see standing.ts).
 */
import type { KeyObject } from 'node:crypto';
import { canonicalBytes } from '../core/canonical.ts';
import { isDid } from '../core/did.ts';
import { publicKeyFromRaw } from '../core/ed25519.ts';
import { fromBase64Url, toBase64Url } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { signTyped, verifyTyped, type SignerType } from '../core/typed-signature.ts';
import { loaAtLeast, type Loa } from '../policy/loa.ts';

export type WitnessRole = 'root' | 'mentor';

export const ENROL_DOMAIN = 'sigil.quorum.enrol.v1';
/** How long an enrolment challenge may be answered. */
export const ENROLMENT_CHALLENGE_TTL_MS = 10 * 60_000;

/** A witness. `witness_id` is its DID; `public_key` the raw Ed25519 key in base64url. */
export interface WitnessEntry {
  readonly witness_id: string;
  readonly did: string;
  readonly role: WitnessRole;
  readonly public_key: string;
  readonly registered_at: string;
  readonly revoked_at: string | null;
  /** 'genesis' or the id of the committed proposal that admitted it; null while only enrolled. */
  readonly admitted: string | null;
}

export interface WitnessRegistry {
  readonly entries: ReadonlyMap<string, WitnessEntry>;
}

/** Who performs a quorum operation: a verified subject, its level of access and signer type. */
export interface QuorumActor {
  readonly subject: string;
  readonly loa: Loa;
  readonly signer: SignerType;
}

/** A single-use challenge a caller answers with a proof of possession of its witness key. */
export interface EnrolmentChallenge {
  readonly id: string;
  readonly subject: string;
  readonly role: WitnessRole;
  readonly nonce: string;
  readonly issued_at: string;
  readonly expires_at: string;
  readonly used_at: string | null;
}

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

/** The entry for `witness_id` (a DID), in force or not. */
export function lookupWitness(
  registry: WitnessRegistry,
  witness_id: string,
): WitnessEntry | undefined {
  return registry.entries.get(witness_id);
}

/** True while the entry is admitted and not removed. */
export function inForce(entry: WitnessEntry): boolean {
  return entry.admitted !== null && entry.revoked_at === null;
}

/** Entries in force. */
export function activeWitnesses(registry: WitnessRegistry): WitnessEntry[] {
  return [...registry.entries.values()].filter(inForce);
}

/** Validates one stored entry ('witness_invalid'). */
export function readWitnessEntry(raw: unknown): WitnessEntry {
  const invalid = (why: string) => new SigilError('witness_invalid', `witness entry: ${why}`);
  if (typeof raw !== 'object' || raw === null) throw invalid('expected an object');
  const { witness_id, did, role, public_key, registered_at, revoked_at, admitted } = raw as Record<
    string,
    unknown
  >;
  if (!isDid(did) || witness_id !== did) throw invalid('witness_id must be its DID');
  if (role !== 'root' && role !== 'mentor') throw invalid("role must be 'root' or 'mentor'");
  if (typeof public_key !== 'string') throw invalid('public_key must be a string');
  witnessKeyBytes(public_key);
  if (!isTimestamp(registered_at)) throw invalid('registered_at must be an RFC 3339 UTC time');
  if (revoked_at !== null && !isTimestamp(revoked_at))
    throw invalid('revoked_at must be null or a time');
  if (admitted !== null && (typeof admitted !== 'string' || admitted.length === 0))
    throw invalid('admitted must be null or a string');
  return { witness_id: did, did, role, public_key, registered_at, revoked_at, admitted };
}

/** A registry of stored entries, each validated; a key serving two DIDs is 'witness_key_reused'. */
export function registryFromEntries(raw: Iterable<unknown>): WitnessRegistry {
  const entries = new Map<string, WitnessEntry>();
  const keys = new Map<string, string>();
  for (const item of raw) {
    const entry = readWitnessEntry(item);
    const other = keys.get(entry.public_key);
    if (other !== undefined && other !== entry.did) {
      throw new SigilError('witness_key_reused', `one key serves ${other} and ${entry.did}`);
    }
    keys.set(entry.public_key, entry.did);
    entries.set(entry.did, entry);
  }
  return { entries };
}

/** The exact bytes a proof of possession signs: canonical {domain, challenge, did, role, key}. */
export function enrolmentMessage(input: {
  challenge_id: string;
  nonce: string;
  did: string;
  role: WitnessRole;
  public_key: string;
}): Uint8Array {
  return canonicalBytes({
    domain: ENROL_DOMAIN,
    challenge_id: input.challenge_id,
    nonce: input.nonce,
    did: input.did,
    role: input.role,
    public_key: input.public_key,
  });
}

/** The proof of possession for `challenge` with the witness's private key (typed human), base64url. */
export function signEnrolment(
  challenge: Pick<EnrolmentChallenge, 'id' | 'nonce' | 'subject' | 'role'>,
  publicKey: string,
  privateKey: KeyObject,
  signer: SignerType = { type: 'human' },
): string {
  const message = enrolmentMessage({
    challenge_id: challenge.id,
    nonce: challenge.nonce,
    did: challenge.subject,
    role: challenge.role,
    public_key: publicKey,
  });
  return toBase64Url(signTyped(privateKey, signer, message));
}

/**
 * Enrols the caller's own key against its challenge. Refusals: 'witness_challenge_invalid'
 * (unknown, another subject's, used, expired, or issued for another slot), 'witness_invalid'
 * (a bad key), 'signature_invalid' (the proof is not a typed human signature by that key over
 * this challenge), 'witness_key_reused' (the key serves another DID), 'witness_exists' (the DID
 * is a witness in force: it is removed first). Returns the entry to seal (not yet admitted).
 */
export function enrolWitness(
  registry: WitnessRegistry,
  challenge: EnrolmentChallenge | undefined,
  input: { public_key: string; proof: string },
  by: QuorumActor,
  now: number,
): WitnessEntry {
  const refuse = (why: string) => new SigilError('witness_challenge_invalid', why);
  if (challenge === undefined) throw refuse('no such enrolment challenge');
  if (challenge.subject !== by.subject) throw refuse('the challenge was issued to another subject');
  if (challenge.used_at !== null) throw refuse('the challenge has been used');
  if (!(now < Date.parse(challenge.expires_at))) throw refuse('the challenge has expired');
  if (slotFor(by.loa) !== challenge.role) throw refuse('the challenge was issued for another slot');
  const raw = witnessKeyBytes(input.public_key);
  let proof: Uint8Array;
  try {
    proof = fromBase64Url(input.proof);
  } catch {
    proof = new Uint8Array();
  }
  const message = enrolmentMessage({
    challenge_id: challenge.id,
    nonce: challenge.nonce,
    did: by.subject,
    role: challenge.role,
    public_key: input.public_key,
  });
  if (!verifyTyped(publicKeyFromRaw(raw), { type: 'human' }, message, proof)) {
    throw new SigilError(
      'signature_invalid',
      'the proof is not a typed human signature by this key over the challenge',
    );
  }
  for (const other of registry.entries.values()) {
    if (other.public_key === input.public_key && other.did !== by.subject) {
      throw new SigilError('witness_key_reused', `this key is already enrolled by ${other.did}`);
    }
  }
  const existing = registry.entries.get(by.subject);
  if (existing !== undefined && inForce(existing)) {
    throw new SigilError(
      'witness_exists',
      `${by.subject} is a witness in force; its removal is a system change made first`,
    );
  }
  return {
    witness_id: by.subject,
    did: by.subject,
    role: challenge.role,
    public_key: input.public_key,
    registered_at: isoTime(now),
    revoked_at: null,
    admitted: null,
  };
}

/** The witness slot a caller of `loa` fills: Root's for Root, a Mentor's for a Mentor; else none. */
export function slotFor(loa: Loa): WitnessRole | null {
  if (loa === 'root') return 'root';
  if (loa === 'mentor') return 'mentor';
  return null;
}

/** The highest level each subject holds through live human credentials or a committed raise. */
export type Standing = ReadonlyMap<string, Loa>;

/** Root's slot needs Root; a Mentor's slot needs at least Mentor. */
export function holdsSlot(role: WitnessRole, standing: Loa | undefined): boolean {
  if (standing === undefined) return false;
  return role === 'root' ? standing === 'root' : loaAtLeast(standing, 'mentor');
}
