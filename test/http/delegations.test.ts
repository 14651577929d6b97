/**
 * Delegations as signed authority chains, attacked through the real server with real tokens:
 * made-up ids, foreign subjects, wider and deeper onward grants, handing standing back up the
 * chain, revocation reaching every token built on a chain, expiry, and edited store rows.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { delegationId, type AuthorityLink } from '../../src/gatekeeper/index.ts';
import {
  auditorToken,
  call,
  json,
  liveServer,
  requester,
  type Answer,
  type Json,
} from './helpers.ts';

const live = liveServer();
const req = requester(live);
let root: string;
let operator: string;
let observer: string;
let auditor: string;

const AGENT = 'did:sigil:deleg-agent';
const SUB = 'did:sigil:deleg-sub';

async function human(subject: string, loa: string): Promise<string> {
  const a = await req('POST', '/api/tokens', root, { subject, loa, signer: { type: 'human' } });
  expect(a.status, a.text).toBe(201);
  return json(a).token as string;
}

async function delegate(token: string, to: string, actions: string[], ttl?: number) {
  return req('POST', '/api/delegations', token, {
    to,
    actions,
    ...(ttl !== undefined ? { ttl_ms: ttl } : {}),
  });
}

async function agentToken(subject: string, delegation: string): Promise<Answer> {
  return req('POST', '/api/tokens', root, {
    subject,
    loa: 'operator',
    signer: { type: 'ai', delegation_id: delegation },
  });
}

async function consent(bailee: string) {
  const a = await req('POST', '/api/consent', root, {
    bailee,
    scope: 'memory.write, memory.read, delegation.create',
    purpose: 'writeback',
  });
  expect(a.status, a.text).toBe(201);
}

const write = (token: string) =>
  req('POST', '/api/memory/write', token, { key: 'notes', value: { n: 1 } });

/** The sealed decision record's payload a denial names, read back from the log by an auditor. */
async function sealedPayload(denial: Answer): Promise<Json> {
  const id = json(denial).decision_id as string;
  const record = await req('GET', `/api/canon/records/${id}`, auditor);
  expect(record.status, record.text).toBe(200);
  return json(record).payload as Json;
}

/** The sealed decision a denial names. */
async function sealed(denial: Answer): Promise<Json> {
  return (await sealedPayload(denial)).decision as Json;
}

beforeAll(async () => {
  root = live.root;
  operator = await human('did:sigil:deleg-operator', 'operator');
  observer = await human('did:sigil:deleg-observer', 'observer');
  auditor = await auditorToken(live.server.url, root);
}, 60_000);

describe('delegations', () => {
  it('are signed links whose id is the hash of the chain; tokens need a real one to their subject', async () => {
    const made = await delegate(root, AGENT, ['memory.write', 'memory.read', 'delegation.create']);
    expect(made.status, made.text).toBe(201);
    const d = json(made);
    const chain: AuthorityLink[] = d.chain.map((l: Json) => ({
      grantor: l.grantor,
      grantee: l.grantee,
      permissions: l.permissions,
      grantorPublicKey: l.grantor_public_key,
      signature: l.signature,
    }));
    expect(d.delegation_id).toBe(delegationId(chain, d.nonce));
    expect(d.chain).toHaveLength(1);
    expect(d.chain[0]).toMatchObject({ grantor: 'did:sigil:root', grantee: AGENT });

    const madeUp = await agentToken(AGENT, 'ab'.repeat(32));
    expect([madeUp.status, json(madeUp).code]).toEqual([404, 'delegation_not_found']);
    const foreign = await agentToken('did:sigil:someone-else', d.delegation_id);
    expect([foreign.status, json(foreign).code]).toEqual([409, 'delegation_invalid']);
    const good = await agentToken(AGENT, d.delegation_id);
    expect(good.status, good.text).toBe(201);
  });

  it('a human grants no more than it holds; Guests and Observers cannot delegate', async () => {
    const wide = await delegate(operator, AGENT, ['token.create']);
    expect([wide.status, json(wide).code]).toEqual([403, 'delegation_too_wide']);
    const low = await delegate(observer, AGENT, ['trust.check']);
    expect([low.status, json(low).code]).toEqual([403, 'loa_insufficient']);
    const self = await delegate(operator, 'did:sigil:deleg-operator', ['memory.read']);
    expect([self.status, json(self).code]).toEqual([403, 'invariant_violated']);
    const selfSealed = await sealed(self);
    expect(selfSealed.violations.map((v: Json) => v.invariant)).toContain('no-self-grant');
    // The denial's body names the kernel's reasons exactly as its sealed decision does.
    expect(json(self).violations).toEqual(selfSealed.violations);
    const unknown = await delegate(operator, AGENT, ['memory.explode']);
    expect([unknown.status, json(unknown).code]).toEqual([400, 'bad_request']);
  });

  it('onward delegation is never wider, never back up the chain, at most five links', async () => {
    const first = json(await delegate(root, AGENT, ['memory.write', 'delegation.create']));
    const agent = json(await agentToken(AGENT, first.delegation_id)).token as string;
    await consent(AGENT);

    // The kernel reads a grant wider than the agent's own link as widening its own authority.
    const wider = await delegate(agent, SUB, ['memory.read']);
    expect([wider.status, json(wider).code]).toEqual([403, 'invariant_violated']);
    expect(json(wider).violations).toEqual((await sealed(wider)).violations);
    expect((await sealed(wider)).violations[0]).toMatchObject({
      invariant: 'no-self-grant',
      evidence: expect.arrayContaining([
        "delegation.create is wider than the actor's own link: memory.read",
      ]),
    });
    const back = await delegate(agent, 'did:sigil:root', ['memory.write']);
    expect([back.status, json(back).code]).toEqual([403, 'invariant_violated']);
    expect((await sealed(back)).violations[0]).toMatchObject({ invariant: 'no-self-grant' });

    // A chain of five links: root → agent → a1 → a2 → a3 → a4; a4 cannot delegate further.
    let token = agent;
    let parent = first.delegation_id as string;
    for (let i = 1; i <= 4; i++) {
      const to = `did:sigil:deleg-a${i}`;
      const onward = await delegate(token, to, ['memory.write', 'delegation.create']);
      expect(onward.status, onward.text).toBe(201);
      expect(json(onward).parent).toBe(parent);
      expect(json(onward).chain).toHaveLength(i + 1);
      expect(json(onward).principal).toBe('did:sigil:root');
      parent = json(onward).delegation_id;
      token = json(await agentToken(to, parent)).token;
      await consent(to);
    }
    expect((await write(token)).status).toBe(201);
    const sixth = await delegate(token, 'did:sigil:deleg-a5', ['memory.write']);
    expect([sixth.status, json(sixth).code]).toEqual([403, 'delegation_too_deep']);
  });

  it('are listed to their grantors, their grantee and Root only; Observers are denied with a decision', async () => {
    const other = await human('did:sigil:deleg-other', 'operator');
    const mine = json(
      await delegate(operator, 'did:sigil:deleg-listed', ['delegation.list', 'memory.read']),
    );
    const agent = json(await agentToken('did:sigil:deleg-listed', mine.delegation_id))
      .token as string;
    // an agent acts on its principal's data only with the principal's consent
    const consented = await req('POST', '/api/consent', operator, {
      bailee: 'did:sigil:deleg-listed',
      scope: 'delegation.list',
      purpose: 'writeback',
    });
    expect(consented.status, consented.text).toBe(201);
    const ids = async (token: string) => {
      const a = await req('GET', '/api/delegations', token);
      expect(a.status, a.text).toBe(200);
      return (json(a).delegations as Json[]).map((d) => d.delegation_id as string);
    };
    expect(await ids(operator)).toContain(mine.delegation_id);
    expect(await ids(agent)).toEqual([mine.delegation_id]);
    expect(await ids(other)).not.toContain(mine.delegation_id);
    const all = await ids(root);
    expect(all).toContain(mine.delegation_id);
    // Root's own grants from the tests before are there too, newest first.
    expect(all[0]).toBe(mine.delegation_id);
    expect(all.length).toBeGreaterThan(1);
    expect((await ids(operator)).every((id) => all.includes(id))).toBe(true);

    const denied = await req('GET', '/api/delegations', observer);
    expect([denied.status, json(denied).code]).toEqual([403, 'loa_insufficient']);
    expect((await sealedPayload(denied)).request.action).toBe('delegation.list');
    const anonymous = await call(live.server.url, 'GET', '/api/delegations');
    expect(anonymous.status).toBe(403);
  });

  it('consents are listed to their bailor, their bailee and Root only', async () => {
    const bailor = await human('did:sigil:consent-bailor', 'operator');
    const bailee = await human('did:sigil:consent-bailee', 'operator');
    const granted = await req('POST', '/api/consent', bailor, {
      bailee: 'did:sigil:consent-bailee',
      scope: 'memory.read',
      purpose: 'writeback',
    });
    expect(granted.status, granted.text).toBe(201);
    const id = json(granted).id as string;
    const listed = async (token: string) => {
      const a = await req('GET', '/api/consent', token);
      expect(a.status, a.text).toBe(200);
      return json(a).consents as Json[];
    };
    const own = await listed(bailor);
    expect(own).toEqual([json(granted)]);
    expect((await listed(bailee)).map((c) => c.id)).toEqual([id]);
    expect((await listed(operator)).map((c) => c.id)).not.toContain(id);
    expect((await listed(root)).map((c) => c.id)).toContain(id);

    await req('DELETE', `/api/consent/${id}`, bailor);
    const [after] = await listed(bailee);
    expect(after!.grant.revoked_at).toMatch(/Z$/);
    expect(after!.bailment.revoked_at).toBe(after!.grant.revoked_at);

    const denied = await req('GET', '/api/consent', observer);
    expect([denied.status, json(denied).code]).toEqual([403, 'loa_insufficient']);
    expect((await sealedPayload(denied)).request.action).toBe('consent.list');
  });

  it('revoking a delegation denies the next request of every token built on it or on its extensions', async () => {
    const d = json(await delegate(root, AGENT, ['memory.write', 'delegation.create']));
    const agent = json(await agentToken(AGENT, d.delegation_id)).token as string;
    await consent(AGENT);
    const sub = json(await delegate(agent, SUB, ['memory.write']));
    const subToken = json(await agentToken(SUB, sub.delegation_id)).token as string;
    await consent(SUB);
    expect((await write(agent)).status).toBe(201);
    expect((await write(subToken)).status).toBe(201);

    const stranger = await req('DELETE', `/api/delegations/${d.delegation_id}`, operator);
    expect([stranger.status, json(stranger).code]).toEqual([403, 'forbidden']);
    const revoked = await req('DELETE', `/api/delegations/${d.delegation_id}`, root);
    expect(revoked.status, revoked.text).toBe(200);
    expect(json(revoked).revoked_at).toMatch(/Z$/);

    for (const token of [agent, subToken]) {
      const denied = await write(token);
      expect(denied.status).toBe(403);
      const decision = await sealed(denied);
      expect(decision.verdict).toBe('deny');
      expect(decision.violations).toEqual([
        expect.objectContaining({
          invariant: 'authority-chain-valid',
          description: 'Delegation is revoked',
        }),
      ]);
    }
    // A revoked delegation cannot carry a new token either.
    const again = await agentToken(AGENT, d.delegation_id);
    expect([again.status, json(again).code]).toEqual([409, 'delegation_invalid']);
  });

  it('an expired delegation denies; an edited row that widens one is refused', async () => {
    const short = json(await delegate(root, AGENT, ['memory.write'], 1_500));
    const token = json(await agentToken(AGENT, short.delegation_id)).token as string;
    await consent(AGENT);
    expect((await write(token)).status).toBe(201);
    await new Promise((r) => setTimeout(r, 1_600));
    const expired = await write(token);
    expect(expired.status).toBe(403);
    expect((await sealed(expired)).violations[0]).toMatchObject({
      invariant: 'authority-chain-valid',
      description: 'Delegation has expired',
    });

    // An attacker with the database widens a delegation's link in place.
    const narrow = json(await delegate(root, AGENT, ['memory.read']));
    const edited = json(await agentToken(AGENT, narrow.delegation_id)).token as string;
    const db = new Database(join(live.dir.dataDir, 'canon.db'));
    try {
      const row = db
        .prepare('SELECT v FROM views WHERE ns = ? AND k = ?')
        .get('delegations', narrow.delegation_id) as { v: string };
      const value = JSON.parse(row.v) as Json;
      value.permissions = ['memory.read', 'memory.write'];
      value.chain[0].permissions = ['memory.read', 'memory.write'];
      db.prepare('UPDATE views SET v = ? WHERE ns = ? AND k = ?').run(
        JSON.stringify(value),
        'delegations',
        narrow.delegation_id,
      );
    } finally {
      db.close();
    }
    // The edited row fails its authentication on use, so the agent's request is refused.
    const widened = await write(edited);
    expect([widened.status, json(widened).code]).toEqual([500, 'state_invalid']);
    // Listing reads the same authenticated rows: the edited one fails the list, closed.
    const list = await req('GET', '/api/delegations', root);
    expect([list.status, json(list).code]).toEqual([500, 'state_invalid']);
  });
});
