import { generateKeyPair, publicKeyToRaw, type Ed25519KeyPair } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import {
  attest,
  createProposal,
  emptyRegistry,
  registerWitness,
  signAttestation,
  type Proposal,
  type QuorumActor,
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

function signer(witness_id: string, did: string, role: WitnessRole): Signer {
  return { witness_id, did, role, keys: generateKeyPair() };
}

export const root = signer('root', 'did:key:root', 'root');
export const m1 = signer('mentor-1', 'did:key:m1', 'mentor');
export const m2 = signer('mentor-2', 'did:key:m2', 'mentor');
export const m3 = signer('mentor-3', 'did:key:m3', 'mentor');
export const m4 = signer('mentor-4', 'did:key:m4', 'mentor');

export const publicKeyB64 = (s: Signer): string => toBase64Url(publicKeyToRaw(s.keys.publicKey));

/** A registry with Root and mentors 1–4 registered by the human Root at T0. */
export function standardRegistry(
  signers: readonly Signer[] = [root, m1, m2, m3, m4],
): WitnessRegistry {
  let registry = emptyRegistry();
  for (const s of signers) {
    const spec = {
      witness_id: s.witness_id,
      did: s.did,
      role: s.role,
      public_key: publicKeyB64(s),
    };
    registry = registerWitness(registry, spec, ROOT, T0).registry;
  }
  return registry;
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
  return {
    witness_id: s.witness_id,
    signature: signAttestation(over, s.keys.privateKey, signerType),
    signer_type: signerType,
  };
}

/** `p` after each of `signers` attested, one minute apart. */
export function attestedBy(
  p: Proposal,
  signers: readonly Signer[],
  registry: WitnessRegistry,
): Proposal {
  return signers.reduce(
    (acc, s, i) => attest(acc, attestationBy(s, p), registry, T0 + (i + 1) * 60_000),
    p,
  );
}
