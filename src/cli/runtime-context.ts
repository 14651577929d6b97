/** Shared plumbing for commands that go through the runtime: opening it and naming the caller. */
import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { SigilError } from '../core/errors.ts';
import { parseLoa, type Loa } from '../policy/index.ts';
import { SigilRuntime, type Caller } from '../runtime/index.ts';
import { dataDirOf } from './context.ts';
import type { GlobalOptions } from './output.ts';

/** Options of commands that act as a caller: an API token, else the runtime's own license. */
export interface CallerOptions extends GlobalOptions {
  token?: string;
}

/** Adds --token to a command (default: $SIGIL_TOKEN, else the runtime's license). */
export function withTokenOption(cmd: Command): Command {
  return cmd.option(
    '--token <token>',
    'act as this API token (default: $SIGIL_TOKEN, else the license in the data dir)',
  );
}

/** Loads the configuration for the command's data dir and opens the runtime. */
async function openRuntime(opts: GlobalOptions): Promise<SigilRuntime> {
  const config = loadConfig({ env: process.env, dataDir: dataDirOf(opts) });
  return SigilRuntime.open({ config, env: process.env });
}

/** Opens the runtime, runs `fn`, and always closes the runtime (final checkpoint included). */
export async function withRuntime<T>(
  opts: GlobalOptions,
  fn: (runtime: SigilRuntime) => Promise<T>,
): Promise<T> {
  const runtime = await openRuntime(opts);
  try {
    return await fn(runtime);
  } finally {
    await runtime.close();
  }
}

/**
 * Who a command acts as: `--token` or $SIGIL_TOKEN when given (a bad one is 'token_invalid',
 * never a silent fallback); otherwise the holder of the runtime's license, a human at the
 * license's level. Without a valid license the caller is unverified at the runtime's default
 * level (MMF_TRUST_DEFAULT_LOA), never higher.
 */
export async function callerFor(runtime: SigilRuntime, opts: CallerOptions): Promise<Caller> {
  const token = opts.token ?? process.env.SIGIL_TOKEN;
  if (token !== undefined && token !== '') return runtime.tokens.authenticate(token);
  return runtime.licenseCaller();
}

/** A level of access from a command-line flag, any case ('bad_request', exit 2, otherwise). */
export function cliLoa(text: string): Loa {
  try {
    return parseLoa(text);
  } catch {
    throw new SigilError('bad_request', `not a level of access: ${text} (guest … root)`);
  }
}

/** An RFC 3339 time for printing, from epoch ms or a time string. */
export function timeText(value: number | string): string {
  return typeof value === 'number' ? new Date(value).toISOString() : value;
}
