/**
 * The quorum ceremony through the real server: each witness enrols its own key (challenge,
 * proof of possession) with its own token, genesis is proposed and voted by all, Root commits.
 */
import { expect } from 'vitest';
import { generateKeyPair, publicKeyToRaw, type Ed25519KeyPair } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import {
  signAttestation,
  signEnrolment,
  type EnrolmentChallenge,
  type Proposal,
} from '../../src/quorum/index.ts';
import { call, type Answer } from './helpers.ts';

export interface HttpWitness {
  readonly did: string;
  readonly token: string;
  readonly keys: Ed25519KeyPair;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A human token for `subject` at `loa`, minted by `root` (201 expected). */
export async function humanToken(
  url: string,
  root: string,
  subject: string,
  loa: string,
): Promise<string> {
  const a = await call(url, 'POST', '/api/tokens', {
    token: root,
    body: { subject, loa, signer: { type: 'human' } },
  });
  expect(a.status, a.text).toBe(201);
  return (a.body as Json).token as string;
}

/** The holder of `token` (subject `did`) enrols `keys`; the answer of the enrolment. */
export async function enrolOver(
  url: string,
  token: string,
  keys: Ed25519KeyPair = generateKeyPair(),
): Promise<{ answer: Answer; keys: Ed25519KeyPair }> {
  const c = await call(url, 'POST', '/api/canon/system/witnesses/challenge', { token });
  expect(c.status, c.text).toBe(201);
  const challenge = c.body as EnrolmentChallenge;
  const public_key = toBase64Url(publicKeyToRaw(keys.publicKey));
  const answer = await call(url, 'POST', '/api/canon/system/witnesses', {
    token,
    body: {
      challenge_id: challenge.id,
      public_key,
      proof: signEnrolment(challenge, public_key, keys.privateKey),
    },
  });
  return { answer, keys };
}

/** `w` votes for `proposal` (the answer; 200 when it counts). */
export function voteOver(url: string, proposal: Proposal, w: HttpWitness): Promise<Answer> {
  return call(url, 'POST', '/api/canon/system/attest', {
    token: w.token,
    body: { proposal_id: proposal.id, ...signAttestation(proposal, w.did, w.keys.privateKey) },
  });
}

/** Every witness votes for `proposal` (each 200), then Root commits: the commit's answer. */
export async function passOver(
  url: string,
  root: string,
  proposal: Proposal,
  witnesses: readonly HttpWitness[],
): Promise<Answer> {
  for (const w of witnesses) {
    const a = await voteOver(url, proposal, w);
    expect(a.status, a.text).toBe(200);
  }
  return call(url, 'POST', '/api/canon/system/commit', {
    token: root,
    body: { proposal_id: proposal.id },
  });
}

/** Proposes `change` as Root over HTTP (201 expected). */
export async function proposeOver(url: string, root: string, change: unknown): Promise<Proposal> {
  const a = await call(url, 'POST', '/api/canon/system/propose', {
    token: root,
    body: { change },
  });
  expect(a.status, a.text).toBe(201);
  return a.body as Proposal;
}

/**
 * Root (subject `rootDid`, token `root`) and `mentors` new Mentors enrol and seal genesis.
 * Returns the witnesses, Root's first.
 */
export async function genesisOver(
  url: string,
  root: string,
  rootDid: string,
  mentors: number,
  prefix = 'mentor',
): Promise<HttpWitness[]> {
  const rootW = await enrolOver(url, root);
  expect(rootW.answer.status, rootW.answer.text).toBe(201);
  const witnesses: HttpWitness[] = [{ did: rootDid, token: root, keys: rootW.keys }];
  for (let i = 1; i <= mentors; i++) {
    const did = `did:sigil:${prefix}-${i}`;
    const token = await humanToken(url, root, did, 'mentor');
    const { answer, keys } = await enrolOver(url, token);
    expect(answer.status, answer.text).toBe(201);
    witnesses.push({ did, token, keys });
  }
  const g = await call(url, 'POST', '/api/canon/system/genesis', { token: root });
  expect(g.status, g.text).toBe(201);
  const committed = await passOver(url, root, g.body as Proposal, witnesses);
  expect(committed.status, committed.text).toBe(200);
  return witnesses;
}
