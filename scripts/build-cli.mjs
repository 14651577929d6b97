#!/usr/bin/env node
// Bundles the CLI (src/cli/main.ts) into dist/sigil/, which bin/sigil runs. Loading ~700 small
// modules (zod alone is ~230) is most of a command's start-up; one entry file plus a chunk per
// command cuts that to a handful of files, and `sigil <command>` still loads only its own chunks.
//
// Only pure-JavaScript libraries the CLI needs on every path are bundled (cel-js: on every
// command that opens the runtime). Every other dependency stays external and loads from
// node_modules as before: native addons (better-sqlite3), pg, and the server libraries, which
// find their own files at run time (pino's transports, fastify's plugins). The chunks sit one
// level under dist/, as the compiled modules do, so the few paths the sources resolve from
// import.meta.url (package.json, dist/web) resolve alike.
//
// meta.json lists the source modules in each output file (test/cli/startup.test.ts reads it to
// say which modules a run loaded). Built beside the target and renamed into place, so a command
// starting meanwhile runs the old build or the new one, never half of one.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const BUNDLED = new Set(['commander', 'zod', 'cborg', 'smol-toml', '@marcbachmann/cel-js']);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'dist/sigil');
const out = join(root, `dist/sigil.${process.pid}.tmp`);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const external = Object.keys(pkg.dependencies)
  .filter((name) => !BUNDLED.has(name))
  .flatMap((name) => [name, `${name}/*`]);

rmSync(out, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/cli/main.ts' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: out,
  outExtension: { '.js': '.mjs' },
  chunkNames: '[name]-[hash]',
  external,
  // Bundled CommonJS (commander) calls require() for Node's built-ins.
  banner: {
    js: "import { createRequire as sigilCreateRequire } from 'node:module'; const require = sigilCreateRequire(import.meta.url);",
  },
  minify: true,
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
});

const meta = {};
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  if (!file.endsWith('.mjs')) continue;
  meta[relative(out, join(root, file))] = Object.keys(output.inputs).sort();
}
writeFileSync(join(out, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
rmSync(target, { recursive: true, force: true });
renameSync(out, target);
console.log(`build-cli: dist/sigil (${Object.keys(meta).length} files)`);
