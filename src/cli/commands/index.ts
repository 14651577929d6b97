import type { Command } from 'commander';
import { registerApprove } from './approve.ts';
import { registerCanon } from './canon.ts';
import { registerConsent } from './consent.ts';
import { registerGateway } from './gateway.ts';
import { registerInit } from './init.ts';
import { registerKeypair } from './keypair.ts';
import { registerKeys } from './keys.ts';
import { registerLicense } from './license.ts';
import { registerLog } from './log.ts';
import { registerQuorum } from './quorum.ts';
import { registerServe } from './serve.ts';
import { registerState } from './state.ts';
import { registerStatus } from './status.ts';
import { registerToken } from './token.ts';
import { registerTrust } from './trust.ts';
import { registerValidate } from './validate.ts';
import { registerWhoami } from './whoami.ts';

/** Every command module; each adds its subcommands to the program. */
export const commandModules: Array<(program: Command) => void> = [
  registerInit,
  registerServe,
  registerWhoami,
  registerToken,
  registerLicense,
  registerTrust,
  registerConsent,
  registerCanon,
  registerValidate,
  registerState,
  registerLog,
  registerQuorum,
  registerKeypair,
  registerKeys,
  registerGateway,
  registerApprove,
  registerStatus,
];
