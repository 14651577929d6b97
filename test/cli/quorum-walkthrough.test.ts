/**
 * The README's quorum walkthrough ("Changing the system: the quorum, end to end"), run as written
 * with bash in a directory of its own: every witness enrols its own key, nothing commits before
 * genesis, Root's vote alone is refused by the kernel, and the change commits with Root + 3
 * Mentors and decides the next request.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

function walkthrough(): string {
  const readme = readFileSync(join(process.cwd(), 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Changing the system: the quorum, end to end\n');
  expect(start).toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 1);
  const [block] = [...readme.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(block).toBeDefined();
  return block!;
}

const work = mkdtempSync(join(tmpdir(), 'sigil-quorum-readme-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the README's quorum walkthrough", () => {
  it('runs as written', async () => {
    symlinkSync(join(process.cwd(), 'bin'), join(work, 'bin'));
    // Aliases are off in a non-interactive shell; the walkthrough's `alias sigil=…` needs them.
    const script = `shopt -s expand_aliases\nexport TMPDIR=${work}\n${walkthrough()}`;
    const out = await new Promise<string>((resolve) => {
      execFile(
        'bash',
        ['-c', script],
        { cwd: work, env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 240_000 },
        (_err, stdout, stderr) => resolve(`${stdout}${stderr}`),
      );
    });
    const expected = [
      /verdict:\s+allow/,
      /enrolled mentor witness did:sigil:carol: enrolled, not yet in force/,
      /sigil: genesis_required: no system change commits before genesis/,
      /genesis: sealed .* by proposal/,
      /sigil: quorum_required: quorum not satisfied: Quorum threshold not met by verified human vote provenance/,
      /did:sigil:carol attested proposal \S+; quorum satisfied \(1\/1 Root, 3\/3 Mentors\)/,
      /committed proposal \S+ as record/,
      /threshold 0\.85/,
      /verdict:\s+deny: trust_below_threshold/,
    ];
    for (const line of expected) expect(out, out).toMatch(line);
    // Nothing else failed: the only refusals are the two the walkthrough shows.
    expect(out.match(/^sigil: /gm)).toHaveLength(2);
  }, 300_000);
});
