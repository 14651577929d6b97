/**
 * Bare `sigil` (the seed's `run`): validates the license, prints the runtime's LOA and why,
 * the store and log state, then the commands. An uninitialised data dir is reported, not an error.
 */
import type { Command } from 'commander';
import { isSigilError } from '../../core/errors.ts';
import type { wireIdentity } from '../../runtime/wire.ts';
import { dataDirOf, withLogOptions } from '../context.ts';
import { counted, printResult, type GlobalOptions } from '../output.ts';

interface RuntimeState {
  initialised: true;
  data_dir: string;
  loa: string;
  license: ReturnType<typeof wireIdentity> & { license_path: string; valid: boolean };
  backend: string;
  log: {
    id: string;
    size: number;
    verifier_key: string;
    checkpoint: { size: number; root_hash: string; timestamp: string } | null;
  };
}

function commandList(program: Command): Array<{ name: string; description: string }> {
  return program.commands.map((c) => ({ name: c.name(), description: c.description() }));
}

function commandsText(commands: Array<{ name: string; description: string }>): string {
  const width = Math.max(0, ...commands.map((c) => c.name.length));
  return [
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.description}`),
    '',
    'Run `sigil <command> --help` for its options and an example.',
    'Exit codes: 0 ok, 1 denied or verification failed, 2 usage error, 3 store error.',
  ].join('\n');
}

function licenseText(id: RuntimeState['license']): string[] {
  if (id.source === 'license') {
    return [
      `license:  valid: ${id.subject} (${id.loa}), expires ${id.expires_at ?? 'never'}`,
      `          ${id.license_path}`,
      `LOA:      ${id.loa} (from the license)`,
    ];
  }
  return [
    `license:  not valid: ${id.reason}`,
    `          ${id.license_path}`,
    `LOA:      ${id.loa} (MMF_TRUST_DEFAULT_LOA, because the license is not valid: ${id.reason})`,
  ];
}

function stateText(s: RuntimeState): string {
  const cp = s.log.checkpoint;
  return [
    `Sigil runtime in ${s.data_dir}`,
    ...licenseText(s.license),
    `store:    ${s.backend}`,
    `log:      ${s.log.id}, ${counted(s.log.size, 'record')}`,
    `verifier key: ${s.log.verifier_key}`,
    cp === null
      ? 'checkpoint: none yet'
      : `checkpoint: size ${cp.size}, root_hash ${cp.root_hash}, at ${cp.timestamp}`,
  ].join('\n');
}

async function readState(opts: GlobalOptions): Promise<RuntimeState> {
  // Loaded here, not at the top: `sigil --help` and `--version` start without the runtime.
  const { withRuntime } = await import('../runtime-context.ts');
  const { wireIdentity } = await import('../../runtime/wire.ts');
  return withRuntime(opts, async (runtime) => {
    const identity = runtime.identity();
    const checkpoints = await runtime.log.checkpoints();
    const latest = checkpoints[checkpoints.length - 1];
    return {
      initialised: true,
      data_dir: runtime.config.dataDir,
      loa: identity.loa,
      license: {
        ...wireIdentity(identity),
        license_path: identity.licensePath,
        valid: identity.source === 'license',
      },
      backend: runtime.log.backend,
      log: {
        id: runtime.log.logId,
        size: await runtime.log.size(),
        verifier_key: runtime.log.verifierKey,
        checkpoint:
          latest === undefined
            ? null
            : { size: latest.size, root_hash: latest.root, timestamp: latest.ts },
      },
    };
  });
}

/** `sigil --data-dir D --json <command>` means the same as `sigil <command> --data-dir D --json`. */
function inheritRootOptions(program: Command, command: Command): void {
  for (const key of ['dataDir', 'json']) {
    const value: unknown = program.getOptionValue(key);
    const own = command.options.some((o) => o.attributeName() === key);
    if (
      command !== program &&
      own &&
      value !== undefined &&
      command.getOptionValue(key) === undefined
    ) {
      command.setOptionValue(key, value);
    }
  }
}

/**
 * Makes bare `sigil` report the runtime's state. Root options are read before the command
 * name only, and handed down to the command.
 */
export function registerStatus(program: Command): void {
  withLogOptions(program.enablePositionalOptions().allowExcessArguments())
    .hook('preAction', (root, command) => inheritRootOptions(root, command))
    .addHelpText(
      'after',
      '\nRun `sigil` alone for the runtime state: license, LOA, store, log.\n' +
        'Exit codes: 0 ok, 1 denied or verification failed, 2 usage error, 3 store error.',
    )
    .action(async (opts: GlobalOptions, cmd: Command) => {
      if (cmd.args.length > 0) cmd.error(`error: unknown command '${cmd.args[0]}'`);
      const commands = commandList(program);
      let state: RuntimeState;
      try {
        state = await readState(opts);
      } catch (err) {
        if (!isSigilError(err, 'store_missing')) throw err;
        const dataDir = dataDirOf(opts);
        printResult(
          opts,
          `No Sigil data dir is initialised at ${dataDir}.\n` +
            `Create one with: sigil init --data-dir ${dataDir}\n\n${commandsText(commands)}`,
          { initialised: false, data_dir: dataDir, hint: 'sigil init', commands },
        );
        return;
      }
      printResult(opts, `${stateText(state)}\n\n${commandsText(commands)}`, { ...state, commands });
    });
}
