/**
 * The published package as a user gets it: `npm pack` (which builds dist/ through `prepare`),
 * the tarball unpacked into node_modules/sigil of an empty project, and every entry point
 * imported there by plain Node.
 *
 * It packs a staged copy of what the build reads (beside a link to node_modules), never the
 * checkout itself: `prepare` rewrites dist/, which other tests' CLI runs read meanwhile.
 *
 * `npm install <tarball>` would resolve Sigil's dependencies against the registry, which CI must
 * not need; so the tarball is unpacked the way npm would and each of the dependencies it declares
 * (and only those) is linked to the checkout's installed copy. An import of anything the package
 * does not declare therefore fails here as it would for a user.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = process.cwd();
const PACK_TIMEOUT_MS = 300_000;
/** `node --import` this to record every module a process resolves. */
const RECORD_IMPORTS = pathToFileURL(path.join(REPO, 'test/fixtures/imports/record.mjs')).href;

interface PackedFile {
  path: string;
}

interface PackResult {
  filename: string;
  files: PackedFile[];
}

interface Manifest {
  version: string;
  dependencies: Record<string, string>;
  exports: Record<string, string | { types: string; default: string }>;
}

let work: string;
let project: string;
let packed: PackResult;
let manifest: Manifest;

/** Runs an ES module script with plain Node in the consumer project; returns its stdout. */
function runInProject(source: string, nodeArgs: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const run = spawnSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', source], {
    cwd: project,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  expect(run.stderr, 'stderr').toBe('');
  expect(run.status, run.stderr).toBe(0);
  return run.stdout;
}

/** What `npm pack` and its `prepare` build read from the checkout. */
const PACK_INPUTS = [
  'package.json',
  'README.md',
  'tsconfig.json',
  'tsconfig.build.json',
  'bin',
  'src',
  'scripts',
  'web',
];

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'sigil-pack-'));
  const stage = path.join(work, 'stage');
  for (const input of PACK_INPUTS) {
    if (existsSync(path.join(REPO, input))) {
      cpSync(path.join(REPO, input), path.join(stage, input), { recursive: true });
    }
  }
  symlinkSync(path.join(REPO, 'node_modules'), path.join(stage, 'node_modules'), 'dir');
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], {
    cwd: stage,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: PACK_TIMEOUT_MS,
  });
  // `prepare` (tsc) may print before npm's JSON: read from the opening bracket.
  packed = (JSON.parse(out.slice(out.indexOf('['))) as PackResult[])[0]!;

  project = path.join(work, 'project');
  const installed = path.join(project, 'node_modules', 'sigil');
  mkdirSync(installed, { recursive: true });
  writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  execFileSync('tar', [
    '-xzf',
    path.join(work, packed.filename),
    '-C',
    installed,
    '--strip-components=1',
  ]);
  manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as Manifest;
  for (const dep of Object.keys(manifest.dependencies)) {
    const link = path.join(project, 'node_modules', dep);
    mkdirSync(path.dirname(link), { recursive: true });
    symlinkSync(path.join(REPO, 'node_modules', dep), link, 'dir');
  }
}, PACK_TIMEOUT_MS);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('ships the compiled library and the CLI, not the tests', () => {
    const files = packed.files.map((f) => f.path);
    for (const file of ['dist/index.js', 'dist/verify.js', 'dist/core/index.js', 'bin/sigil']) {
      expect(files, file).toContain(file);
    }
    expect(files.filter((f) => f.startsWith('test/'))).toEqual([]);
  });

  it('points every export, and main and types, at files in the tarball', () => {
    const root = path.join(project, 'node_modules', 'sigil');
    expect(Object.keys(manifest.exports).sort()).toEqual(
      ['.', './core', './package.json', './verify'].sort(),
    );
    for (const target of Object.values(manifest.exports)) {
      const targets = typeof target === 'string' ? [target] : [target.types, target.default];
      for (const file of targets) expect(existsSync(path.join(root, file)), file).toBe(true);
    }
  });
});

describe('the installed package', () => {
  it('imports as sigil, sigil/core and sigil/verify', () => {
    const out = runInProject(`
      const all = await import('sigil');
      const core = await import('sigil/core');
      const verify = await import('sigil/verify');
      console.log(JSON.stringify({
        all: Object.keys(all), core: Object.keys(core), verify: Object.keys(verify),
      }));
    `);
    const keys = JSON.parse(out) as Record<'all' | 'core' | 'verify', string[]>;
    expect(keys.all).toEqual(
      expect.arrayContaining(['SigilRuntime', 'CanonLog', 'decide', 'canonicalJson']),
    );
    expect(keys.core).toEqual(
      expect.arrayContaining(['canonicalJson', 'sha256', 'sign', 'verify', 'SigilError']),
    );
    expect(keys.core).not.toContain('CanonLog');
    expect(keys.verify).toEqual(
      expect.arrayContaining([
        'openCheckpoint',
        'parseVerifierKey',
        'verifyInclusion',
        'verifyConsistency',
        'verifyRecord',
        'leafHash',
      ]),
    );
  });

  it('verifies with sigil/verify what the library signed, and rejects a forged root', () => {
    const out = runInProject(`
      import { MerkleTree, generateKeyPair, signCheckpoint, verifierKey, sha256 } from 'sigil';
      import { leafHash, openCheckpoint, parseVerifierKey, verifyInclusion } from 'sigil/verify';
      const leaves = [0, 1, 2, 3, 4].map((i) => leafHash(sha256(Uint8Array.of(i))));
      const tree = new MerkleTree(leaves);
      const keys = generateKeyPair();
      const note = signCheckpoint(
        { origin: 'sigil/pack-test', size: 5, rootHash: tree.root() }, 'pack-test', keys.privateKey);
      const { keyName, publicKey } = parseVerifierKey(verifierKey('pack-test', keys.publicKey));
      const cp = openCheckpoint(note, keyName, publicKey);
      const proof = tree.inclusionProof(3, 5);
      const forged = Uint8Array.from(cp.rootHash); forged[0] ^= 1;
      console.log(JSON.stringify({
        ok: verifyInclusion(leaves[3], 3, 5, proof, cp.rootHash),
        forged: verifyInclusion(leaves[3], 3, 5, proof, forged),
      }));
    `);
    expect(JSON.parse(out)).toEqual({ ok: true, forged: false });
  });

  it('loads no store, database driver, server or runtime for sigil/verify and sigil/core', () => {
    for (const entry of ['sigil/verify', 'sigil/core']) {
      const log = path.join(work, `${entry.replace('/', '-')}.loaded`);
      runInProject(`await import('${entry}');`, ['--import', RECORD_IMPORTS], {
        SIGIL_LOADED_LOG: log,
      });
      const loaded = readFileSync(log, 'utf8').trim().split('\n');
      expect(
        loaded.some((url) => url.includes('/node_modules/sigil/dist/')),
        entry,
      ).toBe(true);
      const forbidden = loaded.filter((url) =>
        /\/node_modules\/(better-sqlite3|pg|fastify|@fastify|@modelcontextprotocol)\/|\/dist\/(canon\/(store|log|keystore|masterkey)|http|runtime|cli|mcp)[/.]/.test(
          url,
        ),
      );
      expect(forbidden, entry).toEqual([]);
    }
  });

  it('runs the CLI from the package', () => {
    const run = spawnSync(
      process.execPath,
      [path.join(project, 'node_modules', 'sigil', 'bin', 'sigil'), '--version'],
      { cwd: project, encoding: 'utf8', timeout: 60_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe(manifest.version);
  });

  it('runs the bundled CLI, which opens a data dir through the native driver', () => {
    const bin = path.join(project, 'node_modules', 'sigil', 'bin', 'sigil');
    const log = path.join(work, 'cli.loaded');
    const env = {
      PATH: process.env.PATH,
      SIGIL_MASTER_KEY: Buffer.alloc(32, 0x42).toString('base64'),
      SIGIL_DATA_DIR: path.join(work, 'cli-data'),
      SIGIL_LOADED_LOG: log,
    };
    const cli = (args: string[]) =>
      spawnSync(process.execPath, ['--import', RECORD_IMPORTS, bin, ...args], {
        cwd: project,
        encoding: 'utf8',
        env,
        timeout: 60_000,
      });
    const init = cli(['init', '--json']);
    expect(init.status, init.stderr).toBe(0);
    const token = (JSON.parse(init.stdout) as { root_token: string }).root_token;
    const whoami = cli(['whoami', '--token', token, '--json']);
    expect(whoami.status, whoami.stderr).toBe(0);
    expect(JSON.parse(whoami.stdout)).toMatchObject({ subject: 'did:sigil:root', loa: 'root' });
    const loaded = readFileSync(log, 'utf8').trim().split('\n');
    expect(loaded.some((url) => url.endsWith('/node_modules/sigil/dist/sigil/main.mjs'))).toBe(
      true,
    );
    expect(loaded.filter((url) => /\/node_modules\/sigil\/(src|dist\/cli)\//.test(url))).toEqual(
      [],
    );
    expect(loaded.some((url) => url.includes('/node_modules/better-sqlite3/'))).toBe(true);
    expect(loaded.filter((url) => url.includes('/node_modules/zod/'))).toEqual([]);
  });
});
