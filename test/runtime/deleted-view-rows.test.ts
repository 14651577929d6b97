/**
 * An attacker with the database (no keys) deletes the role and consent rows that the view mirror
 * (src/runtime/view-mirror.ts) loads whole, on SQLite and on PostgreSQL, through real servers.
 *
 * Roles restrict: a subject holding two branches is denied (separation of powers), and a grant
 * into a second branch is refused. A deleted role row, read as a role never granted, lifted both,
 * and made a revocation answer 'role_not_found'. Now a role row missing while a record made it is
 * refused ('state_invalid'): when the mirror loads, when it follows a record, once its audit sees
 * the row gone, and on an instance opening the store afterwards.
 *
 * Consent only permits: a deleted consent row is no consent (denied, as forged-views shows), so
 * it gains nothing at decision time; revoking a consent whose row is gone is refused
 * 'state_invalid', never 'consent_not_found' (the bailor would think it had no consent to revoke).
 *
 * A role or consent row put back as it was before its revocation (its old MAC still good) would
 * put the role or consent back in force: it is refused ('state_invalid') as older than the
 * record that last wrote it. So is a tripped breaker rolled back to closed.
 *
 * A refusal is the row's: only a decision that reads that row is refused. Another subject's
 * decisions, and Root's `sigil state rebuild` (which puts the row back from the log), go on.
 */
import { describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { CanonLog } from '../../src/canon/log.ts';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import { isSigilError } from '../../src/core/errors.ts';
import type { Caller, SigilRuntime } from '../../src/runtime/index.ts';
import { pgUrl } from '../canon/helpers/pg.ts';
import { humanCaller, passChange, sealGenesis } from '../quorum/ceremony.ts';
import { criticalReport, mcpAgent } from './instances.ts';
import { servedStores, type ServedStore } from './served.ts';

const { withViewDb, serve } = servedStores();

async function call(
  app: FastifyInstance,
  token: string,
  method: 'POST' | 'GET',
  url: string,
  payload?: object,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload && { payload }),
  });
  return { status: r.statusCode, body: r.json() };
}

const ALICE = 'did:sigil:alice-deleted';
const BOB = 'did:sigil:bob-deleted';
const poll = { timeout: 6000, interval: 100 };

describe.each([
  { backend: 'sqlite' as const, skip: false },
  { backend: 'postgres' as const, skip: !pgUrl },
])('deleted role and consent rows on $backend', ({ backend, skip }) => {
  let open: ServedStore | undefined;
  const setUp = async () => (open = await withViewDb(backend));

  it.skipIf(skip)(
    'a deleted role row is refused, never read as a role not held: separation of powers, grants and revocations',
    async () => {
      const { a, b, db, root, rootToken } = await setUp();
      const [A, B] = [serve(a), serve(b)];
      const witnesses = await sealGenesis(a, root);
      const { token: alice } = await humanCaller(a, root, ALICE, 'operator');
      await passChange(a, root, witnesses, { role_grant: { subject: ALICE, name: 'judge' } });
      /** Alice's trust.check on `app`: allow, the deny's code, or the refusal's code. */
      const aliceAsks = async (app: FastifyInstance): Promise<unknown> => {
        const r = await call(app, alice, 'POST', '/api/trust/check', {
          action: 'canon.read',
          target: 'canon/records',
        });
        return r.status === 200 ? (r.body.code ?? r.body.verdict) : r.body.code;
      };
      await expect.poll(() => aliceAsks(B), poll).toBe('allow');
      const row = async (key: string) => (await db.rows('roles')).find((r) => r.k === key)!;

      // An old Sigil's record on the store (sealed before the branch rule): Alice a senator too.
      // Its row is deleted at once, so both instances meet the record with its row gone (the tail).
      const older = await CanonLog.open({ dataDir: open!.dataDir, env: open!.env });
      await older.append({
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
      await older.close();
      const senator = await row(`${ALICE} senator`);
      await db.remove('roles', senator.k);
      // Read as a role never granted, Alice (two branches in the log) would be allowed.
      for (const app of [A, B]) await expect.poll(() => aliceAsks(app), poll).toBe('state_invalid');
      await db.put(senator);
      for (const app of [A, B]) {
        await expect.poll(() => aliceAsks(app), poll).toBe('invariant_violated');
      }

      // Deleted after both loaded it: the audit finds it, and memory is not served again.
      await db.remove('roles', senator.k);
      for (const app of [A, B]) await expect.poll(() => aliceAsks(app), poll).toBe('state_invalid');
      // An instance opening the store now refuses at once.
      const C = serve(await open!.reopen());
      expect(await aliceAsks(C)).toBe('state_invalid');
      await db.put(senator);
      for (const app of [A, B, C]) {
        await expect.poll(() => aliceAsks(app), poll).toBe('invariant_violated');
      }

      // Root revokes the senator role: Alice holds one branch and is allowed.
      const revoked = await call(A, rootToken, 'POST', '/api/roles/revoke', {
        subject: ALICE,
        role: 'senator',
      });
      expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
      await expect.poll(() => aliceAsks(B), poll).toBe('allow');

      // Her judge row deleted.
      const judge = await row(`${ALICE} judge`);
      await db.remove('roles', judge.k);
      // A revocation must not answer that she holds no judge role (put back, she would),
      // even while memory, not yet audited, still holds the row.
      const revoke = await call(A, rootToken, 'POST', '/api/roles/revoke', {
        subject: ALICE,
        role: 'judge',
      });
      expect([revoke.status, revoke.body.code]).toEqual([500, 'state_invalid']);
      const legislator = { subject: ALICE, role: 'legislator' };
      // A grant into a second branch must not pass as her first role.
      await expect
        .poll(async () => {
          const r = await call(A, rootToken, 'POST', '/api/roles', legislator);
          expect(r.status, 'the branch conflict check skipped').not.toBe(202);
          return r.body.code;
        }, poll)
        .toBe('state_invalid');
      const D = serve(await open!.reopen());
      expect((await call(D, rootToken, 'POST', '/api/roles', legislator)).body.code).toBe(
        'state_invalid',
      );
      expect(await aliceAsks(D)).toBe('state_invalid');

      await db.put(judge);
      for (const app of [A, B, D]) await expect.poll(() => aliceAsks(app), poll).toBe('allow');
      const conflict = await call(A, rootToken, 'POST', '/api/roles', legislator);
      expect([conflict.status, conflict.body.code]).toEqual([409, 'role_branch_conflict']);
      expect(await a.log.checkViews()).toEqual([]);
    },
    120_000,
  );

  it.skipIf(skip)(
    "a deleted role row refuses only its subject's decisions: others decide, and Root's rebuild puts it back",
    async () => {
      const { a, b, db, root, rootToken } = await setUp();
      const [A, B] = [serve(a), serve(b)];
      const witnesses = await sealGenesis(a, root);
      const { token: alice } = await humanCaller(a, root, ALICE, 'operator');
      const { token: bob } = await humanCaller(a, root, BOB, 'operator');
      await passChange(a, root, witnesses, { role_grant: { subject: ALICE, name: 'judge' } });
      await passChange(a, root, witnesses, { role_grant: { subject: BOB, name: 'senator' } });
      const asks = async (app: FastifyInstance, token: string): Promise<unknown> => {
        const r = await call(app, token, 'POST', '/api/trust/check', {
          action: 'canon.read',
          target: 'canon/records',
        });
        return r.status === 200 ? (r.body.code ?? r.body.verdict) : r.body.code;
      };
      for (const app of [A, B]) await expect.poll(() => asks(app, alice), poll).toBe('allow');

      const judge = (await db.rows('roles')).find((r) => r.k === `${ALICE} judge`)!;
      await db.remove('roles', judge.k);
      for (const app of [A, B]) {
        await expect.poll(() => asks(app, alice), poll).toBe('state_invalid');
        // Bob, Root, and a grant to Bob (its branch check reads only his roles) go on.
        expect(await asks(app, bob)).toBe('allow');
        expect(await asks(app, rootToken)).toBe('allow');
      }
      const toBob = await call(A, rootToken, 'POST', '/api/roles', {
        subject: BOB,
        role: 'judge',
      });
      expect([toBob.status, toBob.body.code]).toEqual([409, 'role_branch_conflict']);
      const revokeBob = await call(B, rootToken, 'POST', '/api/roles/revoke', {
        subject: BOB,
        role: 'senator',
      });
      expect(revokeBob.status, JSON.stringify(revokeBob.body)).toBe(200);
      // Every role listed would misreport Alice's: the listing is refused.
      expect((await call(A, rootToken, 'GET', '/api/roles')).body.code).toBe('state_invalid');

      // A fresh instance: the same, at once; there Root rebuilds the views from the log.
      const c = await open!.reopen();
      const C = serve(c);
      expect(await asks(C, alice)).toBe('state_invalid');
      expect(await asks(C, bob)).toBe('allow');
      const rebuilt = await c.state.rebuild(await c.tokens.authenticate(rootToken));
      expect(rebuilt.decision_id).toMatch(/^rec_/);
      expect((await db.rows('roles')).find((r) => r.k === judge.k)).toMatchObject({
        seq: judge.seq,
        hash: judge.hash,
      });
      for (const app of [A, B, C]) await expect.poll(() => asks(app, alice), poll).toBe('allow');
      expect(await a.log.checkViews()).toEqual([]);
    },
    120_000,
  );

  it.skipIf(skip)(
    'a tripped breaker rolled back to closed is refused, never closed again',
    async () => {
      const { a, b, db, root } = await setUp();
      const scanner = 'did:sigil:deleted-rows-scanner';
      const keys = generateKeyPair();
      const report = (scan: string, critical: number) =>
        criticalReport(scanner, keys, scan, critical);
      await a.governance.registerScanner(root, {
        did: scanner,
        public_key: toBase64Url(publicKeyToRaw(keys.publicKey)),
      });
      const { token } = await mcpAgent(a, root, 'did:sigil:agent');
      const use = { action: 'mcp.tools.call', target: 'notes/read', outputMarking: 'gateway' };
      const agentUse = async (r: SigilRuntime) =>
        r
          .check(await r.tokens.authenticate(token), use as Parameters<SigilRuntime['check']>[1])
          .then(
            (d) => d.code ?? d.verdict,
            (e: unknown) => (isSigilError(e) ? e.code : String(e)),
          );
      // One critical: the breaker row exists, closed.
      await a.governance.reportFindings(root, report('first', 1));
      const [closed] = await db.rows('governance');
      for (const r of [a, b]) await expect.poll(() => agentUse(r), poll).toBe('allow');
      await a.governance.reportFindings(root, report('second', 3));
      const [tripped] = await db.rows('governance');
      for (const r of [a, b]) await expect.poll(() => agentUse(r), poll).toBe('breaker_open');

      // The closed row put back (authentic once, its old MAC good): AI actors must stay stopped.
      await db.put(closed!);
      for (const r of [a, b]) {
        await expect
          .poll(async () => {
            const got = await agentUse(r);
            expect(got).not.toBe('allow');
            return got;
          }, poll)
          .toBe('state_invalid');
      }
      const c = await open!.reopen();
      expect(await agentUse(c)).toBe('state_invalid');
      const status = await c.governance.status(root).then(
        () => 'read',
        (e: unknown) => (isSigilError(e) ? e.code : String(e)),
      );
      expect(status).toBe('state_invalid');
      // A report on the rolled-back row must not count from the closed state either.
      const more = await b.governance.reportFindings(root, report('third', 1)).then(
        () => 'taken',
        (e: unknown) => (isSigilError(e) ? e.code : String(e)),
      );
      expect(more).toBe('state_invalid');

      await db.put(tripped!);
      for (const r of [a, b, c]) await expect.poll(() => agentUse(r), poll).toBe('breaker_open');
      expect(await a.log.checkViews()).toEqual([]);
    },
    120_000,
  );

  it.skipIf(skip)(
    'a role or consent row rolled back past its revocation is refused, never back in force',
    async () => {
      const { a, b, db, root, rootToken } = await setUp();
      const [A, B] = [serve(a), serve(b)];
      const witnesses = await sealGenesis(a, root);
      await passChange(a, root, witnesses, { role_grant: { subject: ALICE, name: 'judge' } });
      const { token, consentId } = await mcpAgent(a, root, 'did:sigil:agent');
      const id = consentId!;
      // A second agent, whose consent from Root stays in force throughout.
      const { token: token2 } = await mcpAgent(a, root, 'did:sigil:agent-2');
      const judge = (await db.rows('roles')).find((r) => r.k === `${ALICE} judge`)!;
      const consentRow = async () => (await db.rows('consent')).find((r) => r.k === id);
      const granted = await consentRow();
      expect(
        (await call(A, rootToken, 'POST', '/api/roles/revoke', { subject: ALICE, role: 'judge' }))
          .status,
      ).toBe(200);
      await a.consent.revoke(root, id);
      const [revokedRole] = (await db.rows('roles')).filter((r) => r.k === judge.k);
      const revokedConsent = await consentRow();

      /** Root's view of the roles held, on `app`: the names, or the refusal's code. */
      const roles = async (app: FastifyInstance) => {
        const r = await call(app, rootToken, 'GET', '/api/roles');
        return r.status === 200
          ? (r.body.roles as Array<{ name: string }>).map((x) => x.name)
          : r.body.code;
      };
      const use = { action: 'mcp.tools.call', target: 'notes/read', outputMarking: 'gateway' };
      const useAs = async (r: SigilRuntime, t: string) =>
        r.check(await r.tokens.authenticate(t), use as Parameters<SigilRuntime['check']>[1]).then(
          (d) => d.code ?? d.verdict,
          (e: unknown) => (isSigilError(e) ? e.code : String(e)),
        );
      const agentUse = (r: SigilRuntime) => useAs(r, token);
      for (const app of [A, B]) await expect.poll(() => roles(app), poll).toEqual([]);
      for (const r of [a, b]) await expect.poll(() => agentUse(r), poll).toBe('mcp_rule_violated');

      // The rows as they were before their revocations: authentic once, with their old MAC.
      await db.put(judge);
      await db.put(granted!);
      // Back in force, Alice would be a judge again and the agent would act on withdrawn consent.
      for (const app of [A, B]) await expect.poll(() => roles(app), poll).toBe('state_invalid');
      for (const r of [a, b]) {
        await expect
          .poll(async () => {
            const got = await agentUse(r);
            expect(got).not.toBe('allow');
            return got;
          }, poll)
          .toBe('state_invalid');
        // The refusal is that consent's: another agent's decisions rely on their own and go on.
        expect(await useAs(r, token2)).toBe('allow');
      }
      const c = await open!.reopen();
      expect(await roles(serve(c))).toBe('state_invalid');
      expect(await agentUse(c)).toBe('state_invalid');
      expect(await useAs(c, token2)).toBe('allow');

      await db.put(revokedRole!);
      await db.put(revokedConsent!);
      await expect.poll(() => roles(A), poll).toEqual([]);
      for (const r of [a, b, c])
        await expect.poll(() => agentUse(r), poll).toBe('mcp_rule_violated');
      expect(await a.log.checkViews()).toEqual([]);
    },
    120_000,
  );

  it.skipIf(skip)(
    'a deleted consent row permits nothing, and its revocation is refused, never "not found"',
    async () => {
      const { a, b, db, root } = await setUp();
      const { token } = await mcpAgent(a, root, 'did:sigil:agent', false);
      const use = { action: 'mcp.tools.call', target: 'notes/read', outputMarking: 'gateway' };
      const outcome = (r: SigilRuntime, agent: Caller) =>
        r.check(agent, use as Parameters<SigilRuntime['check']>[1]).then(
          (d) => d.code ?? d.verdict,
          (e: unknown) => (isSigilError(e) ? e.code : String(e)),
        );
      const agents = new Map<SigilRuntime, Caller>();
      const on = async (r: SigilRuntime) => {
        if (!agents.has(r)) agents.set(r, await r.tokens.authenticate(token));
        return outcome(r, agents.get(r)!);
      };
      const { id } = await a.consent.grant(root, {
        bailee: 'did:sigil:agent',
        scope: 'mcp.tools.call',
        purpose: 'retrieval',
      });
      for (const r of [a, b]) await expect.poll(() => on(r), poll).toBe('allow');
      const [granted] = await db.rows('consent');

      await db.remove('consent', granted!.k);
      for (const r of [a, b]) await expect.poll(() => on(r), poll).toBe('mcp_rule_violated');
      const c = await open!.reopen();
      expect(await on(c)).toBe('mcp_rule_violated');
      expect(await a.log.checkViews()).toMatchObject([
        { ns: 'consent', key: id, problem: 'missing' },
      ]);
      // The bailor's revocation must not read "no such consent": put back, it would be in force.
      const revoking = await a.consent.revoke(root, id).then(
        () => 'revoked',
        (e: unknown) => (isSigilError(e) ? e.code : String(e)),
      );
      expect(revoking).toBe('state_invalid');
      await db.put(granted!);
      for (const r of [a, b, c]) await expect.poll(() => on(r), poll).toBe('allow');

      // Revoked, then its revoked row deleted: still no consent anywhere.
      await a.consent.revoke(root, id);
      const [withdrawn] = await db.rows('consent');
      await db.remove('consent', withdrawn!.k);
      const d = await open!.reopen();
      for (const r of [a, b, c, d]) {
        await expect
          .poll(async () => {
            const got = await on(r);
            expect(got).not.toBe('allow');
            return got;
          }, poll)
          .toBe('mcp_rule_violated');
      }
      await db.put(withdrawn!);
      expect(await a.log.checkViews()).toEqual([]);
    },
    120_000,
  );
});
