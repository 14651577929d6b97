/**
 * docs/mcp-gateway.md documents every key of gateway.toml: each key of the config schema, at
 * every depth ([auth], [[auth.oauth]], [tee], [[upstream]], [[policy]]), appears in the guide
 * as `key`, as a table header, or in a commented TOML example. A key added to the schema without its documentation fails here.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { GATEWAY_FILE_SCHEMA, loadGatewayConfig } from '../../src/mcp/config.ts';
import { PolicyTable } from '../../src/mcp/policy.ts';

/** Every key of every object schema reachable from `schema`, as dotted paths. */
function keysOf(schema: z.ZodType, path: string[] = []): string[] {
  const def = (schema as unknown as { def: Record<string, unknown> }).def;
  if (schema instanceof z.ZodObject) {
    return Object.entries(schema.shape as Record<string, z.ZodType>).flatMap(([key, inner]) => [
      [...path, key].join('.'),
      ...keysOf(inner, [...path, key]),
    ]);
  }
  for (const inner of [def.innerType, def.element, def.in, def.out]) {
    if (inner instanceof z.ZodType) return keysOf(inner, path);
  }
  return [];
}

describe('docs/mcp-gateway.md', () => {
  it('documents every key of the gateway.toml schema', () => {
    const doc = readFileSync('docs/mcp-gateway.md', 'utf8');
    const keys = keysOf(GATEWAY_FILE_SCHEMA);
    expect(keys.length).toBeGreaterThan(40);
    expect(keys).toContain('auth.oauth.jwks_uri');
    expect(keys).toContain('policy.when');
    // Documented: named in the text (`key`), as a table ([key], [[key]], [[auth.key]]), or set
    // in a commented TOML example (`key = … # meaning`).
    const documented = (path: string): boolean => {
      const key = path.split('.').at(-1)!;
      return (
        doc.includes(`\`${key}\``) ||
        doc.includes(`[${path}]`) ||
        new RegExp(`^${key} = .*#`, 'm').test(doc)
      );
    };
    const missing = keys.filter((k) => !documented(k));
    expect(missing).toEqual([]);
  });

  it("README's configuration that uses everything loads, rules compiled", () => {
    const readme = readFileSync('README.md', 'utf8');
    const toml = /<!-- gateway-full -->\n```toml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(toml).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'sigil-readme-gw-'));
    try {
      const file = join(dir, 'gateway.toml');
      writeFileSync(file, toml!);
      const config = loadGatewayConfig(file);
      expect(config.upstreams.map((u) => u.name)).toEqual(['fs', 'search']);
      const table = new PolicyTable(config.policies);
      expect(table.match('tool', 'fs__read_file')?.when).toBeDefined();
      expect(table.match('tool', 'fs__read_file')?.redact).toEqual(['secrets']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
