/** Shared builders for the judicial tests: keys, signed evidence, and a passing request/context. */
import type { KeyObject } from 'node:crypto';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import type { SignerType } from '../../src/core/typed-signature.ts';
import { signAuthorityLink } from '../../src/gatekeeper/authority-chain.ts';
import type { Bailment, ConsentGrant } from '../../src/gatekeeper/consent.ts';
import type { InvariantContext } from '../../src/gatekeeper/invariants.ts';
import { actionHash, signProvenance } from '../../src/gatekeeper/provenance.ts';
import type { ProvenanceClaim } from '../../src/gatekeeper/provenance.ts';
import { signVote } from '../../src/gatekeeper/quorum-evidence.ts';
import type { SubjectStanding } from '../../src/gatekeeper/request-facts.ts';
import type {
  AuthorityLink,
  GatekeeperRequest,
  Provenance,
  QuorumVote,
} from '../../src/gatekeeper/types.ts';

export const ACTOR = 'did:sigil:actor1';
export const ROOT = 'did:sigil:root';
export const BAILOR = 'did:sigil:bailor';
export const HUMAN: SignerType = { type: 'human' };
export const AI: SignerType = { type: 'ai', delegationId: sha256Hex('delegation-1') };
export const NOW = Date.parse('2025-06-01T00:00:00Z');
export const TS = '2025-06-01T00:00:00Z';

export interface Party {
  did: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  raw: Uint8Array;
}

export function party(did: string): Party {
  const { privateKey, publicKey } = generateKeyPair();
  return { did, privateKey, publicKey, raw: publicKeyToRaw(publicKey) };
}

/** A mutable trusted-key registry for tests. */
export function registry(...parties: Party[]): Map<string, Uint8Array[]> {
  const m = new Map<string, Uint8Array[]>();
  for (const p of parties) m.set(p.did, [...(m.get(p.did) ?? []), p.raw]);
  return m;
}

export function link(
  grantor: Party,
  grantee: string,
  permissions: string[] = ['read'],
): AuthorityLink {
  return signAuthorityLink(grantor.privateKey, grantor.publicKey, {
    grantor: grantor.did,
    grantee,
    permissions,
  });
}

export function provenanceBy(
  p: Party,
  signer: SignerType,
  claim: Partial<ProvenanceClaim> = {},
): Provenance {
  return signProvenance(p.privateKey, p.publicKey, signer, {
    actor: p.did,
    actionHash: sha256Hex('action'),
    timestamp: TS,
    ...claim,
  });
}

/** A vote that counts: human, independent, first-order, signed as human. */
export function humanVote(
  voter: Party,
  opts: { approved?: boolean; claim?: Partial<ProvenanceClaim>; signer?: SignerType } = {},
): QuorumVote {
  const signer = opts.signer ?? HUMAN;
  const prov = provenanceBy(voter, signer, {
    voiceKind: 'human',
    independence: 'independent',
    reviewOrder: 'first-order',
    ...opts.claim,
  });
  return signVote(
    voter.privateKey,
    signer,
    { voter: voter.did, approved: opts.approved ?? true },
    prov,
  );
}

export function bailment(over: Partial<Bailment> = {}): Bailment {
  return {
    kind: 'bailment',
    id: 'b1',
    bailor: BAILOR,
    bailee: ACTOR,
    scope: 'data:medical:read',
    purpose: 'retrieval',
    createdAt: '2025-01-01T00:00:00Z',
    expiresAt: null,
    revokedAt: null,
    ...over,
  };
}

export function grant(over: Partial<ConsentGrant> = {}): ConsentGrant {
  return {
    kind: 'consent',
    id: 'c1',
    bailor: BAILOR,
    bailee: ACTOR,
    scope: 'data:medical:read',
    purpose: 'retrieval',
    createdAt: '2025-01-01T00:00:00Z',
    expiresAt: null,
    revokedAt: null,
    ...over,
  };
}

export function request(over: Partial<GatekeeperRequest> = {}): GatekeeperRequest {
  return {
    actor: ACTOR,
    actorSigner: HUMAN,
    action: 'canon.read',
    target: 'canon/user/record-1',
    permissions: ['read'],
    ...over,
  };
}

export interface World {
  actor: Party;
  root: Party;
  context: InvariantContext;
}

/** A context in which `request()` passes all eight invariants. */
export function passingWorld(req: GatekeeperRequest = request()): World {
  const actor = party(req.actor);
  const root = party(ROOT);
  const prov = provenanceBy(actor, req.actorSigner, { actionHash: actionHash(req) });
  const subjects = new Map<string, SubjectStanding>([[ROOT, { loa: 'root', human: true }]]);
  return {
    actor,
    root,
    context: {
      roles: [{ name: 'judge', branch: 'judicial' }],
      actorPermissions: ['read'],
      trustedKeys: registry(actor, root),
      authorityChain: [link(root, req.actor, ['read'])],
      provenance: prov,
      expectedActionHash: actionHash(req),
      quorum: null,
      consent: { bailor: BAILOR, bailments: [bailment()], grants: [grant()] },
      humanRootCount: 1,
      subjects,
      now: NOW,
      requires: ['consent-required', 'authority-chain-valid', 'provenance-verifiable'],
    },
  };
}
