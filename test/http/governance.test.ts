/**
 * The governance monitor through the real server, attacked: findings unsigned, signed by an
 * unregistered key or under a registered scanner's name with another key, replayed, posted by a
 * Guest; scanners registered by someone other than Root; the breaker's view row forged in the
 * store. A trip is a sealed record, and the breaker it leaves stops AI actors.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, publicKeyToRaw, type Ed25519KeyPair } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import { signFindings, type Finding } from '../../src/gatekeeper/index.ts';
import {
  ROOMY_LIMITS,
  agentToken,
  checkedCall,
  humanToken,
  startServer,
  tempDataDir,
  type Answer,
  type ServerProcess,
} from './helpers.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
let dir: ReturnType<typeof tempDataDir>;
let server: ServerProcess;
let root: string;
let operator: string;
let observer: string;
let agent: string;

const SCANNER = 'did:sigil:scanner-1';
const AGENT = 'did:sigil:gov-agent';
const scannerKeys = generateKeyPair();

const req = (method: string, path: string, token?: string, body?: unknown) =>
  checkedCall(server.url, method, path, token, body);
const json = (a: Answer) => a.body as Json;
const status = (a: Answer) => [a.status, json(a).code ?? null];
const pub = (k: Ed25519KeyPair) => toBase64Url(publicKeyToRaw(k.publicKey));

function critical(scan: string, n: number): Finding[] {
  return Array.from({ length: n }, (_, i) => ({
    finding_id: `${scan}-${i}`,
    severity: 'critical' as const,
    title: `finding ${i} of ${scan}`,
  }));
}

function report(findings: Finding[], keys = scannerKeys, did = SCANNER) {
  const a = signFindings(findings, did, { type: 'human' }, keys.privateKey);
  return {
    attestation: { ...a, signer_type: { type: 'human' } },
    findings,
  };
}

const post = (body: unknown, token: string | undefined = operator) =>
  req('POST', '/api/governance/findings', token, body);
const guestPost = (body: unknown) => req('POST', '/api/governance/findings', undefined, body);

/** Every governance_event record's event, in log order (read as Root). */
async function events(): Promise<string[]> {
  const a = await req('GET', '/api/canon/records?kind=governance_event&limit=100', root);
  expect(a.status, a.text).toBe(200);
  return (json(a).records as Json[]).map((r) => r.payload.event as string);
}

beforeAll(async () => {
  dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
  server = await startServer(dir.dataDir, dir.config);
  root = server.rootToken!;
  operator = await humanToken(server.url, root, 'did:sigil:gov-operator', 'operator');
  observer = await humanToken(server.url, root, 'did:sigil:gov-observer', 'observer');
  agent = (await agentToken(server.url, root, AGENT, ['memory.read'])).token;
  const c = await req('POST', '/api/consent', root, {
    bailee: AGENT,
    scope: 'memory.read',
    purpose: 'retrieval',
  });
  expect(c.status, c.text).toBe(201);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  dir?.remove();
});

describe('governance monitor', () => {
  it('only a human Root registers scanners; status shows them', async () => {
    const body = { did: SCANNER, public_key: pub(scannerKeys) };
    expect(status(await req('POST', '/api/governance/scanners', operator, body))).toEqual([
      403,
      'loa_insufficient',
    ]);
    expect(status(await req('POST', '/api/governance/scanners', undefined, body))).toEqual([
      403,
      'loa_insufficient',
    ]);
    const made = await req('POST', '/api/governance/scanners', root, body);
    expect(made.status, made.text).toBe(201);
    expect(json(made)).toMatchObject({ did: SCANNER, registered_by: 'did:sigil:root' });
    expect(status(await req('POST', '/api/governance/scanners', root, body))).toEqual([
      409,
      'scanner_exists',
    ]);
    const bad = await req('POST', '/api/governance/scanners', root, {
      did: 'did:sigil:scanner-x',
      public_key: 'A'.repeat(42),
    });
    expect(bad.status).toBe(400);

    const s = await req('GET', '/api/governance/status', observer);
    expect(s.status, s.text).toBe(200);
    expect(json(s)).toMatchObject({ tripped: false, critical_in_window: 0, threshold: 3 });
    expect(json(s).scanners.map((x: Json) => x.did)).toEqual([SCANNER]);
    expect(status(await req('GET', '/api/governance/status'))).toEqual([403, 'loa_insufficient']);
    expect(await events()).toEqual(['scanner_registered']);
  });

  it('refuses unsigned, foreign-signed, unregistered, Guest-posted and replayed findings', async () => {
    const good = report(critical('scan-a', 1));
    // Unsigned: no signature at all is not a report; a signature that is not one fails it.
    const { signature: _signature, ...unsignedAttestation } = good.attestation;
    expect((await post({ ...good, attestation: unsignedAttestation })).status).toBe(400);
    expect(
      status(await post({ ...good, attestation: { ...good.attestation, signature: 'AAAA' } })),
    ).toEqual([400, 'findings_signature_invalid']);
    // Signed by a key that is not registered, under the registered scanner's name.
    const other = generateKeyPair();
    expect(status(await post(report(critical('scan-a', 1), other)))).toEqual([
      400,
      'findings_signature_invalid',
    ]);
    // Signed by an unregistered scanner with its own key.
    expect(
      status(await post(report(critical('scan-a', 1), other, 'did:sigil:rogue-scanner'))),
    ).toEqual([403, 'scanner_unknown']);
    // Findings other than the ones signed.
    expect(status(await post({ ...good, findings: critical('scan-b', 1) }))).toEqual([
      400,
      'findings_digest_mismatch',
    ]);
    // A Guest may not post findings, even genuine ones.
    expect(status(await guestPost(good))).toEqual([403, 'loa_insufficient']);

    const first = await post(good);
    expect(first.status, first.text).toBe(201);
    expect(json(first)).toMatchObject({
      signer_did: SCANNER,
      approval_required: true,
      tripped_now: false,
      breaker: { tripped: false, critical_in_window: 1, threshold: 3 },
    });
    expect(status(await post(good))).toEqual([409, 'findings_replayed']);
    const s = json(await req('GET', '/api/governance/status', observer));
    expect(s.critical_in_window).toBe(1);
    expect(s.buckets).toHaveLength(1);
    expect(await events()).toEqual(['scanner_registered', 'findings']);
  });

  it('a trip is a sealed record and stops AI actors; humans go on', async () => {
    expect((await req('GET', '/api/memory/read/notes', agent)).status).not.toBe(403);
    const trip = await post(report(critical('scan-c', 3)));
    expect(trip.status, trip.text).toBe(201);
    expect(json(trip)).toMatchObject({
      tripped_now: true,
      breaker: { tripped: true, critical_in_window: 4 },
    });
    expect(await events()).toEqual([
      'scanner_registered',
      'findings',
      'findings',
      'breaker_tripped',
    ]);
    const s = json(await req('GET', '/api/governance/status', observer));
    expect(s).toMatchObject({ tripped: true, critical_in_window: 4, window_ms: 86_400_000 });
    expect(Date.parse(s.window_end) - Date.parse(s.window_start)).toBe(86_400_000);

    const stopped = await req('GET', '/api/memory/read/notes', agent);
    expect(status(stopped)).toEqual([403, 'breaker_open']);
    expect((await req('GET', '/api/whoami', operator)).status).toBe(200);
  });

  it('a revoked scanner is refused', async () => {
    const revoked = await req('DELETE', `/api/governance/scanners/${SCANNER}`, root);
    expect(revoked.status, revoked.text).toBe(200);
    expect(json(revoked).revoked_at).not.toBeNull();
    expect(status(await post(report(critical('scan-d', 1))))).toEqual([403, 'scanner_unknown']);
    expect(status(await req('DELETE', `/api/governance/scanners/${SCANNER}`, root))).toEqual([
      404,
      'scanner_not_found',
    ]);
  });

  it('a forged breaker row is refused where it is used', async () => {
    // An attacker with the database empties the breaker's window to let AI actors through.
    const db = new Database(join(dir.dataDir, 'canon.db'));
    try {
      const row = db
        .prepare('SELECT v FROM views WHERE ns = ? AND k = ?')
        .get('governance', 'breaker') as { v: string };
      const value = JSON.parse(row.v) as Json;
      value.buckets = [];
      value.tripped = false;
      db.prepare('UPDATE views SET v = ? WHERE ns = ? AND k = ?').run(
        JSON.stringify(value),
        'governance',
        'breaker',
      );
    } finally {
      db.close();
    }
    // Decisions read the breaker from memory the log keeps current: the forged row is never
    // honoured (the sealed, tripped breaker still stops the agent) and is refused at use once
    // the mirror's audit has compared memory with the store.
    const seen = async () => status(await req('GET', '/api/memory/read/notes', agent));
    await expect
      .poll(
        async () => {
          const got = await seen();
          expect([
            [403, 'breaker_open'],
            [500, 'state_invalid'],
          ]).toContainEqual(got);
          return got;
        },
        { timeout: 5000, interval: 25 },
      )
      .toEqual([500, 'state_invalid']);
    expect(status(await req('GET', '/api/governance/status', observer))).toEqual([
      500,
      'state_invalid',
    ]);
  });
});
