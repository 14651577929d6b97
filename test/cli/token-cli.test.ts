/**
 * `sigil init`, bare `sigil`, `whoami` and `token` end to end: the real CLI as child processes.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initDataDir, json, sigil, tempRoot } from './sigil-process.ts';

let tmp: ReturnType<typeof tempRoot>;
let dataDir: string;
let rootToken: string;
let init: Record<string, unknown>;

beforeAll(async () => {
  tmp = tempRoot();
  dataDir = join(tmp.root, 'data');
  ({ rootToken, init } = await initDataDir(dataDir));
});
afterAll(() => tmp.remove());

describe('sigil init and bare sigil', () => {
  it('init creates the Root license and prints a Root token once', async () => {
    expect(rootToken).toMatch(/^sgl_[A-Za-z0-9_-]{43}$/);
    expect(init).toMatchObject({ backend: 'sqlite', root_subject: 'did:sigil:root', loa: 'root' });
    expect(String(init.verifier_key)).toMatch(new RegExp(`^sigil/${String(init.log_id)}\\+`));
    const licensePath = String(init.license_path);
    expect(licensePath).toBe(join(dataDir, 'license.json'));
    expect(statSync(licensePath).mode & 0o077).toBe(0);

    const [again, bare, bareNone] = await Promise.all([
      sigil(['init', '--data-dir', dataDir]),
      sigil(['--data-dir', dataDir, '--json']),
      sigil(['--data-dir', join(tmp.root, 'none')]),
    ]);
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/^sigil: store_exists: /);
    expect(again.stdout).not.toMatch(/sgl_/);

    const state = json(bare);
    expect(bare.code).toBe(0);
    expect(state).toMatchObject({
      initialised: true,
      loa: 'root',
      backend: 'sqlite',
      license: {
        valid: true,
        source: 'license',
        subject: 'did:sigil:root',
        reason: 'license valid',
        expires_at: null,
        license_path: licensePath,
      },
      log: { id: init.log_id, verifier_key: init.verifier_key },
    });
    const log = state.log as {
      size: number;
      checkpoint: { size: number; root_hash: string; timestamp: string } | null;
    };
    expect(log.size).toBeGreaterThan(0);
    expect(log.checkpoint?.size).toBeGreaterThan(0);
    expect(log.checkpoint?.root_hash).toMatch(/^[0-9a-f]{64}$/);
    const names = (state.commands as Array<{ name: string }>).map((c) => c.name);
    for (const name of ['init', 'whoami', 'token', 'generate-license', 'trust', 'quorum']) {
      expect(names).toContain(name);
    }

    expect(bareNone.code).toBe(0);
    expect(bareNone.stdout).toMatch(/No Sigil data dir is initialised at .*none/);
    expect(bareNone.stdout).toMatch(/sigil init --data-dir /);
    expect(bareNone.stdout).toMatch(/Commands:\n {2}init /);
    expect(existsSync(join(tmp.root, 'none', 'canon.db'))).toBe(false);
  });

  it('hands root options down; unknown commands and options are usage errors', async () => {
    const [unknown, badOpt, rootOpts] = await Promise.all([
      sigil(['frobnicate', '--data-dir', dataDir]),
      sigil(['whoami', '--data-dir', dataDir, '--no-such-flag']),
      sigil(['--data-dir', dataDir, '--json', 'whoami']),
    ]);
    expect(json(rootOpts)).toMatchObject({ subject: 'did:sigil:root', loa: 'root' });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    expect(badOpt.code).toBe(2);
  });
});

describe('sigil token and whoami', () => {
  it('create → whoami → list → revoke → token_invalid', async () => {
    const created = await sigil([
      'token',
      'create',
      '--data-dir',
      dataDir,
      '--subject',
      'did:example:alice',
      '--loa',
      'Operator',
      '--signer',
      'human',
      '--expires',
      '30d',
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    // The same shape as POST /api/tokens answers: the token once, and its TokenInfo.
    const created_ = json<{ token: string; info: Record<string, string> }>(created);
    expect(Object.keys(created_).sort()).toEqual(['info', 'token']);
    const out = {
      token: created_.token,
      id: created_.info.id!,
      expires: created_.info.expires_at!,
    };
    expect(created_.info).toMatchObject({
      subject: 'did:example:alice',
      loa: 'operator',
      signer: { type: 'human' },
      revoked_at: null,
      issued_by: 'did:sigil:root',
    });
    expect(created_.info.created_at).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    const days = (Date.parse(out.expires) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThan(30.1);

    const [who, whoHuman, list] = await Promise.all([
      sigil(['whoami', '--data-dir', dataDir, '--token', out.token, '--json']),
      sigil(['whoami', '--data-dir', dataDir], { SIGIL_TOKEN: out.token }),
      sigil(['token', 'list', '--data-dir', dataDir, '--json']),
    ]);
    expect(who.code, who.stderr).toBe(0);
    expect(json(who)).toMatchObject({
      subject: 'did:example:alice',
      loa: 'operator',
      signer: { type: 'human' },
      expires_at: out.expires,
      source: 'token',
      token_id: out.id,
      from: { subject: `token ${out.id}`, expires_at: `token ${out.id}` },
    });
    expect(whoHuman.stdout).toMatch(/^subject: did:example:alice +\(token [0-9a-f]+\)$/m);
    expect(whoHuman.stdout).toMatch(/^loa: +operator /m);
    const tokens = json<{ tokens: Array<Record<string, unknown>> }>(list).tokens;
    expect(tokens.map((t) => t.id)).toContain(out.id);
    expect(tokens.map((t) => t.subject)).toContain('did:sigil:root');
    expect(list.stdout).not.toMatch(/sgl_|"hash"/);

    const revoked = await sigil([
      'token',
      'revoke',
      out.id,
      '--data-dir',
      dataDir,
      '--token',
      rootToken,
      '--json',
    ]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(json(revoked)).toMatchObject({ id: out.id });
    expect(json(revoked).revoked_at).toMatch(/Z$/);
    expect(Object.keys(json(revoked)).filter((k) => /[A-Z]/.test(k))).toEqual([]);

    const [after, missing] = await Promise.all([
      sigil(['whoami', '--data-dir', dataDir, '--token', out.token]),
      sigil(['token', 'revoke', 'feedfacefeedface', '--data-dir', dataDir]),
    ]);
    expect(after.code).toBe(1);
    expect(after.stderr).toBe('sigil: token_invalid: the token is not valid\n');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/token_not_found/);
  });

  it('AI tokens carry their delegation and scopes; a non-Root token is denied', async () => {
    const delegated = await sigil([
      'delegate',
      '--data-dir',
      dataDir,
      '--json',
      '--to',
      'did:example:agent',
      '--actions',
      'trust.check,canon.read',
    ]);
    expect(delegated.code, delegated.stderr).toBe(0);
    const DELEGATION = json<{ delegation_id: string }>(delegated).delegation_id;
    const ai = await sigil([
      'token',
      'create',
      '--data-dir',
      dataDir,
      '--subject',
      'did:example:agent',
      '--loa',
      'observer',
      '--signer',
      'ai',
      '--delegation',
      DELEGATION,
      '--scope',
      'trust.check,canon.*',
    ]);
    expect(ai.code, ai.stderr).toBe(0);
    expect(ai.stdout).toContain(`ai (delegation ${DELEGATION})`);
    expect(ai.stdout).toMatch(/scopes: trust\.check, canon\.\*/);
    const token = ai.stdout.trim().split('\n').pop()!;
    expect(token).toMatch(/^sgl_/);

    const [who, denied] = await Promise.all([
      sigil(['whoami', '--data-dir', dataDir, '--json'], { SIGIL_TOKEN: token }),
      sigil(['token', 'list', '--data-dir', dataDir], { SIGIL_TOKEN: token }),
    ]);
    expect(json(who)).toMatchObject({
      subject: 'did:example:agent',
      loa: 'observer',
      signer: { type: 'ai', delegation_id: DELEGATION },
      expires_at: null,
    });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^sigil: (loa_insufficient|scope_denied): /);
  });

  it('rejects bad token options with exit 2 and reports a missing store with exit 3', async () => {
    const base = ['token', 'create', '--data-dir', dataDir, '--subject', 'did:example:x'];
    const runs = await Promise.all([
      sigil([...base, '--loa', 'operator', '--signer', 'ai']),
      sigil([...base, '--loa', 'superuser', '--signer', 'human']),
      sigil([...base, '--loa', 'operator', '--signer', 'human', '--expires', 'soon']),
      sigil(['token', 'create', '--data-dir', dataDir, '--loa', 'operator', '--signer', 'human']),
      sigil(['token', 'list', '--data-dir', join(tmp.root, 'missing')]),
    ]);
    const [noDelegation, badLoa, badExpiry, noSubject, noStore] = runs;
    for (const r of [noDelegation, badLoa, badExpiry, noSubject]) {
      expect(r!.code, r!.stderr).toBe(2);
      expect(r!.stdout).not.toMatch(/sgl_/);
    }
    expect(noDelegation!.stderr).toMatch(/--delegation/);
    expect(badLoa!.stderr).toMatch(/^sigil: bad_request: not a level of access: superuser/);
    expect(noSubject!.stderr).toMatch(/--subject/);
    expect(noStore!.code).toBe(3);
    expect(noStore!.stderr).toMatch(/^sigil: store_missing: /);
  });
});
