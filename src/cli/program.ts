/** The `sigil` program: which command modules to load for an invocation, and running it. */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Help } from 'commander';
import { EXIT, reportError } from './output.ts';
import { commandModules, commandName } from './commands/index.ts';
import { registerStatus } from './commands/status.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** Root options that take a value, so the word after them is not the command name. */
const ROOT_OPTIONS_WITH_VALUE = new Set(['--data-dir']);

/** The command `args` (argv without node and script) runs: its first operand. */
export function invokedCommand(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return undefined;
    if (ROOT_OPTIONS_WITH_VALUE.has(arg)) i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

/**
 * Builds the `sigil` program. The module of the invoked command registers it in full; every other
 * command is a stand-in with its name and description, enough for the help and the command list.
 */
export async function buildProgram(args: readonly string[]): Promise<Command> {
  const invoked = invokedCommand(args);
  const terms = new Map<Command, string>();
  const program = new Command('sigil')
    .description('Sigil: govern what AI agents may do and prove afterwards what they did.')
    .version(pkg.version, '-V, --version')
    .showHelpAfterError()
    .exitOverride()
    .configureHelp({
      subcommandTerm: (cmd) => terms.get(cmd) ?? new Help().subcommandTerm(cmd),
    });
  for (const module of commandModules) {
    if (module.commands.some(([term]) => commandName(term) === invoked)) {
      (await module.load())(program);
      continue;
    }
    for (const [term, description] of module.commands) {
      terms.set(program.command(commandName(term)).description(description), term);
    }
  }
  registerStatus(program);
  return program;
}

/** Runs `sigil` for `argv` (node, script, args…), setting the exit code. */
export async function main(argv: string[]): Promise<void> {
  // `sigil --help | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(EXIT.ok);
  });
  try {
    const program = await buildProgram(argv.slice(2));
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; everything else commander rejects is a usage error.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    reportError(err);
  }
}
