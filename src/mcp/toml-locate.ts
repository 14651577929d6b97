/**
 * Finds the line of a TOML document that defines a key path (`upstream[1].url`), so a config
 * error can name the line at fault. smol-toml keeps no positions, so this reads the headers
 * (`[table]`, `[[array]]`) and `key = value` lines itself; it is a locator, not a parser.
 */

type PathPart = string | number;

interface Entry {
  path: string[];
  line: number;
}

const HEADER_RE = /^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$/;
const KEY_RE =
  /^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*=/;

function splitKey(key: string): string[] {
  const parts: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+)/g;
  for (const m of key.matchAll(re)) parts.push(m[1] ?? m[2] ?? m[3] ?? '');
  return parts;
}

/** Every header and key line with the full key path it defines (array tables get indexes). */
function entries(text: string): Entry[] {
  const out: Entry[] = [];
  const arrayCounts = new Map<string, number>();
  let context: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const header = HEADER_RE.exec(raw);
    if (header) {
      const names = splitKey(header[2] ?? '');
      const resolved = resolveHeader(names, context);
      if (header[1] === '[[') {
        const key = resolved.join('.');
        const n = arrayCounts.get(key) ?? 0;
        arrayCounts.set(key, n + 1);
        context = [...resolved, String(n)];
      } else {
        context = resolved;
      }
      out.push({ path: context, line });
      return;
    }
    const key = KEY_RE.exec(raw);
    if (key) out.push({ path: [...context, ...splitKey(key[1] ?? '')], line });
  });
  return out;
}

/**
 * A header's full path: its leading names that are array tables refer to their last element
 * (`[upstream.env]` after the second `[[upstream]]` is upstream[1].env); the last name is new.
 */
function resolveHeader(names: string[], context: string[]): string[] {
  const out: string[] = [];
  let ci = 0;
  names.forEach((name, i) => {
    out.push(name);
    if (i === names.length - 1) return;
    if (context[ci] === name && /^\d+$/.test(context[ci + 1] ?? '')) {
      out.push(context[ci + 1] ?? '0');
      ci += 2;
    } else {
      ci = Number.POSITIVE_INFINITY;
    }
  });
  return out;
}

/** The 1-based line defining `path` (or its nearest defined ancestor); null when none. */
export function locateKey(text: string, path: readonly PathPart[]): number | null {
  const target = path.map(String);
  let best: Entry | null = null;
  for (const e of entries(text)) {
    if (e.path.length > target.length) continue;
    if (!e.path.every((p, i) => p === target[i])) continue;
    if (best === null || e.path.length > best.path.length) best = e;
  }
  return best?.line ?? null;
}

/** `upstream[1].url` for ['upstream', 1, 'url']. */
export function formatKeyPath(path: readonly PathPart[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}
