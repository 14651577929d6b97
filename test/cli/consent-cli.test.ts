/** `sigil consent grant|revoke`: an AI agent's calls need its issuer's consent, seen at once. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initDataDir, json, sigil, tempRoot } from './sigil-process.ts';

let tmp: ReturnType<typeof tempRoot>;
let dataDir: string;
let rootToken: string;

beforeAll(async () => {
  tmp = tempRoot();
  dataDir = join(tmp.root, 'data');
  ({ rootToken } = await initDataDir(dataDir));
});
afterAll(() => tmp.remove());

describe('sigil consent', () => {
  it('grants and revokes consent for an AI agent', async () => {
    const root = { SIGIL_TOKEN: rootToken };
    const delegation = json<{ delegation_id: string }>(
      await sigil(
        [
          'delegate',
          '--data-dir',
          dataDir,
          '--json',
          '--to',
          'did:sigil:agent',
          '--actions',
          'mcp.tools.call',
        ],
        root,
      ),
    );
    const agent = json<{ token: string }>(
      await sigil(
        [
          'token',
          'create',
          '--data-dir',
          dataDir,
          '--json',
          '--subject',
          'did:sigil:agent',
          '--loa',
          'operator',
          '--signer',
          'ai',
          '--delegation',
          delegation.delegation_id,
          '--scope',
          'mcp.tools.call',
        ],
        root,
      ),
    );
    // The consent rule's outcome in the sealed decision (mcp-006-consent-boundaries).
    type Checked = { rules: Array<{ rule: string; passed: boolean }> };
    const consentRule = (run: { stdout: string }) =>
      json<Checked>(run as never).rules.find((r) => r.rule === 'mcp-006-consent-boundaries')
        ?.passed;
    const call = ['trust', 'check', '--data-dir', dataDir, '--json', '--action', 'mcp.tools.call'];
    const asAgent = { SIGIL_TOKEN: agent.token };
    const before = await sigil([...call, '--target', 'notes/read'], asAgent);
    expect(before.code).toBe(1);
    expect(json(before)).toMatchObject({ verdict: 'deny', code: 'mcp_rule_violated' });
    expect(consentRule(before)).toBe(false);

    const granted = await sigil(
      [
        'consent',
        'grant',
        '--data-dir',
        dataDir,
        '--json',
        '--bailee',
        'did:sigil:agent',
        '--scope',
        'mcp.tools.call',
        '--purpose',
        'retrieval',
      ],
      root,
    );
    expect(granted.code, granted.stderr).toBe(0);
    const { id } = json<{ id: string }>(granted);
    const allowed = await sigil([...call, '--target', 'notes/read'], asAgent);
    expect(consentRule(allowed)).toBe(true);

    const revoked = await sigil(['consent', 'revoke', id, '--data-dir', dataDir], root);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(consentRule(await sigil([...call, '--target', 'notes/read'], asAgent))).toBe(false);

    const bad = await sigil(
      [
        'consent',
        'grant',
        '--data-dir',
        dataDir,
        '--bailee',
        'nobody',
        '--scope',
        'x',
        '--purpose',
        'retrieval',
      ],
      root,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^sigil: bad_request: /);
    const unknown = await sigil(['consent', 'revoke', 'nope', '--data-dir', dataDir], root);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/consent_not_found/);
  });
});
