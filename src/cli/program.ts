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

/** Where in `args` (argv without node and script) the invoked command is: the first operand. */
function commandIndex(args: readonly string[]): number {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return -1;
    if (ROOT_OPTIONS_WITH_VALUE.has(arg)) i++;
    else if (!arg.startsWith('-')) return i;
  }
  return -1;
}

/** The command `args` (argv without node and script) runs: its first operand. */
export function invokedCommand(args: readonly string[]): string | undefined {
  const at = commandIndex(args);
  return at < 0 ? undefined : args[at];
}

/**
 * `sigil help <command> [subcommand]` means `sigil <command> [subcommand] --help`, so the help
 * comes from the command's own module (and reaches subcommands, which commander's help does not).
 */
export function withHelpSpelledOut(args: readonly string[]): string[] {
  const at = commandIndex(args);
  if (at < 0 || args[at] !== 'help') return [...args];
  const rest = withHelpSpelledOut([...args.slice(0, at), ...args.slice(at + 1)]);
  return rest.includes('--help') ? rest : [...rest, '--help'];
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
    // Listed in the help; main() rewrites `sigil help …` before commander parses it.
    .helpCommand('help [command]', 'display help for a command (`sigil help token create`)')
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
    const args = withHelpSpelledOut(argv.slice(2));
    const program = await buildProgram(args);
    const invoked = invokedCommand(args);
    // Before parsing: commander would answer `sigil nosuch --help` with the program's help.
    if (invoked !== undefined && !program.commands.some((c) => c.name() === invoked)) {
      program.error(`error: unknown command '${invoked}'`);
    }
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; everything else commander rejects is a usage error.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    reportError(err);
  }
}
