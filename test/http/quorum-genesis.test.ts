/**
 * A quorum means k+1 distinct humans (issue 13 §2), attacked through the real server: a witness
 * enrols only its own key, with a proof of possession over a single-use challenge; before
 * genesis nothing commits; after genesis Root alone, with every token, license and key it can
 * make, never commits a system change, never adds a witness that counts and never mints a
 * Mentor; a forged witness row is refused. The commit's sealed decision carries the kernel's own
 * quorum-legitimate judgement (issue 14 §3).
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SQLITE_FILE } from '../../src/canon/store/index.ts';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import {
  signAttestation,
  signEnrolment,
  type EnrolmentChallenge,
  type Proposal,
} from '../../src/quorum/index.ts';
import {
  ROOMY_LIMITS,
  call,
  json,
  liveServer,
  requester,
  startServer,
  tempDataDir,
  type Answer,
  type Json,
  type LiveServer,
} from './helpers.ts';
import {
  enrolOver,
  humanToken,
  passOver,
  proposeOver,
  voteOver,
  type HttpWitness,
} from './quorum-helpers.ts';

const ROOT_DID = 'did:sigil:root';
const live = liveServer();
const req = requester(live);
let root: string;
let witnesses: HttpWitness[];

const codeOf = (a: Answer) => [a.status, json(a).code as string];
const commit = (proposal: Proposal) =>
  req('POST', '/api/canon/system/commit', root, { proposal_id: proposal.id });
const threshold = async () => json(await req('GET', '/api/trust/status', root)).threshold;

/** The sealed decision a refusal names. */
async function sealedDecision(a: Answer): Promise<Json> {
  const id = json(a).decision_id as string;
  expect(id, a.text).toMatch(/./);
  return json(await req('GET', `/api/canon/records/${id}`, root)).payload as Json;
}

beforeAll(() => {
  root = live.root;
});

describe('before genesis', () => {
  it('nobody enrols a key for someone else, and a challenge serves once, its own subject', async () => {
    const alice = await humanToken(live.server.url, root, 'did:sigil:pre-alice', 'mentor');
    const bob = await humanToken(live.server.url, root, 'did:sigil:pre-bob', 'mentor');
    const observer = await humanToken(live.server.url, root, 'did:sigil:pre-olivia', 'observer');
    // The enrolment names no DID: the witness is the caller. An old-style body is refused.
    const keys = generateKeyPair();
    const public_key = toBase64Url(publicKeyToRaw(keys.publicKey));
    const forOther = await req('POST', '/api/canon/system/witnesses', root, {
      witness_id: 'w-bob',
      did: 'did:sigil:pre-bob',
      role: 'mentor',
      public_key,
    });
    expect(codeOf(forOther)).toEqual([400, 'bad_request']);

    const c = json(await req('POST', '/api/canon/system/witnesses/challenge', alice));
    expect(c).toMatchObject({ subject: 'did:sigil:pre-alice', role: 'mentor', used_at: null });
    const proof = signEnrolment(c as EnrolmentChallenge, public_key, keys.privateKey);
    const body = { challenge_id: c.id, public_key, proof };
    // Bob (or Root) answering Alice's challenge enrols nothing.
    for (const token of [bob, root]) {
      const stolen = await req('POST', '/api/canon/system/witnesses', token, body);
      expect(codeOf(stolen)).toEqual([409, 'witness_challenge_invalid']);
    }
    // A proof by another key, or over another challenge, does not prove possession.
    const wrong = signEnrolment(c as EnrolmentChallenge, public_key, generateKeyPair().privateKey);
    const badProof = await req('POST', '/api/canon/system/witnesses', alice, {
      ...body,
      proof: wrong,
    });
    expect(codeOf(badProof)).toEqual([409, 'signature_invalid']);
    const ok = await req('POST', '/api/canon/system/witnesses', alice, body);
    expect(ok.status, ok.text).toBe(201);
    expect(json(ok)).toMatchObject({
      witness_id: 'did:sigil:pre-alice',
      did: 'did:sigil:pre-alice',
      role: 'mentor',
      public_key,
      admitted: null,
    });
    const replay = await req('POST', '/api/canon/system/witnesses', alice, body);
    expect(codeOf(replay)).toEqual([409, 'witness_challenge_invalid']);
    // Bob cannot enrol Alice's key as his own, even with a fresh challenge of his.
    const bc = json(await req('POST', '/api/canon/system/witnesses/challenge', bob));
    const reuse = await req('POST', '/api/canon/system/witnesses', bob, {
      challenge_id: bc.id,
      public_key,
      proof: signEnrolment(bc as EnrolmentChallenge, public_key, keys.privateKey),
    });
    expect(codeOf(reuse)).toEqual([409, 'witness_key_reused']);
    // Below Mentor there is no slot.
    for (const path of ['/api/canon/system/witnesses/challenge', '/api/canon/system/witnesses']) {
      const low = await req('POST', path, observer, path.endsWith('challenge') ? undefined : body);
      expect(codeOf(low)).toEqual([403, 'loa_insufficient']);
    }
  });

  it('nothing commits, whatever Root signs and whoever votes', async () => {
    // Root makes Mentors of its own, enrols keys it holds for them, and all vote: still nothing.
    const socks: HttpWitness[] = [];
    for (const did of ['did:sigil:sock-1', 'did:sigil:sock-2', 'did:sigil:sock-3']) {
      const token = await humanToken(live.server.url, root, did, 'mentor');
      socks.push({ did, token, keys: (await enrolOver(live.server.url, token)).keys });
    }
    socks.push({ did: ROOT_DID, token: root, keys: (await enrolOver(live.server.url, root)).keys });
    for (const change of [
      { setting: 'irl.threshold', value: 0 },
      { standing_grant: { subject: 'did:sigil:sock-9', loa: 'mentor' } },
      { witness_add: 'did:sigil:pre-alice' },
    ]) {
      const p = await proposeOver(live.server.url, root, change);
      for (const w of socks) {
        const a = await voteOver(live.server.url, p, w);
        expect(a.status, a.text).toBe(409); // no one is a witness in force before genesis
        expect(json(a).code).toBe('witness_not_in_force');
      }
      expect(codeOf(await commit(p))).toEqual([409, 'genesis_required']);
    }
    expect(await threshold()).toBe(0.4);
    expect(json(await req('GET', '/api/canon/system/witnesses', root)).genesis).toBeNull();
  });
});

describe('genesis, then Root alone', () => {
  // A store of its own: genesis names every enrolled witness, so the one above (holding Root's
  // own puppets) would need them all.
  let first: LiveServer;
  beforeAll(async () => {
    first = { ...live };
    live.dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
    live.server = await startServer(live.dir.dataDir, live.dir.config);
    root = live.server.rootToken!;
  }, 60_000);
  afterAll(async () => {
    await live.server?.stop();
    live.dir?.remove();
    Object.assign(live, first);
    root = live.root;
  });

  it('genesis names the enrolled set and is sealed only with every one of their votes', async () => {
    const early = await req('POST', '/api/canon/system/genesis', root);
    expect(codeOf(early)).toEqual([409, 'genesis_incomplete']);
    const ws: HttpWitness[] = [
      { did: ROOT_DID, token: root, keys: (await enrolOver(live.server.url, root)).keys },
    ];
    for (const did of ['did:sigil:real-1', 'did:sigil:real-2', 'did:sigil:real-3']) {
      const token = await humanToken(live.server.url, root, did, 'mentor');
      ws.push({ did, token, keys: (await enrolOver(live.server.url, token)).keys });
    }
    const g = await req('POST', '/api/canon/system/genesis', root);
    expect(g.status, g.text).toBe(201);
    const genesis = g.body as Proposal;
    expect(genesis.required).toEqual({ root: 1, mentors: 3 });
    expect((genesis.change as Json).genesis.witnesses.map((w: Json) => w.did)).toEqual(
      ws.map((w) => w.did).sort(),
    );
    for (const w of ws.slice(0, 3)) {
      expect((await voteOver(live.server.url, genesis, w)).status).toBe(200);
    }
    expect(codeOf(await commit(genesis))).toEqual([409, 'quorum_required']);
    expect((await voteOver(live.server.url, genesis, ws[3]!)).status).toBe(200);
    const sealed = await commit(genesis);
    expect(sealed.status, sealed.text).toBe(200);
    const list = json(await req('GET', '/api/canon/system/witnesses', root));
    expect(list.genesis).toMatchObject({ proposal_id: genesis.id, mentors_required: 3 });
    expect(list.witnesses.map((w: Json) => w.admitted)).toEqual([
      'genesis',
      'genesis',
      'genesis',
      'genesis',
    ]);
    expect(codeOf(await req('POST', '/api/canon/system/genesis', root))).toEqual([
      409,
      'genesis_exists',
    ]);
    witnesses = ws;
  }, 60_000);

  it('the commit reaches the kernel with its votes: quorum-legitimate fires and is sealed', async () => {
    const p = await proposeOver(live.server.url, root, { setting: 'irl.threshold', value: 0.45 });
    const none = await commit(p);
    expect(codeOf(none)).toEqual([409, 'quorum_required']);
    const decision = await sealedDecision(none);
    expect(decision.request).toMatchObject({
      action: 'system.commit',
      quorum: { evidence: { threshold: expect.any(Number), votes: [] } },
    });
    expect(decision.decision).toMatchObject({ verdict: 'deny', code: 'quorum_required' });
    expect(decision.decision.violations).toEqual([
      expect.objectContaining({ invariant: 'quorum-legitimate' }),
    ]);
    // Once every witness has voted, the kernel's judgement permits it.
    const passed = await passOver(live.server.url, root, p, witnesses);
    expect(passed.status, passed.text).toBe(200);
    expect(await threshold()).toBe(0.45);
  });

  it('Root alone, with every token, license and key it makes, never commits a system change', async () => {
    const p = await proposeOver(live.server.url, root, { setting: 'irl.threshold', value: 0 });
    const rootW = witnesses[0]!;
    expect((await voteOver(live.server.url, p, rootW)).status).toBe(200);
    // Root is one witness, voting once; it mints itself no second Root token (no-self-grant).
    const twice = await voteOver(live.server.url, p, rootW);
    expect(codeOf(twice)).toEqual([409, 'duplicate_attestation']);
    const root2 = await req('POST', '/api/tokens', root, {
      subject: ROOT_DID,
      loa: 'root',
      signer: { type: 'human' },
    });
    expect(codeOf(root2)).toEqual([403, 'invariant_violated']);
    // A new Mentor, or a Root, for a subject it invents: refused as a system change.
    for (const loa of ['mentor', 'root']) {
      const mint = await req('POST', '/api/tokens', root, {
        subject: 'did:sigil:puppet',
        loa,
        signer: { type: 'human' },
      });
      expect(codeOf(mint)).toEqual([409, 'quorum_required']);
    }
    const license = await req('POST', '/api/license/create', root, {
      subject: 'did:sigil:puppet',
      loa: 'mentor',
    });
    expect(codeOf(license)).toEqual([409, 'quorum_required']);
    // Raising an Observer it made is refused the same way.
    await humanToken(live.server.url, root, 'did:sigil:puppet', 'observer');
    const raise = await req('POST', '/api/tokens', root, {
      subject: 'did:sigil:puppet',
      loa: 'mentor',
      signer: { type: 'human' },
    });
    expect(codeOf(raise)).toEqual([409, 'quorum_required']);
    // A token in a real Mentor's name (who holds that standing) lets Root speak as them, but
    // not vote: the vote must verify under the Mentor's enrolled key, which Root does not hold.
    const m1 = witnesses[1]!;
    const asM1 = await humanToken(live.server.url, root, m1.did, 'mentor');
    const ownKey = generateKeyPair();
    const forged = await voteOver(live.server.url, p, { did: m1.did, token: asM1, keys: ownKey });
    expect(codeOf(forged)).toEqual([409, 'signature_invalid']);
    // …nor swap the Mentor's key for one it holds: a witness in force is removed by the quorum.
    const swap = await enrolOver(live.server.url, asM1, ownKey);
    expect(codeOf(swap.answer)).toEqual([409, 'witness_exists']);
    // Root's own key under a Mentor's name does not verify either.
    const rootKeyAsM1 = await voteOver(live.server.url, p, {
      did: m1.did,
      token: asM1,
      keys: rootW.keys,
    });
    expect(codeOf(rootKeyAsM1)).toEqual([409, 'signature_invalid']);
    const refused = await commit(p);
    expect(codeOf(refused)).toEqual([409, 'quorum_required']);
    expect((await sealedDecision(refused)).decision.violations[0].invariant).toBe(
      'quorum-legitimate',
    );
    expect(await threshold()).toBe(0.45);
  });

  it('Root alone never adds a witness that counts, removes one, or changes the quorum', async () => {
    // A Mentor enrolling after genesis is not in force until the quorum admits it.
    const p = await proposeOver(live.server.url, root, { setting: 'irl.threshold', value: 0.41 });
    for (const change of [
      { setting: 'quorum.mentors_required', value: 1 },
      { standing_grant: { subject: 'did:sigil:puppet', loa: 'mentor' } },
    ]) {
      const q = await proposeOver(live.server.url, root, change);
      expect((await voteOver(live.server.url, q, witnesses[0]!)).status).toBe(200);
      expect(codeOf(await commit(q))).toEqual([409, 'quorum_required']);
    }
    // A change after which the quorum could not sit is refused outright: removing one of the
    // three Mentors, or asking for more Mentors than are in force.
    for (const change of [
      { witness_remove: witnesses[1]!.did },
      { setting: 'quorum.mentors_required', value: 9 },
    ]) {
      const last = await req('POST', '/api/canon/system/propose', root, { change });
      expect(codeOf(last)).toEqual([409, 'quorum_unreachable']);
    }
    expect(codeOf(await commit(p))).toEqual([409, 'quorum_required']);
  });

  it('a witness added after genesis counts only once the quorum commits it', async () => {
    const dave = 'did:sigil:dave';
    const raise = await proposeOver(live.server.url, root, {
      standing_grant: { subject: dave, loa: 'mentor' },
    });
    expect((await passOver(live.server.url, root, raise, witnesses)).status).toBe(200);
    const daveToken = await humanToken(live.server.url, root, dave, 'mentor');
    const { answer, keys } = await enrolOver(live.server.url, daveToken);
    expect(answer.status, answer.text).toBe(201);
    expect(json(answer).admitted).toBeNull();
    const daveW = { did: dave, token: daveToken, keys };
    const p = await proposeOver(live.server.url, root, { setting: 'irl.threshold', value: 0.42 });
    expect(codeOf(await voteOver(live.server.url, p, daveW))).toEqual([
      409,
      'witness_not_in_force',
    ]);
    const admit = await proposeOver(live.server.url, root, { witness_add: dave });
    expect((admit.change as Json).witness_add).toMatchObject({
      did: dave,
      public_key: toBase64Url(publicKeyToRaw(keys.publicKey)),
    });
    expect((await passOver(live.server.url, root, admit, witnesses)).status).toBe(200);
    expect((await voteOver(live.server.url, p, daveW)).status).toBe(200);
    // Dave counts as one Mentor: Root + dave + two more is the quorum.
    const rest = [witnesses[0]!, witnesses[1]!, witnesses[2]!];
    expect((await passOver(live.server.url, root, p, rest)).status).toBe(200);
    expect(await threshold()).toBe(0.42);
    // A witness whose credentials lapse loses its slot's standing: its vote stops counting.
    const q = await proposeOver(live.server.url, root, { setting: 'irl.threshold', value: 0.43 });
    expect((await voteOver(live.server.url, q, daveW)).status).toBe(200);
    const tokens = json(await req('GET', '/api/tokens', root)).tokens as Json[];
    for (const t of tokens.filter((t) => t.subject === dave)) {
      expect((await req('DELETE', `/api/tokens/${t.id}`, root)).status).toBe(200);
    }
    const status = json(await req('GET', `/api/canon/system/proposals/${q.id}`, root));
    expect(status.status.rejected).toEqual([{ witness_id: dave, reason: 'witness_standing_lost' }]);
  });

  it('a forged witness row (a database edit) is refused', async () => {
    const db = new Database(join(live.dir.dataDir, SQLITE_FILE));
    try {
      db.pragma('busy_timeout = 10000');
      const row = db
        .prepare<[string, string], { v: string }>('SELECT v FROM views WHERE ns = ? AND k = ?')
        .get('witnesses', witnesses[1]!.did)!;
      const mine = generateKeyPair();
      const forged = row.v.replace(
        JSON.parse(row.v).public_key,
        toBase64Url(publicKeyToRaw(mine.publicKey)),
      );
      db.prepare('UPDATE views SET v = ? WHERE ns = ? AND k = ?').run(
        forged,
        'witnesses',
        witnesses[1]!.did,
      );
      const p = await proposeOver(live.server.url, root, { setting: 'irl.threshold', value: 0 });
      const vote = await call(live.server.url, 'POST', '/api/canon/system/attest', {
        token: witnesses[1]!.token,
        body: {
          proposal_id: p.id,
          ...signAttestation(p, witnesses[1]!.did, mine.privateKey),
        },
      });
      expect([vote.status, (vote.body as Json).code]).toEqual([500, 'state_invalid']);
      expect(codeOf(await commit(p))).toEqual([500, 'state_invalid']);
      db.prepare('UPDATE views SET v = ? WHERE ns = ? AND k = ?').run(
        row.v,
        'witnesses',
        witnesses[1]!.did,
      );
    } finally {
      db.close();
    }
    expect(await threshold()).toBe(0.42);
  });
});
