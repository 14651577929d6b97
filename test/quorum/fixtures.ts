import { generateKeyPair, publicKeyToRaw, type Ed25519KeyPair } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import type { Loa } from '../../src/policy/loa.ts';
import {
  attest,
  createProposal,
  electorateFor,
  registryFromEntries,
  signAttestation,
  type Electorate,
  type Proposal,
  type QuorumActor,
  type WitnessEntry,
  type WitnessRegistry,
  type WitnessRole,
} from '../../src/quorum/index.ts';

export const T0 = Date.UTC(2025, 3, 1, 9);
export const HUMAN = { type: 'human' } as const;
export const AI = { type: 'ai', delegationId: 'ef'.repeat(32) } as const;
export const ROOT: QuorumActor = { subject: 'did:key:root', loa: 'root', signer: HUMAN };
export const MENTOR_ACTOR: QuorumActor = { subject: 'did:key:m1', loa: 'mentor', signer: HUMAN };

export interface Signer {
  readonly witness_id: string;
  readonly did: string;
  readonly role: WitnessRole;
  readonly keys: Ed25519KeyPair;
}

function signer(did: string, role: WitnessRole): Signer {
  return { witness_id: did, did, role, keys: generateKeyPair() };
}

export const root = signer('did:key:root', 'root');
export const m1 = signer('did:key:m1', 'mentor');
export const m2 = signer('did:key:m2', 'mentor');
export const m3 = signer('did:key:m3', 'mentor');
export const m4 = signer('did:key:m4', 'mentor');

export const publicKeyB64 = (s: Signer): string => toBase64Url(publicKeyToRaw(s.keys.publicKey));

/** The entry of `s`, admitted at genesis (or as `admitted` says). */
export function entryOf(s: Signer, admitted: string | null = 'genesis'): WitnessEntry {
  return {
    witness_id: s.did,
    did: s.did,
    role: s.role,
    public_key: publicKeyB64(s),
    registered_at: new Date(T0).toISOString(),
    revoked_at: null,
    admitted,
  };
}

/** A registry with `signers` in force. */
export function standardRegistry(
  signers: readonly Signer[] = [root, m1, m2, m3, m4],
): WitnessRegistry {
  return registryFromEntries(signers.map((s) => entryOf(s)));
}

/** Each signer holding the standing of its role. */
export function standingOf(signers: readonly Signer[]): Map<string, Loa> {
  return new Map(signers.map((s) => [s.did, s.role === 'root' ? 'root' : 'mentor'] as const));
}

/** The electorate of an ordinary proposal when `signers` are in force with their standing. */
export function standardElectorate(
  signers: readonly Signer[] = [root, m1, m2, m3, m4],
  standing: ReadonlyMap<string, Loa> = standingOf(signers),
): Electorate {
  return electorateFor(proposal(), standardRegistry(signers), standing);
}

export const CHANGE = { setting: 'irl.threshold', value: 0.5 };

export function proposal(change: unknown = CHANGE): Proposal {
  return createProposal({ change, proposer: ROOT, now: T0, ttlMs: 3_600_000 });
}

/** The attestation `s` would submit for `p` (signed over `over`, default `p`). */
export function attestationBy(
  s: Signer,
  p: Proposal,
  over: Proposal = p,
  signerType: typeof HUMAN | typeof AI = HUMAN,
) {
  return { witness_id: s.did, ...signAttestation(over, s.did, s.keys.privateKey, signerType) };
}

/** `p` after each of `signers` attested, one minute apart. */
export function attestedBy(
  p: Proposal,
  signers: readonly Signer[],
  electorate: Electorate,
): Proposal {
  return signers.reduce(
    (acc, s, i) => attest(acc, attestationBy(s, p), electorate, T0 + (i + 1) * 60_000),
    p,
  );
}
