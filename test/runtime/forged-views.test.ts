/**
 * An attacker with the database (no keys) edits the view rows Sigil acts on, directly in SQLite
 * and in PostgreSQL: inserts a Root token, raises a token's level, adds a witness or a consent,
 * copies a valid row from another store, deletes rows, or rolls a row back. Every forged row is
 * refused at use ('state_invalid') so what depended on it is denied, deletions fail closed, and
 * `checkViews` (what `sigil validate` runs) names the namespace, key and record of each.
 */
import { randomBytes } from 'node:crypto';
import type { JsonValue } from '../../src/core/canonical.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unwrapDataKey } from '../../src/canon/envelope.ts';
import { resolveMasterKey } from '../../src/canon/masterkey.ts';
import { openStore } from '../../src/canon/store/index.ts';
import type { BackendName } from '../../src/canon/store/types.ts';
import { VIEW_NS, deriveViewKey, sealViewRow } from '../../src/canon/views.ts';
import { loadConfig } from '../../src/config/index.ts';
import { publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { signFindings } from '../../src/gatekeeper/index.ts';
import { signAttestation } from '../../src/quorum/index.ts';
import { passChange, sealGenesis } from '../quorum/ceremony.ts';
import { SigilRuntime, type Caller } from '../../src/runtime/index.ts';
import { VIEWS, attestationViews } from '../../src/runtime/view-ns.ts';
import { BACKENDS, tempDir } from '../canon/helpers/log.ts';
import { freshDatabase } from '../canon/helpers/pg.ts';
import { viewDb } from './view-db.ts';

async function errorCode(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => (isSigilError(e) ? e.code : String(e)),
  );
}

/**
 * Namespaces a request reads from memory the log keeps current (src/runtime/view-mirror.ts): an
 * edit no record made is never served from memory, and is refused at use once the mirror's audit
 * (every AUDIT_MS) has seen it, which empties memory and sends every read to the store. What is
 * refused, and how, is unchanged.
 */
const MIRRORED = new Set(['tokens', 'consent', 'governance', 'roles']);

/** The error `use` ends in once a forged row in `ns` is seen (polled for mirrored ones). */
async function refusal(ns: string, use: () => Promise<unknown>): Promise<string | undefined> {
  if (!MIRRORED.has(ns)) return errorCode(use());
  let code: string | undefined;
  await expect
    .poll(async () => (code = await errorCode(use())), { timeout: 5000, interval: 25 })
    .toBe('state_invalid');
  return code;
}

async function boot(backend: BackendName) {
  const dataDir = tempDir('sigil-forge-');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    SIGIL_MASTER_KEY: randomBytes(32).toString('base64'),
    ...(backend === 'postgres' && {
      MMF_DB_BACKEND: 'postgres',
      MMF_DATABASE_URL: await freshDatabase(),
    }),
  };
  const b = await SigilRuntime.bootstrap({ config: loadConfig({ env, dataDir }), env });
  const root = await b.runtime.tokens.authenticate(b.rootToken);
  const db = await viewDb(backend, dataDir, env.MMF_DATABASE_URL);
  return {
    runtime: b.runtime,
    rootToken: b.rootToken!,
    root,
    db,
    viewKey: await viewKeyOf(dataDir, env),
  };
}

/** The view MAC key, as only a holder of the master key derives it (or a bug in Sigil uses it). */
async function viewKeyOf(dataDir: string, env: NodeJS.ProcessEnv): Promise<Uint8Array> {
  const store = await openStore({ dataDir, env }, { create: false });
  try {
    const meta = (await store.readMeta())!;
    const { kek } = resolveMasterKey({ dataDir, env, create: false });
    return deriveViewKey(unwrapDataKey(meta.wrappedKey, kek), meta.logId);
  } finally {
    await store.close();
  }
}

describe.each(BACKENDS)('forged view rows on $name', ({ name, skip }) => {
  let a: Awaited<ReturnType<typeof boot>>;
  let other: Awaited<ReturnType<typeof boot>>;
  let opToken: string;
  let cookie: string;
  let agent: Caller;
  let proposalId: string;
  let approvalId: string;
  let scannerDid: string;
  let scan: Parameters<SigilRuntime['governance']['reportFindings']>[1];
  const call = {
    action: 'mcp.tools.call',
    target: 'notes/read',
    outputMarking: 'gateway' as const,
  };

  beforeAll(async () => {
    if (skip) return;
    a = await boot(name);
    other = await boot(name);
    const { runtime, root } = a;
    opToken = (
      await runtime.tokens.create(root, {
        subject: 'did:sigil:op',
        loa: 'operator',
        signer: { type: 'human' },
      })
    ).token;
    cookie = (await runtime.sessions.open(opToken)).cookie;
    const agentToken = (
      await runtime.tokens.create(root, {
        subject: 'did:sigil:agent',
        loa: 'operator',
        signer: {
          type: 'ai',
          delegationId: (
            await runtime.delegations.create(root, {
              to: 'did:sigil:agent',
              actions: ['mcp.tools.call'],
            })
          ).delegation_id,
        },
        scopes: ['mcp.tools.call'],
      })
    ).token;
    agent = await runtime.tokens.authenticate(agentToken);
    const witnesses = await sealGenesis(runtime, root);
    await passChange(runtime, root, witnesses, {
      standing_grant: { subject: 'did:sigil:raised', loa: 'mentor' },
    });
    await passChange(runtime, root, witnesses, {
      role_grant: { subject: 'did:sigil:worker', name: 'worker' },
    });
    await runtime.toolPins.pin({
      key: 'up tool',
      upstream: 'up',
      tool: 'tool',
      hash: 'a'.repeat(64),
      approval_id: null,
    });
    const proposal = await runtime.quorum.propose(root, { setting: 'irl.threshold', value: 0.5 });
    proposalId = proposal.id;
    await runtime.quorum.attest(root, {
      proposal_id: proposal.id,
      ...signAttestation(proposal, root.subject, witnesses[0]!.keys.privateKey),
    });
    await runtime.consent.grant(root, {
      bailee: 'did:sigil:agent',
      scope: 'mcp.tools.call',
      purpose: 'retrieval',
    });
    await runtime.memory.write(root, { key: 'notes', value: { a: 1 } });
    await runtime.holons.spawn(root, {
      id: 'h1',
      capabilities: ['holon.step'],
      program: { type: 'identity' },
    });
    approvalId = (
      await runtime.approvals.request(agent, {
        decision_id: 'd',
        action: 'mcp.tools.call',
        target: 't',
        tool: 'up__tool',
        arguments: { a: 1 },
        summary: 's',
      })
    ).id;
    const findings = [{ finding_id: 'f1', severity: 'low' as const, title: 'minor' }];
    const scannerKeys = witnesses[1]!.keys;
    scannerDid = witnesses[1]!.did;
    await runtime.governance.registerScanner(root, {
      did: witnesses[1]!.did,
      public_key: toBase64Url(publicKeyToRaw(scannerKeys.publicKey)),
    });
    scan = {
      attestation: signFindings(
        findings,
        witnesses[1]!.did,
        { type: 'human' },
        scannerKeys.privateKey,
      ),
      findings,
    };
    await runtime.governance.reportFindings(root, scan);
    expect(await runtime.log.checkViews()).toEqual([]);
  });

  afterAll(async () => {
    if (skip) return;
    for (const s of [a, other]) {
      await s.db.close();
      await s.runtime.close();
    }
  });

  /** Each namespace, one of its rows, and a use of it that must be refused once the row is forged. */
  const uses = (): Array<{
    ns: string;
    key: () => Promise<string>;
    use: () => Promise<unknown>;
  }> => {
    const first = (ns: string) => async () => (await a.db.rows(ns))[0]!.k;
    const { runtime, root } = a;
    return [
      {
        ns: 'tokens',
        key: async () => sha256Hex(opToken),
        use: () => runtime.tokens.authenticate(opToken),
      },
      // A forged session row signs nobody in; a forged slots row opens no session.
      {
        ns: 'sessions',
        key: async () => sha256Hex(cookie),
        use: () => runtime.sessions.find(cookie),
      },
      {
        ns: 'session_slots',
        key: async () => 'did:sigil:op',
        use: () => runtime.sessions.open(opToken),
      },
      {
        ns: 'licenses',
        key: first('licenses'),
        use: () =>
          runtime.licenses.generate(root, { subject: 'did:x:m', loa: 'mentor', expiresAt: null }),
      },
      {
        ns: 'witnesses',
        key: first('witnesses'),
        use: () => runtime.quorum.get(root, proposalId),
      },
      {
        ns: 'witness_challenges',
        key: first('witness_challenges'),
        use: async () =>
          runtime.quorum.enrol(root, {
            challenge_id: (await a.db.rows('witness_challenges'))[0]!.k,
            public_key: 'A'.repeat(43),
            proof: 'x',
          }),
      },
      // A forged key row enrols nobody with that key.
      {
        ns: 'witness_keys',
        key: first('witness_keys'),
        use: async () =>
          runtime.quorum.enrol(root, {
            challenge_id: 'none',
            public_key: (await a.db.rows('witness_keys'))[0]!.k,
            proof: 'x',
          }),
      },
      // Genesis gates every commit: a forged genesis row commits nothing.
      {
        ns: 'quorum',
        key: async () => 'genesis',
        use: () => runtime.quorum.commit(root, proposalId),
      },
      {
        ns: 'proposals',
        key: async () => proposalId,
        use: () => runtime.quorum.get(root, proposalId),
      },
      {
        ns: `attestations:${proposalId}`,
        key: async () => root.subject,
        use: () => runtime.quorum.get(root, proposalId),
      },
      { ns: 'consent', key: first('consent'), use: () => runtime.check(agent, call) },
      { ns: 'memory', key: first('memory'), use: () => runtime.memory.read(root, 'notes') },
      {
        ns: 'holons',
        key: async () => 'h1',
        use: () => runtime.holons.step(root, 'h1', { x: '1' }),
      },
      { ns: 'approvals', key: async () => approvalId, use: () => runtime.approvals.list(root) },
      { ns: 'governance', key: async () => 'breaker', use: () => runtime.check(agent, call) },
      // A raise the quorum committed is what lets Root mint a Mentor token after genesis.
      {
        ns: 'standing',
        key: async () => 'did:sigil:raised',
        use: () =>
          runtime.tokens.create(root, {
            subject: 'did:sigil:raised',
            loa: 'mentor',
            signer: { type: 'human' },
          }),
      },
      { ns: 'delegations', key: first('delegations'), use: () => runtime.check(agent, call) },
      { ns: 'roles', key: first('roles'), use: () => runtime.check(agent, call) },
      { ns: 'tool_pins', key: async () => 'up tool', use: () => runtime.toolPins.get('up tool') },
      {
        ns: 'scanners',
        key: async () => scannerDid,
        use: () => runtime.governance.status(root),
      },
      {
        ns: 'findings_seen',
        key: async () => `${scannerDid} ${scan.attestation.findings_digest}`,
        use: () => runtime.governance.reportFindings(root, scan),
      },
    ];
  };

  it.skipIf(skip)('every view namespace has a forged-row case', () => {
    const covered = new Set(uses().map((u) => u.ns.replace(/:.*/, ':')));
    expect([...covered].sort()).toEqual([...Object.values(VIEW_NS), 'attestations:'].sort());
    expect(
      Object.values(VIEWS)
        .map((v) => v.name)
        .sort(),
    ).toEqual(Object.values(VIEW_NS).sort());
  });

  it.skipIf(skip)(
    'a validly MACed row of the wrong shape is refused at use in every namespace',
    async () => {
      for (const { ns, key, use } of uses()) {
        const k = await key();
        const row = (await a.db.rows(ns)).find((r) => r.k === k)!;
        expect(row, `${ns}/${k}`).toBeDefined();
        // What the key holder wrote, sealed again: the same bytes and MAC as the stored row.
        const resealed = sealViewRow(
          a.viewKey,
          { ns, key: k, value: JSON.parse(row.v) },
          row.seq,
          row.hash,
        );
        expect([resealed.value, Buffer.from(resealed.mac)]).toEqual([row.v, Buffer.from(row.mac)]);
        const value = JSON.parse(row.v) as Record<string, unknown>;
        const misshapen = [[], {}, Object.fromEntries(Object.keys(value).map((f) => [f, 12345]))];
        for (const wrong of misshapen) {
          const forged = sealViewRow(a.viewKey, { ns, key: k, value: wrong }, row.seq, row.hash);
          await a.db.put({ ...row, v: forged.value, mac: Buffer.from(forged.mac) });
          expect(await refusal(ns, use), `${ns} ${JSON.stringify(wrong)}`).toBe('state_invalid');
          // Its MAC holds, so validation names it as not the projection of its record.
          expect(await a.runtime.log.checkViews()).toMatchObject([
            { ns, key: k, problem: 'differs' },
          ]);
        }
        await a.db.put(row);
        expect(await errorCode(use()), `${ns} restored`).not.toBe('state_invalid');
        expect(await a.runtime.log.checkViews()).toEqual([]);
      }
    },
  );

  it.skipIf(skip)('valid rows round-trip through their namespace unchanged', async () => {
    const { views } = a.runtime.log;
    for (const space of [...Object.values(VIEWS), attestationViews(proposalId)]) {
      const rows = await a.db.rows(space.name);
      expect(rows.length, space.name).toBeGreaterThan(0);
      const listed = await space.list(views);
      expect(
        listed.map((e) => [e.key, e.value]),
        space.name,
      ).toEqual(rows.map((r) => [r.k, JSON.parse(r.v)]));
      for (const r of rows) expect(await space.get(views, r.k)).toEqual(JSON.parse(r.v));
    }
  });

  it.skipIf(skip)(
    'an edited row in every namespace is refused at use and named by validation',
    async () => {
      for (const { ns, key, use } of uses()) {
        const k = await key();
        const row = (await a.db.rows(ns)).find((r) => r.k === k)!;
        expect(row, `${ns}/${k}`).toBeDefined();
        const value = JSON.parse(row.v) as Record<string, unknown>;
        await a.db.put({ ...row, v: JSON.stringify({ ...value, forged: true }) });
        expect(await refusal(ns, use), `${ns} use`).toBe('state_invalid');
        expect(await a.runtime.log.checkViews()).toEqual([
          { ns, key: k, problem: 'unauthenticated', seq: row.seq },
        ]);
        await a.db.put(row);
        expect(await errorCode(use()), `${ns} restored`).not.toBe('state_invalid');
        expect(await a.runtime.log.checkViews()).toEqual([]);
      }
    },
  );

  it.skipIf(skip)(
    'a deleted row whose record is in the log fails closed, never back to the state before it',
    async () => {
      // Without its row: no genesis (Root alone again), a closed breaker, a tool never pinned.
      const deletable = new Set(['quorum', 'governance', 'tool_pins']);
      for (const { ns, key, use } of uses().filter((u) => deletable.has(u.ns))) {
        const k = await key();
        const row = (await a.db.rows(ns)).find((r) => r.k === k)!;
        expect(row, `${ns}/${k}`).toBeDefined();
        await a.db.remove(ns, k);
        expect(await refusal(ns, use), `${ns} deleted`).toBe('state_invalid');
        expect(await a.runtime.log.checkViews()).toMatchObject([
          { ns, key: k, problem: 'missing' },
        ]);
        await a.db.put(row);
        expect(await errorCode(use()), `${ns} restored`).not.toBe('state_invalid');
        expect(await a.runtime.log.checkViews()).toEqual([]);
      }
    },
  );

  it.skipIf(skip)(
    'in every namespace: a row from another store is refused at use; inserts and deletes are named by validation',
    async () => {
      for (const { ns, key, use } of uses()) {
        const k = await key();
        const row = (await a.db.rows(ns)).find((r) => r.k === k)!;
        expect(row, `${ns}/${k}`).toBeDefined();
        const value = JSON.parse(row.v) as JsonValue;
        // The same row as the other store's key holder would have made it.
        const theirs = sealViewRow(other.viewKey, { ns, key: k, value }, row.seq, row.hash);
        await a.db.put({ ...row, v: theirs.value, mac: Buffer.from(theirs.mac) });
        expect(await refusal(ns, use), `${ns} copied`).toBe('state_invalid');
        expect(await a.runtime.log.checkViews(), `${ns} copied`).toEqual([
          { ns, key: k, problem: 'unauthenticated', seq: row.seq },
        ]);
        await a.db.put(row);
        // A row no record made, under a new key.
        await a.db.put({ ...row, k: `${k}-inserted`, mac: randomBytes(32) });
        expect(await a.runtime.log.checkViews(), `${ns} inserted`).toMatchObject([
          { ns, key: `${k}-inserted` },
        ]);
        await a.db.remove(ns, `${k}-inserted`);
        await a.db.remove(ns, k);
        expect(await a.runtime.log.checkViews(), `${ns} deleted`).toMatchObject([
          { ns, key: k, problem: 'missing' },
        ]);
        await a.db.put(row);
        expect(await a.runtime.log.checkViews()).toEqual([]);
      }
    },
  );

  it.skipIf(skip)('an inserted Root token never authenticates', async () => {
    const forged = `sgl_${toBase64Url(randomBytes(32))}`;
    const model = (await a.db.rows('tokens')).find((r) => r.k === sha256Hex(a.rootToken))!;
    const k = sha256Hex(forged);
    await a.db.put({ ...model, k, v: model.v.replace(model.k, k), mac: randomBytes(32) });
    expect(await errorCode(a.runtime.tokens.authenticate(forged))).toBe('state_invalid');
    // The right MAC of another row does not fit this one either.
    await a.db.put({ ...model, k, v: model.v.replace(model.k, k) });
    expect(await errorCode(a.runtime.tokens.authenticate(forged))).toBe('state_invalid');
    expect(await a.runtime.log.checkViews()).toEqual([
      { ns: 'tokens', key: k, problem: 'unauthenticated', seq: model.seq },
    ]);
    await a.db.remove('tokens', k);
  });

  it.skipIf(skip)('raising a token to Root is refused', async () => {
    const k = sha256Hex(opToken);
    const row = (await a.db.rows('tokens')).find((r) => r.k === k)!;
    await a.db.put({ ...row, v: row.v.replace('"operator"', '"root"') });
    expect(await refusal('tokens', () => a.runtime.tokens.authenticate(opToken))).toBe(
      'state_invalid',
    );
    await a.db.put(row);
    expect((await a.runtime.tokens.authenticate(opToken)).loa).toBe('operator');
  });

  it.skipIf(skip)('a row copied from another store (its own valid MAC) is refused', async () => {
    const theirs = (await other.db.rows('tokens')).find((r) => r.k === sha256Hex(other.rootToken))!;
    await a.db.put(theirs);
    expect(await errorCode(a.runtime.tokens.authenticate(other.rootToken))).toBe('state_invalid');
    expect((await a.runtime.log.checkViews()).map((p) => p.problem)).toEqual(['unauthenticated']);
    await a.db.remove('tokens', theirs.k);
    // A witness (and a genesis) copied from the other store never counts toward a quorum here.
    const theirWitnesses = await sealGenesis(other.runtime, other.root, 3, 'copied');
    for (const ns of ['witnesses', 'quorum']) {
      const ours = await a.db.rows(ns);
      for (const row of await other.db.rows(ns)) await a.db.put(row);
      if (ns === 'witnesses') {
        expect(await errorCode(a.runtime.quorum.get(a.root, proposalId))).toBe('state_invalid');
      }
      expect(
        await errorCode(
          a.runtime.quorum.attest(theirWitnesses[1]!.caller, {
            proposal_id: proposalId,
            signature: 'x',
            provenance_signature: 'x',
          }),
        ),
        ns,
      ).toBe(ns === 'witnesses' ? 'state_invalid' : 'witness_unknown');
      expect(await errorCode(a.runtime.quorum.commit(a.root, proposalId)), ns).toBe(
        'state_invalid',
      );
      for (const row of await other.db.rows(ns)) await a.db.remove(ns, row.k);
      for (const row of ours) await a.db.put(row);
    }
  });

  it.skipIf(skip)('a forged consent never satisfies mcp-006', async () => {
    // Consent is read from memory the log keeps current: an edit in the database is seen once
    // the mirror's audit (every AUDIT_MS) has compared memory with the store, so each step polls.
    const outcome = () =>
      a.runtime.check(agent, call).then(
        (d) => d.code ?? d.verdict,
        (e: unknown) => (isSigilError(e) ? e.code : String(e)),
      );
    const poll = { timeout: 5000, interval: 25 };
    const [row] = await a.db.rows('consent');
    await a.db.remove('consent', row!.k);
    // Deleting the real consent fails closed: the AI call is denied by the rule.
    await expect.poll(outcome, poll).toBe('mcp_rule_violated');
    expect(await a.runtime.log.checkViews()).toMatchObject([
      { ns: 'consent', key: row!.k, problem: 'missing', seq: row!.seq },
    ]);
    const forgedKey = 'f'.repeat(32);
    await a.db.put({ ...row!, k: forgedKey, v: row!.v.replaceAll(row!.k, forgedKey) });
    // Never an allow on the forged row: denied by the rule until seen, then refused.
    await expect
      .poll(async () => {
        const got = await outcome();
        expect(got).not.toBe('allow');
        return got;
      }, poll)
      .toBe('state_invalid');
    await a.db.remove('consent', forgedKey);
    await a.db.put(row!);
    await expect.poll(outcome, poll).toBe('allow');
  });

  it.skipIf(skip)(
    'a token row rolled back past its revocation is named by validation',
    async () => {
      const { token, info } = await a.runtime.tokens.create(a.root, {
        subject: 'did:sigil:short',
        loa: 'observer',
        signer: { type: 'human' },
      });
      const k = sha256Hex(token);
      const before = (await a.db.rows('tokens')).find((r) => r.k === k)!;
      await a.runtime.tokens.revoke(a.root, info.id);
      expect(await errorCode(a.runtime.tokens.authenticate(token))).toBe('token_invalid');
      await a.db.put(before);
      const problems = await a.runtime.log.checkViews();
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatchObject({ ns: 'tokens', key: k, problem: 'differs' });
      expect(problems[0]!.seq).toBeGreaterThan(before.seq);
      await a.runtime.state.rebuild(a.root);
      expect(await a.runtime.log.checkViews()).toEqual([]);
      expect(await errorCode(a.runtime.tokens.authenticate(token))).toBe('token_invalid');
    },
  );
});
