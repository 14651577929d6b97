/**
 * Governed roles through the real server: a grant is a quorum proposal that takes effect only
 * on commit, a second branch is refused, no one grants itself, a caller's roles reach every
 * decision, and a subject that holds two branches anyway (a restored old store) is denied by
 * separation-of-powers until Root revokes one.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CanonLog } from '../../src/canon/log.ts';
import type { Proposal } from '../../src/quorum/index.ts';
import {
  auditorToken,
  MASTER_KEY,
  ROOMY_LIMITS,
  json,
  liveServer,
  requester,
  startServer,
  type Answer,
  type Json,
} from './helpers.ts';
import { enrolOver, passOver, type HttpWitness } from './quorum-helpers.ts';

const live = liveServer(`[quorum]\nmentors_required = 1\n[rate_limit]\n${ROOMY_LIMITS}\n`);
const req = requester(live);
let root: string;
let mentor: string;
let alice: string;
let operator: string;
let auditor: string;
const ALICE = 'did:sigil:alice-roles';
let witnesses: HttpWitness[] = [];

async function human(subject: string, loa: string): Promise<string> {
  const a = await req('POST', '/api/tokens', root, { subject, loa, signer: { type: 'human' } });
  expect(a.status, a.text).toBe(201);
  return json(a).token as string;
}

/** Root and the one Mentor the test's quorum needs vote for the proposal; Root commits it. */
function pass(proposal: Proposal): Promise<Answer> {
  return passOver(live.server.url, root, proposal, witnesses);
}

/** Alice's request, allowed or denied, and its sealed decision. */
async function aliceAsks(): Promise<{ answer: Answer; decision: Json; state: Json }> {
  const answer = await req('POST', '/api/trust/check', alice, {
    action: 'canon.read',
    target: 'canon/records',
  });
  const id = json(answer).decision_id as string;
  const record = json(await req('GET', `/api/canon/records/${id}`, auditor));
  return { answer, decision: record.payload.decision, state: record.payload.state };
}

beforeAll(async () => {
  root = live.root;
  mentor = await human('did:sigil:mentor-roles', 'mentor');
  alice = await human(ALICE, 'observer');
  operator = await human('did:sigil:operator-roles', 'operator');
  auditor = await auditorToken(live.server.url, root);
  witnesses = [
    { did: 'did:sigil:root', token: root, keys: (await enrolOver(live.server.url, root)).keys },
  ];
  witnesses.push({
    did: 'did:sigil:mentor-roles',
    token: mentor,
    keys: (await enrolOver(live.server.url, mentor)).keys,
  });
  const genesis = await req('POST', '/api/canon/system/genesis', root);
  expect(genesis.status, genesis.text).toBe(201);
  expect((await pass(json(genesis) as Proposal)).status).toBe(200);
}, 60_000);

describe('governed roles', () => {
  it('a grant is a quorum proposal, in force only once committed, and reaches decisions', async () => {
    const low = await req('POST', '/api/roles', operator, { subject: ALICE, role: 'judge' });
    expect([low.status, json(low).code]).toEqual([403, 'loa_insufficient']);
    const unknown = await req('POST', '/api/roles', root, { subject: ALICE, role: 'king' });
    expect(unknown.status).toBe(400);

    const proposed = await req('POST', '/api/roles', root, { subject: ALICE, role: 'judge' });
    expect(proposed.status, proposed.text).toBe(202);
    expect(json(await req('GET', '/api/roles', alice)).roles).toEqual([]);
    expect((await aliceAsks()).state.roles).toBeUndefined();

    const early = await req('POST', '/api/canon/system/commit', root, {
      proposal_id: json(proposed).id,
    });
    expect([early.status, json(early).code]).toEqual([409, 'quorum_required']);
    const committed = await pass(json(proposed) as Proposal);
    expect(committed.status, committed.text).toBe(200);

    expect(json(await req('GET', '/api/roles', alice)).roles).toEqual([
      expect.objectContaining({ subject: ALICE, name: 'judge', branch: 'judicial' }),
    ]);
    const after = await aliceAsks();
    expect(json(after.answer).verdict).toBe('allow');
    expect(after.state.roles).toEqual([{ name: 'judge', branch: 'judicial' }]);
  });

  it('refuses a role in a second branch, a role held twice, and a grant to oneself', async () => {
    const second = await req('POST', '/api/roles', root, { subject: ALICE, role: 'legislator' });
    expect([second.status, json(second).code]).toEqual([409, 'role_branch_conflict']);
    const twice = await req('POST', '/api/roles', root, { subject: ALICE, role: 'judge' });
    expect([twice.status, json(twice).code]).toEqual([409, 'role_held']);
    const self = await req('POST', '/api/roles', root, {
      subject: 'did:sigil:root',
      role: 'executive',
    });
    expect([self.status, json(self).code]).toEqual([403, 'invariant_violated']);
    // The generic proposal route takes the same checks: there is no way round them.
    const generic = await req('POST', '/api/canon/system/propose', root, {
      change: { role_grant: { subject: ALICE, name: 'senator' } },
    });
    expect([generic.status, json(generic).code]).toEqual([409, 'role_branch_conflict']);
  });

  it('a subject holding two branches (a restored old store) is denied until one is revoked', async () => {
    // An old store's record, sealed before the branch rule: Alice also a senator.
    await live.server.stop();
    const env = {
      PATH: process.env.PATH,
      SIGIL_MASTER_KEY: MASTER_KEY,
      SIGIL_CONFIG: live.dir.config,
    };
    const log = await CanonLog.open({ dataDir: live.dir.dataDir, env });
    try {
      await log.append({
        kind: 'role_event',
        tenant: 'default',
        space: 'system',
        payload: {
          event: 'granted',
          role: {
            subject: ALICE,
            name: 'senator',
            branch: 'legislative',
            granted_at: '2025-01-01T00:00:00.000Z',
            proposal_id: 'restored',
            revoked_at: null,
          },
        },
      });
    } finally {
      await log.close();
    }
    live.server = await startServer(live.dir.dataDir, live.dir.config);

    const denied = await aliceAsks();
    expect([json(denied.answer).verdict, json(denied.answer).code]).toEqual([
      'deny',
      'invariant_violated',
    ]);
    expect(denied.decision.violations).toEqual([
      expect.objectContaining({
        invariant: 'separation-of-powers',
        description: 'Actor holds roles in multiple branches of government',
      }),
    ]);

    const revoked = await req('POST', '/api/roles/revoke', root, {
      subject: ALICE,
      role: 'senator',
    });
    expect(revoked.status, revoked.text).toBe(200);
    expect(json(revoked).revoked_at).toMatch(/Z$/);
    const again = await req('POST', '/api/roles/revoke', root, { subject: ALICE, role: 'senator' });
    expect([again.status, json(again).code]).toEqual([404, 'role_not_found']);
    expect(json((await aliceAsks()).answer).verdict).toBe('allow');
  });
});
