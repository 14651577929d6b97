/**
 * The quorum ceremony through a runtime, for tests: Root and k Mentors (each with its own human
 * token) enrol their own keys, genesis is proposed and sealed with all their votes; afterwards
 * a change passes with every witness's vote.
 */
import type { JsonValue } from '../../src/core/canonical.ts';
import { generateKeyPair, publicKeyToRaw, type Ed25519KeyPair } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import { signAttestation, signEnrolment, type Proposal } from '../../src/quorum/index.ts';
import type { Caller, SigilRuntime } from '../../src/runtime/index.ts';

export interface TestWitness {
  readonly did: string;
  readonly keys: Ed25519KeyPair;
  readonly caller: Caller;
  /** The witness's own token (for surfaces); undefined for Root acting through its license. */
  readonly token?: string;
}

/** A human token at `loa` for `subject`, minted by `root`, and the caller it authenticates. */
export async function humanCaller(
  runtime: SigilRuntime,
  root: Caller,
  subject: string,
  loa: 'mentor' | 'root' | 'operator' | 'observer' | 'guest',
): Promise<{ caller: Caller; token: string }> {
  const { token } = await runtime.tokens.create(root, { subject, loa, signer: { type: 'human' } });
  return { caller: await runtime.tokens.authenticate(token), token };
}

/** `caller` enrols `keys` (fresh by default) as its own witness key. */
export async function enrol(
  runtime: SigilRuntime,
  caller: Caller,
  keys: Ed25519KeyPair = generateKeyPair(),
): Promise<TestWitness> {
  const challenge = await runtime.quorum.enrolmentChallenge(caller);
  const public_key = toBase64Url(publicKeyToRaw(keys.publicKey));
  await runtime.quorum.enrol(caller, {
    challenge_id: challenge.id,
    public_key,
    proof: signEnrolment(challenge, public_key, keys.privateKey),
  });
  return { did: caller.subject, keys, caller };
}

/** Every witness in `witnesses` votes for `proposal`. */
export async function voteAll(
  runtime: SigilRuntime,
  proposal: Proposal,
  witnesses: readonly TestWitness[],
): Promise<void> {
  for (const w of witnesses) {
    await runtime.quorum.attest(w.caller, {
      proposal_id: proposal.id,
      ...signAttestation(proposal, w.did, w.keys.privateKey),
    });
  }
}

/**
 * Root (`root`, the caller of the Root witness) and `mentors` fresh Mentors enrol, then genesis
 * is proposed, voted by all and committed. Returns the witnesses, Root's first.
 */
export async function sealGenesis(
  runtime: SigilRuntime,
  root: Caller,
  mentors = runtime.config.quorum.mentorsRequired,
  prefix = 'mentor',
): Promise<TestWitness[]> {
  const witnesses = [await enrol(runtime, root)];
  for (let i = 1; i <= mentors; i++) {
    const { caller, token } = await humanCaller(
      runtime,
      root,
      `did:sigil:${prefix}-${i}`,
      'mentor',
    );
    witnesses.push({ ...(await enrol(runtime, caller)), token });
  }
  const genesis = await runtime.quorum.genesis(root);
  await voteAll(runtime, genesis, witnesses);
  await runtime.quorum.commit(root, genesis.id);
  return witnesses;
}

/** Proposes `change` as `root`, has every witness vote and commits it. */
export async function passChange(
  runtime: SigilRuntime,
  root: Caller,
  witnesses: readonly TestWitness[],
  change: JsonValue,
) {
  const proposal = await runtime.quorum.propose(root, change);
  await voteAll(runtime, proposal, witnesses);
  return runtime.quorum.commit(root, proposal.id);
}
