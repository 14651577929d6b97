import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { EXIT, reportError } from './output.ts';
import { commandModules } from './commands/index.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** Builds the `sigil` program; each command module registers its own subcommands. */
export function buildProgram(): Command {
  const program = new Command('sigil')
    .description('Sigil: govern what AI agents may do and prove afterwards what they did.')
    .version(pkg.version, '-V, --version')
    .showHelpAfterError()
    .exitOverride();
  for (const register of commandModules) register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
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

await main(process.argv);
