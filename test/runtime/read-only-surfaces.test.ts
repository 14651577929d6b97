/**
 * The surfaces (HTTP, CLI, MCP gateway, dashboard server) read the log and call the runtime's
 * service rooms; they never hold a handle that appends records or writes views. The types make
 * it a compile-time error (below, checked by `npm run typecheck`); the scan catches a surface
 * that reaches round them for the writable log, the store or the services' shared core.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LogReader } from '../../src/canon/log.ts';
import type { SigilRuntime } from '../../src/runtime/index.ts';

const ROOT = join(import.meta.dirname, '../..');
const SURFACES = ['src/http', 'src/cli', 'src/mcp'];

/** What a surface may not mention: each is a way to write the log or the state table. */
const FORBIDDEN: Array<[RegExp, string]> = [
  [/\bCanonLog\b/, 'the writable log (surfaces hold a LogReader)'],
  [/\.(append|appendMany|rebuildViews|appendBatch)\s*\(/, 'an append or view write'],
  [/canon\/store\b/, 'the storage backends'],
  [/\b(sealViewRow|deriveViewKey|viewMac|viewReader)\b/, 'view sealing or the view key'],
  [/runtime\/core\.ts['"]/, "the services' shared core (RuntimeCore.append)"],
  [/from ['"](better-sqlite3|pg)['"]/, 'a database driver'],
];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sourceFiles(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/** Offending lines of `text` as `path:line: why`. */
function offences(path: string, text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, i) => {
    for (const [pattern, why] of FORBIDDEN) {
      if (pattern.test(line)) found.push(`${path}:${i + 1}: ${why}: ${line.trim()}`);
    }
  });
  return found;
}

// Compile-time half: were any of these members back on the surfaces' log, an @ts-expect-error
// below would be unused and `npm run typecheck` would fail.
export function surfacesCannotWrite(runtime: SigilRuntime, log: LogReader): void {
  // @ts-expect-error the surfaces' log cannot append
  void runtime.log.append;
  // @ts-expect-error nor append a batch
  void runtime.log.appendMany;
  // @ts-expect-error nor rewrite the views
  void log.rebuildViews;
  // @ts-expect-error nor sign with the log key
  void log.signer;
  // @ts-expect-error nor close the runtime's store under it
  void log.close;
}

describe('surfaces hold a read-only log', () => {
  const files = SURFACES.flatMap(sourceFiles);

  it('scans every surface module', () => {
    expect(files.length).toBeGreaterThan(30);
    expect(files).toContain('src/http/server.ts');
    expect(files).toContain('src/cli/context.ts');
    expect(files).toContain('src/mcp/gateway.ts');
  });

  it('no surface mentions the writable log, the store, view sealing or the core', () => {
    const found = files.flatMap((f) => offences(f, readFileSync(join(ROOT, f), 'utf8')));
    expect(found).toEqual([]);
  });

  it('the scan catches each way round', () => {
    const attempts = [
      "import { CanonLog } from '../canon/log.ts';",
      'await runtime.log.append({ kind: "decision" });',
      'await log.appendMany(drafts);',
      'await log.rebuildViews();',
      "import { openStore } from '../../canon/store/index.ts';",
      "import { sealViewRow } from '../canon/views.ts';",
      "import type { RuntimeCore } from '../runtime/core.ts';",
      "import Database from 'better-sqlite3';",
    ];
    for (const line of attempts) {
      expect(offences('src/http/x.ts', line), line).toHaveLength(1);
    }
  });
});
