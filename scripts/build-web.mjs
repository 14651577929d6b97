#!/usr/bin/env node
// Builds the dashboard (web/) into dist/web: one JS and one CSS bundle with content-hashed
// names under assets/, an index.html that names them, and manifest.json. Runs at install
// (`prepare`), offline: everything comes from node_modules.
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'dist/web');
// Built beside the target and renamed into place, so a server starting meanwhile sees the old
// build or the new one, never half of one.
const out = join(root, `dist/web.${process.pid}.tmp`);
const assets = join(out, 'assets');
rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: ['web/src/main.tsx'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome120', 'firefox128', 'safari17'],
  outdir: assets,
  entryNames: '[name]-[hash]',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  tsconfig: 'web/tsconfig.json',
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.entries(result.metafile.outputs);
const entry = outputs.find(([, o]) => o.entryPoint === 'web/src/main.tsx');
if (!entry) throw new Error('build-web: no entry bundle');
const js = basename(entry[0]);
const css = entry[1].cssBundle ? basename(entry[1].cssBundle) : undefined;

const iconSource = readFileSync(join(root, 'web/icon.svg'));
const icon = `icon-${createHash('sha256').update(iconSource).digest('hex').slice(0, 8)}.svg`;
copyFileSync(join(root, 'web/icon.svg'), join(assets, icon));

const html = readFileSync(join(root, 'web/index.html'), 'utf8')
  .replace('{{js}}', js)
  .replace('{{css}}', css ?? '')
  .replace('{{icon}}', icon);
writeFileSync(join(out, 'index.html'), html);
writeFileSync(
  join(out, 'manifest.json'),
  `${JSON.stringify({ index: 'index.html', js, css, icon }, null, 2)}\n`,
);
rmSync(target, { recursive: true, force: true });
renameSync(out, target);
console.log(`build-web: dist/web (${js}${css ? `, ${css}` : ''})`);
