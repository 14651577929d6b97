import type { Command } from 'commander';

/** Every command module; each adds its subcommands to the program. */
export const commandModules: Array<(program: Command) => void> = [];
