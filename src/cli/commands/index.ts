import type { Command } from 'commander';
import { registerCanon } from './canon.ts';
import { registerInit } from './init.ts';
import { registerKeys } from './keys.ts';
import { registerLog } from './log.ts';
import { registerValidate } from './validate.ts';

/** Every command module; each adds its subcommands to the program. */
export const commandModules: Array<(program: Command) => void> = [
  registerInit,
  registerCanon,
  registerValidate,
  registerLog,
  registerKeys,
];
