/** `node:fs` with Node 22's globSync, for the conformance CLI on Node 20 (see node20-fs.mjs). */
import fs from 'node:fs';
import { join, relative, sep } from 'node:path';

export * from 'node:fs';
export default fs;

function toRegExp(glob) {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === '*' && glob[i + 1] === '*') {
      i += glob[i + 2] === '/' ? 2 : 1;
      re += '(?:.*/)?';
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function globSync(pattern, options = {}) {
  const cwd = options.cwd ?? process.cwd();
  const patterns = (Array.isArray(pattern) ? pattern : [pattern]).map(toRegExp);
  const out = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      const rel = relative(cwd, full).split(sep).join('/');
      if (patterns.some((p) => p.test(rel))) out.push(rel);
      if (entry.isDirectory()) walk(full);
    }
  };
  walk(cwd);
  return out;
}
