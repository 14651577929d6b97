/**
 * An attacker with the database (no keys) and a backup of the same store puts a row back as it
 * was before its revocation: its MAC is still good, so only the log can tell it is stale. A token,
 * delegation, license, scanner or witness row rolled back so would put a withdrawn authority back
 * in force. Each is refused ('state_invalid') as older than the record that last wrote it, on
 * both instances sharing the store and on one opened afterwards; put back as the log has it,
 * everything behaves as before and the views check clean. SQLite and PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { signFindings, type Finding } from '../../src/gatekeeper/index.ts';
import { signAttestation } from '../../src/quorum/index.ts';
import type { SigilRuntime } from '../../src/runtime/index.ts';
import { pgUrl } from '../canon/helpers/pg.ts';
import { sealGenesis, passChange } from '../quorum/ceremony.ts';
import { mcpAgent } from './instances.ts';
import { servedStores, type ServedStore } from './served.ts';
import type { RawView, ViewDb } from './view-db.ts';

const { withViewDb, serve } = servedStores();

const poll = { timeout: 6000, interval: 100 };

/** The outcome of `run`: its value, or the code it was refused with. */
const outcome = <T>(run: () => Promise<T>): Promise<T | string> =>
  run().catch((e: unknown) => (isSigilError(e) ? e.code : String(e)));

/** Polls `probe` on each of `on` until it gives `want`, never `honoured` on the way. */
async function settles<R>(
  on: readonly R[],
  probe: (r: R) => Promise<unknown>,
  want: unknown,
  honoured?: unknown,
): Promise<void> {
  for (const r of on) {
    await expect
      .poll(async () => {
        const got = await probe(r);
        if (honoured !== undefined)
          expect(got, 'the rolled-back row honoured').not.toEqual(honoured);
        return got;
      }, poll)
      .toEqual(want);
  }
}

describe.each([
  { backend: 'sqlite' as const, skip: false },
  { backend: 'postgres' as const, skip: !pgUrl },
])('rolled-back view rows on $backend', ({ backend, skip }) => {
  let db: ViewDb | undefined;
  let open: ServedStore | undefined;
  const setUp = async () => {
    open = await withViewDb(backend);
    db = open.db;
    return open;
  };
  const rowOf = async (ns: string, key: string): Promise<RawView> =>
    (await db!.rows(ns)).find((r) => r.k === key)!;

  it.skipIf(skip)(
    'a token row rolled back past its revocation is refused, never a caller again',
    async () => {
      const { a, b, db, root } = await setUp();
      const [A, B] = [serve(a), serve(b)];
      const { token, info } = await a.tokens.create(root, {
        subject: 'did:sigil:rolled-token',
        loa: 'operator',
        signer: { type: 'human' },
      });
      const asks = async (app: FastifyInstance): Promise<unknown> => {
        const r = await app.inject({
          method: 'POST',
          url: '/api/trust/check',
          headers: { authorization: `Bearer ${token}` },
          payload: { action: 'canon.read', target: 'canon/records' },
        });
        const body = r.json();
        return r.statusCode === 200 ? (body.code ?? body.verdict) : body.code;
      };
      await settles([A, B], asks, 'allow');
      const [live] = (await db.rows('tokens')).filter((r) => JSON.parse(r.v).id === info.id);
      await a.tokens.revoke(root, info.id);
      await settles([A, B], asks, 'token_invalid');
      const revoked = await rowOf('tokens', live!.k);

      await db.put(live!);
      await settles([A, B], asks, 'state_invalid', 'allow');
      const C = serve(await open!.reopen());
      expect(await asks(C)).toBe('state_invalid');
      // Listed, it would read as live; revoked again, as no such token.
      const listed = await A.inject({
        method: 'GET',
        url: '/api/tokens',
        headers: { authorization: `Bearer ${open!.rootToken}` },
      });
      expect([listed.statusCode, listed.json().code]).toEqual([500, 'state_invalid']);
      expect(await outcome(() => b.tokens.revoke(root, info.id))).toBe('state_invalid');

      await db.put(revoked);
      await settles([A, B, C], asks, 'token_invalid');
      expect(await a.log.checkViews()).toEqual([]);
    },
    120_000,
  );

  it.skipIf(skip)(
    'a delegation row rolled back past its revocation is refused, its agent never acting again',
    async () => {
      const { a, b, db, root } = await setUp();
      const { token, delegationId: delegation_id } = await mcpAgent(
        a,
        root,
        'did:sigil:rolled-agent',
      );
      const use = { action: 'mcp.tools.call', target: 'notes/read', outputMarking: 'gateway' };
      const agentUse = (r: SigilRuntime) =>
        outcome(async () => {
          const d = await r.check(
            await r.tokens.authenticate(token),
            use as Parameters<SigilRuntime['check']>[1],
          );
          return d.code ?? d.verdict;
        });
      await settles([a, b], agentUse, 'allow');
      const live = await rowOf('delegations', delegation_id);
      await b.delegations.revoke(root, delegation_id);
      const withdrawn = await agentUse(a);
      expect(withdrawn).not.toBe('allow');
      await settles([a, b], agentUse, withdrawn);
      const revoked = await rowOf('delegations', delegation_id);

      await db.put(live);
      await settles([a, b], agentUse, 'state_invalid', 'allow');
      // Through a server too: the delegation as shown is refused, not shown unrevoked.
      const A = serve(a);
      const shown = await A.inject({
        method: 'GET',
        url: `/api/delegations/${delegation_id}`,
        headers: { authorization: `Bearer ${open!.rootToken}` },
      });
      expect(shown.json().code).toBe('state_invalid');
      const c = await open!.reopen();
      expect(await agentUse(c)).toBe('state_invalid');

      await db.put(revoked);
      await settles([a, b, c], agentUse, withdrawn);
      expect(await a.log.checkViews()).toEqual([]);
    },
    120_000,
  );

  it.skipIf(skip)(
    'a Mentor token rolled back past its revocation gives its subject no standing: Root alone cannot mint a Mentor for it',
    async () => {
      const { a, b, db, root } = await setUp();
      const subject = 'did:sigil:rolled-mentor';
      // Minted before genesis, when Root alone may.
      const { info } = await a.tokens.create(root, {
        subject,
        loa: 'mentor',
        signer: { type: 'human' },
      });
      const [live] = (await db.rows('tokens')).filter((r) => JSON.parse(r.v).id === info.id);
      await sealGenesis(a, root);
      await a.tokens.revoke(root, info.id);
      const mints = (r: SigilRuntime) =>
        outcome(async () => {
          await r.tokens.create(root, { subject, loa: 'mentor', signer: { type: 'human' } });
          return 'minted';
        });
      for (const r of [a, b]) expect(await mints(r)).toBe('quorum_required');

      // Its live row put back: its standing back, Root alone would mint a Mentor again.
      await db.put(live!);
      for (const r of [a, b, await open!.reopen()]) {
        expect(await mints(r)).toBe('quorum_required');
      }
    },
    120_000,
  );

  it.skipIf(skip)(
    'a license row rolled back past its revocation is refused, never validating again',
    async () => {
      const { a, b, db, root } = await setUp();
      const [A, B] = [serve(a), serve(b)];
      const license = await a.licenses.generate(root, {
        subject: 'did:sigil:rolled-licensee',
        loa: 'operator',
        expiresAt: null,
      });
      const id = license.seal.contentHash;
      const validates = async (app: FastifyInstance): Promise<unknown> => {
        const r = await app.inject({
          method: 'POST',
          url: '/api/license/validate',
          payload: license,
        });
        const body = r.json();
        return r.statusCode === 200 ? (body.ok === true ? 'valid' : body.reason) : body.code;
      };
      await settles([A, B], validates, 'valid');
      const live = await rowOf('licenses', id);
      await a.licenses.revoke(root, id);
      await settles([A, B], validates, 'license_revoked');
      const revoked = await rowOf('licenses', id);

      await db.put(live);
      await settles([A, B], validates, 'state_invalid', 'valid');
      const C = serve(await open!.reopen());
      expect(await validates(C)).toBe('state_invalid');

      await db.put(revoked);
      await settles([A, B, C], validates, 'license_revoked');
      expect(await a.log.checkViews()).toEqual([]);
    },
    120_000,
  );

  it.skipIf(skip)(
    'a scanner row rolled back past its revocation is refused, its findings never taken',
    async () => {
      const { a, b, db, root } = await setUp();
      const scanner = 'did:sigil:rolled-scanner';
      const keys = generateKeyPair();
      let n = 0;
      const reports = (r: SigilRuntime) =>
        outcome(async () => {
          n += 1;
          const findings: Finding[] = [
            { finding_id: `f-${n}`, severity: 'low', title: `finding ${n}` },
          ];
          await r.governance.reportFindings(root, {
            attestation: signFindings(findings, scanner, { type: 'human' }, keys.privateKey),
            findings,
          });
          return 'taken';
        });
      await a.governance.registerScanner(root, {
        did: scanner,
        public_key: toBase64Url(publicKeyToRaw(keys.publicKey)),
      });
      await settles([a, b], reports, 'taken');
      const live = await rowOf('scanners', scanner);
      await a.governance.revokeScanner(root, scanner);
      await settles([a, b], reports, 'scanner_unknown');
      const revoked = await rowOf('scanners', scanner);

      await db.put(live);
      await settles([a, b], reports, 'state_invalid', 'taken');
      const c = await open!.reopen();
      expect(await reports(c)).toBe('state_invalid');

      await db.put(revoked);
      await settles([a, b, c], reports, 'scanner_unknown');
      expect(await a.log.checkViews()).toEqual([]);
    },
    120_000,
  );

  it.skipIf(skip)(
    'a witness row rolled back past its removal is refused, the removed witness never voting again',
    async () => {
      const { a, b, db, root } = await setUp();
      const witnesses = await sealGenesis(a, root, a.config.quorum.mentorsRequired + 1);
      const removed = witnesses.at(-1)!;
      const live = await rowOf('witnesses', removed.did);
      await passChange(a, root, witnesses.slice(0, -1), { witness_remove: removed.did });
      const revoked = await rowOf('witnesses', removed.did);
      const proposal = await a.quorum.propose(root, { setting: 'irl.threshold', value: 0.44 });
      const votes = (r: SigilRuntime) =>
        outcome(async () => {
          await r.quorum.attest(removed.caller, {
            proposal_id: proposal.id,
            ...signAttestation(proposal, removed.did, removed.keys.privateKey),
          });
          return 'counted';
        });
      await settles([a, b], votes, 'witness_not_in_force');

      await db.put(live);
      await settles([a, b], votes, 'state_invalid', 'counted');
      const c = await open!.reopen();
      expect(await votes(c)).toBe('state_invalid');

      await db.put(revoked);
      await settles([a, b, c], votes, 'witness_not_in_force');
      expect(await a.log.checkViews()).toEqual([]);
    },
    120_000,
  );
});
