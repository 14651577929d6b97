/**
 * docs/http.md lists every request and response shape: its Shapes section is what
 * scripts/http-shapes.ts renders from src/http/schemas.ts now, and names each exported schema.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DOC,
  END,
  START,
  exportedSchemas,
  renderShapes,
  withShapes,
} from '../../scripts/http-shapes.ts';
import { BODY_READERS, type BodyReader } from '../../src/runtime/read-access.ts';

const doc = readFileSync(DOC, 'utf8');

describe('docs/http.md', () => {
  it('holds the shapes section as generated from the current schemas (npm run docs:http)', () => {
    expect(withShapes(doc, renderShapes())).toBe(doc);
  });

  it('has an entry for every schema src/http/schemas.ts exports', () => {
    const headings = new Set([...doc.matchAll(/^### (\S+)$/gm)].map((m) => m[1]));
    const names = exportedSchemas().map(([name]) => name);
    expect(names.length).toBeGreaterThan(50);
    expect(names.filter((name) => !headings.has(name))).toEqual([]);
  });

  it('links only to shapes it lists', () => {
    const section = doc.slice(doc.indexOf(START), doc.indexOf(END));
    const headings = new Set(
      [...section.matchAll(/^### (\S+)$/gm)].map((m) => m[1]!.toLowerCase()),
    );
    const links = [...section.matchAll(/\]\(#([a-z0-9-]+)\)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(0);
    expect(links.filter((anchor) => !headings.has(anchor))).toEqual([]);
  });

  it('notices a shape that changed after the section was written', () => {
    const stale = doc.replace(/^\| `root_hash` \| string \| yes \|/m, '| `root` | string | yes |');
    expect(stale).not.toBe(doc);
    expect(withShapes(stale, renderShapes())).not.toBe(stale);
  });

  it('prints the read-access table as src/runtime/read-access.ts has it (and README too)', () => {
    const readers: Record<string, BodyReader> = {
      'its owner': 'owner',
      'the caller it concerns': 'concerned',
      'its writer': 'writer',
      Root: 'root',
    };
    for (const text of [doc, readFileSync('README.md', 'utf8')]) {
      const start = text.indexOf('| record kinds | whose body it is |');
      expect(start).toBeGreaterThan(0);
      const rows = text.slice(start).split('\n').slice(2);
      const printed: Record<string, BodyReader> = {};
      for (const row of rows) {
        const cells = row.trim().split('|').slice(1, -1);
        if (cells.length !== 2) break;
        const who = Object.keys(readers).find((k) => cells[1]!.trim().startsWith(k));
        if (who === undefined) continue; // the auditor's row: every kind
        for (const [, kind] of cells[0]!.matchAll(/`([a-z_]+)`/g)) printed[kind!] = readers[who]!;
      }
      expect(printed).toEqual({ ...BODY_READERS });
    }
  });
});
