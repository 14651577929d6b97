/** `sigil governance scanner|report|status` end to end: the real CLI as child processes. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import { signFindings, type Finding } from '../../src/gatekeeper/index.ts';
import { initDataDir, json, sigil, tempRoot } from './sigil-process.ts';

let tmp: ReturnType<typeof tempRoot>;
let dataDir: string;
const keys = generateKeyPair();
const SCANNER = 'did:sigil:cli-scanner';

function reportFile(name: string, findings: Finding[]): string {
  const a = signFindings(findings, SCANNER, { type: 'human' }, keys.privateKey);
  return tmp.file(name, JSON.stringify({ attestation: a, findings }));
}

beforeAll(async () => {
  tmp = tempRoot();
  dataDir = join(tmp.root, 'data');
  await initDataDir(dataDir);
});
afterAll(() => tmp.remove());

describe('sigil governance', () => {
  it('registers a scanner, takes in its signed report once, and shows the window', async () => {
    const d = ['--data-dir', dataDir];
    const findings = [1, 2, 3, 4].map((i) => ({
      finding_id: `c${i}`,
      severity: 'critical' as const,
      title: `critical ${i}`,
    }));
    const file = reportFile('scan.json', findings);

    const unknown = await sigil(['governance', 'report', '--file', file, ...d]);
    expect([unknown.code, unknown.stderr]).toEqual([
      1,
      'sigil: scanner_unknown: the findings signer is not a registered scanner\n',
    ]);
    const add = await sigil([
      'governance',
      'scanner',
      'add',
      '--did',
      SCANNER,
      '--public-key',
      toBase64Url(publicKeyToRaw(keys.publicKey)),
      ...d,
      '--json',
    ]);
    expect(add.code, add.stderr).toBe(0);
    expect(json(add)).toMatchObject({ did: SCANNER, revoked_at: null });

    const taken = await sigil(['governance', 'report', '--file', file, ...d, '--json']);
    expect(taken.code, taken.stderr).toBe(0);
    expect(json(taken)).toMatchObject({
      signer_did: SCANNER,
      tripped_now: true,
      breaker: { tripped: true, critical_in_window: 4, threshold: 3 },
    });
    const replay = await sigil(['governance', 'report', '--file', file, ...d]);
    expect([replay.code, replay.stderr]).toEqual([
      1,
      'sigil: findings_replayed: these signed findings were taken in already\n',
    ]);
    const forged = tmp.file(
      'forged.json',
      JSON.stringify({
        attestation: signFindings(
          findings,
          SCANNER,
          { type: 'human' },
          generateKeyPair().privateKey,
        ),
        findings,
      }),
    );
    expect((await sigil(['governance', 'report', '--file', forged, ...d])).stderr).toMatch(
      /^sigil: findings_signature_invalid: /,
    );

    const [text, status] = await Promise.all([
      sigil(['governance', 'status', ...d]),
      sigil(['governance', 'status', ...d, '--json']),
    ]);
    expect(text.stdout).toMatch(/^breaker: +tripped: AI actors are stopped$/m);
    expect(text.stdout).toMatch(/^window: .*: 4 critical \(trips above 3\)$/m);
    expect(json(status)).toMatchObject({
      tripped: true,
      critical_in_window: 4,
      window_ms: 86_400_000,
      scanners: [{ did: SCANNER }],
    });
  });
});
