/**
 * Licenses listed and revoked through the real server, tried as an attacker would: a revoked
 * license file no longer validates over HTTP nor makes its holder a caller of the CLI, lower
 * levels are denied with their decision, the single Root license is never revoked, and a view
 * row edited in the database to undo a revocation is refused, never read as in force.
 */
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SQLITE_FILE } from '../../src/canon/store/index.ts';
import {
  humanToken,
  json,
  liveServer,
  requester,
  runCli,
  startServer,
  type Json,
} from './helpers.ts';

const live = liveServer();
const req = requester(live);

async function mintLicense(subject: string, loa: string): Promise<Json> {
  const made = await req('POST', '/api/license/create', live.root, { subject, loa });
  expect(made.status, made.text).toBe(201);
  return json(made);
}

/** `sigil whoami --json` as the holder of the license file in MMF_LICENSE_PATH. */
async function whoamiWith(licenseFile: string, args: string[] = []) {
  const run = await runCli(['whoami', '--json', '--data-dir', live.server.dataDir, ...args], {
    SIGIL_CONFIG: live.dir.config,
    MMF_LICENSE_PATH: licenseFile,
    LOG_LEVEL: 'silent',
  });
  return { code: run.code, who: JSON.parse(run.stdout || '{}') as Json, stderr: run.stderr };
}

describe('listing and revoking licenses', () => {
  it('lists every minted license to Root; a revoked one is refused by the server and the CLI', async () => {
    const license = await mintLicense('did:sigil:lic-operator', 'operator');
    const id = license.seal.contentHash as string;
    const file = join(live.dir.dataDir, '..', 'operator.license.json');
    writeFileSync(file, JSON.stringify(license), { mode: 0o600 });

    const listed = await req('GET', '/api/licenses', live.root);
    expect(listed.status).toBe(200);
    const rows = json(listed).licenses as Json[];
    expect(rows.find((l) => l.loa === 'root')).toMatchObject({ revoked_at: null });
    expect(rows.find((l) => l.id === id)).toEqual({
      id,
      owner: 'did:sigil:lic-operator',
      loa: 'operator',
      expires_at: null,
      revoked_at: null,
      revoked_by: null,
    });
    // in force: the server validates it and the CLI acts as its holder
    expect(json(await req('POST', '/api/license/validate', undefined, license))).toMatchObject({
      ok: true,
      loa: 'operator',
    });
    const before = await whoamiWith(file);
    expect(before.who).toMatchObject({ source: 'license', loa: 'operator' });

    const revoked = await req('DELETE', `/api/licenses/${id}`, live.root);
    expect(revoked.status, revoked.text).toBe(200);
    expect(json(revoked)).toMatchObject({ id, revoked_by: 'did:sigil:root' });
    expect(Date.parse(json(revoked).revoked_at as string)).toBeGreaterThan(0);
    // a second revocation changes nothing
    const again = await req('DELETE', `/api/licenses/${id}`, live.root);
    expect(json(again).revoked_at).toBe(json(revoked).revoked_at);

    // the revoked file, sent as it is, is refused: the default level, with the reason
    const check = json(await req('POST', '/api/license/validate', undefined, license));
    expect(check).toEqual({ ok: false, loa: 'observer', reason: 'license_revoked' });
    // the CLI holding it is no longer its holder, through either way of naming it
    const after = await whoamiWith(file);
    expect(after.who).toMatchObject({
      source: 'default',
      loa: 'observer',
      reason: 'license_revoked',
    });
    const named = await whoamiWith(join(live.dir.dataDir, 'license.json'), ['--license', file]);
    expect(named.code).toBe(1);
    expect(named.who).toMatchObject({ source: 'default', reason: 'license_revoked' });
    // and the list says so
    const now = (json(await req('GET', '/api/licenses', live.root)).licenses as Json[]).find(
      (l) => l.id === id,
    );
    expect(now?.revoked_at).toBe(json(revoked).revoked_at);
  });

  it('denies listing and revoking below Root, with the decision', async () => {
    const license = await mintLicense('did:sigil:lic-kept', 'observer');
    const id = license.seal.contentHash as string;
    for (const loa of ['guest', 'operator', 'mentor']) {
      const token =
        loa === 'guest'
          ? undefined
          : await humanToken(live.server.url, live.root, `did:sigil:lic-${loa}`, loa);
      for (const [method, path] of [
        ['GET', '/api/licenses'],
        ['DELETE', `/api/licenses/${id}`],
      ] as const) {
        const a = await req(method, path, token);
        expect(a.status, `${loa} ${method}`).toBe(403);
        expect(json(a)).toMatchObject({ code: 'loa_insufficient' });
        expect(json(a).decision_id).toMatch(/^rec_/);
      }
    }
    // still in force
    expect(json(await req('POST', '/api/license/validate', undefined, license)).ok).toBe(true);
  });

  it('never revokes the Root license; an unknown or malformed id is refused', async () => {
    const rootRow = (json(await req('GET', '/api/licenses', live.root)).licenses as Json[]).find(
      (l) => l.loa === 'root',
    )!;
    const refused = await req('DELETE', `/api/licenses/${rootRow.id}`, live.root);
    expect(refused.status).toBe(403);
    expect(json(refused).code).toBe('single_root_violation');
    const unknown = await req('DELETE', `/api/licenses/${'0'.repeat(64)}`, live.root);
    expect(unknown.status).toBe(404);
    expect(json(unknown).code).toBe('license_not_found');
    const malformed = await req('DELETE', '/api/licenses/not-a-hash', live.root);
    expect(malformed.status).toBe(400);
    // the runtime's own operator keeps its Root standing
    expect((await whoamiWith(join(live.dir.dataDir, 'license.json'))).who).toMatchObject({
      source: 'license',
      loa: 'root',
    });
  });

  it('a deleted view row loses nothing: the log still says revoked, and issued', async () => {
    const revokedLicense = await mintLicense('did:sigil:lic-row-deleted', 'operator');
    const keptLicense = await mintLicense('did:sigil:lic-row-kept', 'operator');
    const revokedId = revokedLicense.seal.contentHash as string;
    const keptId = keptLicense.seal.contentHash as string;
    expect((await req('DELETE', `/api/licenses/${revokedId}`, live.root)).status).toBe(200);
    await live.server.stop();
    const db = new Database(join(live.dir.dataDir, SQLITE_FILE));
    try {
      const del = db.prepare("DELETE FROM views WHERE ns = 'licenses' AND k = ?");
      expect(del.run(revokedId).changes).toBe(1);
      expect(del.run(keptId).changes).toBe(1);
    } finally {
      db.close();
    }
    live.server = await startServer(live.dir.dataDir, live.dir.config);
    expect(json(await req('POST', '/api/license/validate', undefined, revokedLicense))).toEqual({
      ok: false,
      loa: 'observer',
      reason: 'license_revoked',
    });
    expect(json(await req('POST', '/api/license/validate', undefined, keptLicense))).toMatchObject({
      ok: true,
      loa: 'operator',
    });
  });

  it('a revocation undone by editing the view row in the database is refused, not trusted', async () => {
    const license = await mintLicense('did:sigil:lic-forged', 'operator');
    const id = license.seal.contentHash as string;
    expect((await req('DELETE', `/api/licenses/${id}`, live.root)).status).toBe(200);
    await live.server.stop();
    const db = new Database(join(live.dir.dataDir, SQLITE_FILE));
    try {
      const row = db
        .prepare<[string], { v: string }>("SELECT v FROM views WHERE ns = 'licenses' AND k = ?")
        .get(id)!;
      const value = JSON.parse(row.v) as Json;
      expect(value.revokedAt).toBeTypeOf('string');
      delete value.revokedAt;
      delete value.revokedBy;
      db.prepare("UPDATE views SET v = ? WHERE ns = 'licenses' AND k = ?").run(
        JSON.stringify(value),
        id,
      );
    } finally {
      db.close();
    }
    live.server = await startServer(live.dir.dataDir, live.dir.config);
    const check = await req('POST', '/api/license/validate', undefined, license);
    expect(check.status).toBe(500);
    expect(json(check).code).toBe('state_invalid');
    const listed = await req('GET', '/api/licenses', live.root);
    expect(json(listed).code).toBe('state_invalid');
  });
});
