/**
 * The CLI starts fast because `sigil <command>` loads only that command's module: the command
 * index must list exactly what the modules register, and a run must not load what it does not use.
 */
import { Command, Help } from 'commander';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { commandModules, commandName } from '../../src/cli/commands/index.ts';
import { buildProgram, invokedCommand, withHelpSpelledOut } from '../../src/cli/program.ts';
import { sigil } from './sigil-process.ts';

const BIN = join(process.cwd(), 'bin/sigil');
const RECORD_IMPORTS = pathToFileURL(join(process.cwd(), 'test/fixtures/imports/record.mjs')).href;
const work = mkdtempSync(join(tmpdir(), 'sigil-startup-'));

afterAll(() => rmSync(work, { recursive: true, force: true }));

const BUNDLE = join(process.cwd(), 'dist/sigil');

/**
 * The source modules behind a loaded URL: a file of the CLI bundle (scripts/build-cli.mjs)
 * stands for the modules its meta.json lists, as URLs in the checkout; any other URL for itself.
 */
function sourcesOf(url: string): string[] {
  const bundled = pathToFileURL(`${BUNDLE}/`).href;
  if (!url.startsWith(bundled)) return [url];
  const meta = JSON.parse(readFileSync(join(BUNDLE, 'meta.json'), 'utf8')) as Record<
    string,
    string[]
  >;
  const inputs = meta[url.slice(bundled.length)];
  if (inputs === undefined) throw new Error(`${url} is not in the bundle's meta.json`);
  return inputs.map((input) => pathToFileURL(join(process.cwd(), input)).href);
}

/** Runs `sigil args…` and returns the URLs of the source modules the process loaded. */
function loadedBy(args: string[]): Promise<{ code: number; loaded: string[] }> {
  const log = join(work, `${args.join('_').replace(/[^a-z0-9_-]/gi, '')}.loaded`);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', RECORD_IMPORTS, BIN, ...args],
      {
        env: { PATH: process.env.PATH, SIGIL_LOADED_LOG: log, SIGIL_DATA_DIR: join(work, 'none') },
        encoding: 'utf8',
      },
      (err) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        const urls = readFileSync(log, 'utf8').trim().split('\n');
        resolve({ code, loaded: [...new Set(urls.flatMap(sourcesOf))] });
      },
    );
  });
}

const matching = (urls: string[], re: RegExp) => urls.filter((url) => re.test(url));

describe('the command index', () => {
  it('lists each module’s commands with the terms and descriptions the module registers', async () => {
    const help = new Help();
    for (const module of commandModules) {
      const program = new Command('sigil');
      (await module.load())(program);
      const registered = program.commands.map((c) => [help.subcommandTerm(c), c.description()]);
      expect(registered).toEqual(module.commands.map(([term, description]) => [term, description]));
    }
  });

  it('gives the full program’s help without loading a command module', async () => {
    const names = commandModules.flatMap((m) => m.commands.map(([term]) => commandName(term)));
    expect(new Set(names).size).toBe(names.length);
    const full = new Command('sigil');
    for (const module of commandModules) (await module.load())(full);
    const help = new Help();
    const stand = await buildProgram(['--help']);
    const listed = stand.commands.map((c) => [
      stand.createHelp().subcommandTerm(c),
      c.description(),
    ]);
    expect(listed).toEqual(full.commands.map((c) => [help.subcommandTerm(c), c.description()]));
  });

  it('gives every command --data-dir and --json, as the README says, but the documented few', async () => {
    const program = new Command('sigil');
    for (const module of commandModules) (await module.load())(program);
    const leaves: Array<[string, Command]> = [];
    const walk = (cmd: Command, path: string): void => {
      if (cmd.commands.length === 0) leaves.push([path, cmd]);
      for (const sub of cmd.commands) walk(sub, `${path} ${sub.name()}`.trim());
    };
    walk(program, '');
    const lacking = (flag: string) =>
      leaves.filter(([, cmd]) => !cmd.options.some((o) => o.long === flag)).map(([p]) => p);
    expect(lacking('--data-dir')).toEqual([
      'trust fit',
      'log verify-proof',
      'log verify-tiles',
      'log monitor',
      'log witnesses',
    ]);
    expect(lacking('--json')).toEqual(['gateway']);
  });

  it('finds the invoked command after root options', () => {
    expect(invokedCommand(['whoami', '--token', 't'])).toBe('whoami');
    expect(invokedCommand(['--data-dir', 'whoami', '--json', 'token', 'list'])).toBe('token');
    expect(invokedCommand(['--data-dir=d', 'log', 'prove'])).toBe('log');
    expect(invokedCommand(['--version'])).toBeUndefined();
    expect(invokedCommand([])).toBeUndefined();
  });

  it('reads `help <command> [subcommand]` as the command’s own --help', () => {
    expect(withHelpSpelledOut(['help', 'token', 'create'])).toEqual(['token', 'create', '--help']);
    expect(withHelpSpelledOut(['--data-dir', 'd', 'help', 'whoami'])).toEqual([
      '--data-dir',
      'd',
      'whoami',
      '--help',
    ]);
    expect(withHelpSpelledOut(['help'])).toEqual(['--help']);
    expect(withHelpSpelledOut(['help', 'help'])).toEqual(['--help']);
    expect(withHelpSpelledOut(['token', 'help'])).toEqual(['token', 'help']);
  });
});

describe('sigil help', () => {
  it('prints a command’s options and a subcommand’s, as --help does', async () => {
    const [whoami, whoamiFlag, create, createFlag, bare] = await Promise.all([
      sigil(['help', 'whoami']),
      sigil(['whoami', '--help']),
      sigil(['help', 'token', 'create']),
      sigil(['token', 'create', '--help']),
      sigil(['help']),
    ]);
    for (const run of [whoami, create, bare]) expect(run.code, run.stderr).toBe(0);
    expect(whoami.stdout).toMatch(/^Usage: sigil whoami \[options\]/);
    expect(whoami.stdout).toMatch(/--license <file>/);
    expect(whoami.stdout).toBe(whoamiFlag.stdout);
    expect(create.stdout).toMatch(/^Usage: sigil token create \[options\]/);
    expect(create.stdout).toMatch(/--subject <did>/);
    expect(create.stdout).toBe(createFlag.stdout);
    expect(bare.stdout).toMatch(/^Usage: sigil \[options\] \[command\]/);
    expect(bare.stdout).toMatch(/^ {2}help \[command\] /m);
  });

  it('refuses help for a command that does not exist (exit 2)', async () => {
    const [help, flag] = await Promise.all([
      sigil(['help', 'nosuch']),
      sigil(['nosuch', '--help']),
    ]);
    for (const run of [help, flag]) {
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/^error: unknown command 'nosuch'/);
      expect(run.stdout).toBe('');
    }
  });
});

describe('sigil start-up', () => {
  // What --version and --help must not touch: the runtime, the log, servers, their libraries.
  const HEAVY =
    /\/(src|dist)\/(runtime|canon|http|mcp|policy|gatekeeper|quorum|config)\/|\/node_modules\/(zod|better-sqlite3|pg|fastify|@fastify|@modelcontextprotocol|smol-toml|cborg)\//;

  it('the bundle’s meta.json names the source modules of each of its files', () => {
    if (!existsSync(join(BUNDLE, 'main.mjs'))) return; // a checkout that has not run `prepare`
    const meta = JSON.parse(readFileSync(join(BUNDLE, 'meta.json'), 'utf8')) as Record<
      string,
      string[]
    >;
    expect(meta['main.mjs']).toContain('src/cli/program.ts');
    expect(Object.values(meta).flat()).toContain('src/cli/commands/whoami.ts');
  });

  it('--version and --help load no runtime, store, server or schema library', async () => {
    for (const args of [['--version'], ['--help']]) {
      const run = await loadedBy(args);
      expect(run.code, args.join(' ')).toBe(0);
      expect(run.loaded.some((url) => /\/cli\/program\.(ts|js)$/.test(url))).toBe(true);
      expect(matching(run.loaded, HEAVY), args.join(' ')).toEqual([]);
    }
  });

  it('whoami loads the runtime but no HTTP server, MCP gateway or other command', async () => {
    const run = await loadedBy(['whoami', '--token', 'sgl_not_a_token']);
    expect(run.code).toBe(3); // the data dir does not exist
    expect(matching(run.loaded, /\/(src|dist)\/runtime\/runtime\.(ts|js)$/)).toHaveLength(1);
    expect(
      matching(
        run.loaded,
        /\/(src|dist)\/(http|mcp)\/|\/node_modules\/(fastify|@fastify|@modelcontextprotocol)\/|\/cli\/commands\/(?!whoami|status|index)/,
      ),
    ).toEqual([]);
  });
});
