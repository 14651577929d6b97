/**
 * One dialect for `--json`, as on the HTTP API: every field name is snake_case and every time is
 * an RFC 3339 UTC string. It runs each command that prints JSON on one real data dir, as a user
 * would, and walks every document it prints.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initDataDir, json, sigil, tempRoot, type Run } from './sigil-process.ts';

const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
/** Field names that hold a time. */
const TIME_FIELD = /(^|_)(at|ts|timestamp|time)$|^(expires|created|revoked|since)$/;

let tmp: ReturnType<typeof tempRoot>;
let dataDir: string;
let rootToken: string;
/** Each command line run and the JSON document it printed. */
const printed: Array<{ command: string; doc: unknown }> = [];

/** Runs `sigil args… --json` on the data dir, expecting `code`; keeps the document it printed. */
async function run(args: string[], code = 0): Promise<Record<string, unknown>> {
  const done: Run = await sigil(['--data-dir', dataDir, ...args, '--json']);
  expect(done.code, `sigil ${args.join(' ')}: ${done.stderr}`).toBe(code);
  const doc = json(done);
  printed.push({ command: args.join(' '), doc });
  return doc;
}

/**
 * Passed through exactly as signed (docs/http.md says so): a record's payload, a proposal's
 * change and a license document (the one object with a `seal`); their names are what was signed.
 */
function signedAsIs(key: string, value: unknown): boolean {
  if (key === 'payload' || key === 'change') return true;
  return value !== null && typeof value === 'object' && 'seal' in value;
}

/** Every place in `doc` that breaks the dialect, as `path: what`. */
function dialectFaults(doc: unknown, path = '$'): string[] {
  if (Array.isArray(doc)) return doc.flatMap((v, i) => dialectFaults(v, `${path}[${i}]`));
  if (doc === null || typeof doc !== 'object') return [];
  return Object.entries(doc).flatMap(([key, value]) => {
    const at = `${path}.${key}`;
    if (signedAsIs(key, value)) return [];
    // whoami's `from` says where each value came from, in words.
    if (path === '$' && key === 'from') {
      return Object.keys(value as object)
        .filter((k) => /[A-Z]/.test(k))
        .map((k) => `${at}.${k}: not snake_case`);
    }
    const faults = dialectFaults(value, at);
    // Keys that are data (action names, feature names, DIDs) may hold dots or colons, never
    // capitals: a capital in a key is a camelCase field name.
    if (/[A-Z]/.test(key)) faults.push(`${at}: not snake_case`);
    if (
      TIME_FIELD.test(key) &&
      value !== null &&
      !(typeof value === 'string' && RFC3339_UTC.test(value))
    ) {
      faults.push(`${at}: ${JSON.stringify(value)} is not an RFC 3339 UTC time`);
    }
    return faults;
  });
}

beforeAll(async () => {
  tmp = tempRoot();
  dataDir = join(tmp.root, 'data');
  const init = await initDataDir(dataDir);
  rootToken = init.rootToken;
  printed.push({ command: 'init', doc: init.init });
}, 60_000);
afterAll(() => tmp?.remove());

describe('sigil --json', () => {
  it('speaks snake_case with RFC 3339 times in every command', async () => {
    const root = ['--token', rootToken];
    await run([]);
    await run(['whoami']);
    await run(['whoami', ...root]);
    await run(['whoami', '--license', join(dataDir, 'license.json')]);

    const created = await run([
      'token',
      'create',
      ...root,
      '--subject',
      'did:example:reader',
      '--loa',
      'observer',
      '--signer',
      'human',
      '--expires',
      '1d',
    ]);
    await run(['token', 'list', ...root]);
    const info = created.info as { id: string };
    await run(['token', 'revoke', ...root, info.id]);

    const licenseFile = join(tmp.root, 'mentor.license.json');
    await run([
      'generate-license',
      ...root,
      '--subject',
      'did:example:mentor',
      '--loa',
      'mentor',
      '--expires',
      '30d',
      '--output',
      licenseFile,
    ]);
    await run(['whoami', '--license', licenseFile]);

    await run(['trust', 'check', ...root, '--action', 'canon.read', '--target', 'canon/user/1']);
    await run(['trust', 'status', ...root]);
    await run(['trust', 'fit', '--input', 'examples/labelled-decisions.ndjson']);

    const consent = await run([
      'consent',
      'grant',
      ...root,
      '--bailee',
      'did:example:agent',
      '--scope',
      'mcp.tools.call',
      '--purpose',
      'retrieval',
      '--expires',
      '2030-01-01T00:00:00Z',
    ]);
    await run(['consent', 'revoke', ...root, consent.id as string]);

    const delegation = await run([
      'delegate',
      ...root,
      '--to',
      'did:example:agent',
      '--actions',
      'memory.read',
      '--expires',
      '1d',
    ]);
    const delegationId = (delegation.delegation_id ?? delegation.id) as string;
    await run(['delegate', 'show', ...root, delegationId]);
    await run(['delegate', 'revoke', ...root, delegationId]);
    await run(['role', 'list', ...root]);
    await run(['governance', 'status', ...root]);

    const records = tmp.file(
      'records.ndjson',
      `${JSON.stringify({ kind: 'user_data', tenant: 'cli', space: 'user', payload: { note: 'hello' } })}\n`,
    );
    await run(['canon', 'append', ...root, '--file', records]);
    const list = await run(['canon', 'list', ...root, '--limit', '3']);
    const first = (list.records as Array<{ id: string }>)[0]!;
    await run(['canon', 'get', ...root, first.id]);

    await run(['generate-key', '--key-id', 'w-root']);
    const signature = await run(['sign', '--key-id', 'w-root', '--data', 'hello']);
    await run([
      'verify',
      '--key-id',
      'w-root',
      '--data',
      'hello',
      '--signature',
      signature.signature as string,
    ]);
    await run(['quorum', 'enrol', ...root, '--key-id', 'w-root']);
    await run(['quorum', 'witnesses', ...root]);
    const proposal = await run([
      'quorum',
      'propose',
      ...root,
      '--change-json',
      '{"setting":"irl.threshold","value":0.45}',
    ]);
    await run(['quorum', 'status', ...root, proposal.id as string]);
    await run(['quorum', 'status', ...root]);

    const checkpoint = await run(['log', 'checkpoint']);
    const size = checkpoint.size as number;
    const proof = await run(['log', 'prove', '--seq', '0', '--size', String(size)]);
    const proofFile = tmp.file('proof.json', JSON.stringify(proof));
    const checkpointFile = tmp.file('checkpoint.json', JSON.stringify(checkpoint));
    await run([
      'log',
      'verify-proof',
      '--proof',
      proofFile,
      '--checkpoint',
      checkpointFile,
      '--pub-key',
      checkpoint.verifier_key as string,
    ]);
    await run(['log', 'consistency', '--from', '1', '--to', String(size)]);
    await run(['validate']);
    await run(['state', 'rebuild']);
    await run(['approvals', ...root, '--all']);

    const faults = printed.flatMap(({ command, doc }) =>
      dialectFaults(doc).map((f) => `sigil ${command} --json: ${f}`),
    );
    expect(faults).toEqual([]);
  }, 240_000);

  it('finds a camelCase field or an epoch time (the check can fail)', () => {
    expect(
      dialectFaults({ license: { expiresAt: null }, rows: [{ created_at: 1700000000000 }] }),
    ).toEqual([
      '$.license.expiresAt: not snake_case',
      '$.rows[0].created_at: 1700000000000 is not an RFC 3339 UTC time',
    ]);
    expect(
      dialectFaults({ weights: { 'canon.read': 1 }, expires_at: '2026-01-01T00:00:00.000Z' }),
    ).toEqual([]);
  });
});
