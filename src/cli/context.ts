/** Shared plumbing for commands that work on the canon log: the data dir and opening the log. */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SigilError } from '../core/errors.ts';
import type { LogReader } from '../canon/log.ts';
import type { GlobalOptions } from './output.ts';

/** Adds the options every log command takes: --data-dir and --json. */
export function withLogOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'data directory (default: $SIGIL_DATA_DIR or ./.sigil)')
    .option('--json', 'print the result as JSON');
}

/** The data dir: --data-dir, else SIGIL_DATA_DIR, else ./.sigil. */
export function dataDirOf(opts: GlobalOptions): string {
  return resolve(opts.dataDir ?? process.env.SIGIL_DATA_DIR ?? '.sigil');
}

/** Opens the log read-only for a command, runs `fn`, and always closes the log. */
export async function withLog<T>(
  opts: GlobalOptions,
  fn: (log: LogReader) => Promise<T>,
): Promise<T> {
  // Loaded here, not at the top: commands that never open the log start without the store.
  const { withLogReader } = await import('../runtime/log-reader.ts');
  return withLogReader(dataDirOf(opts), process.env, fn);
}

/** Parses a non-negative integer option; 'bad_request' (exit 2) otherwise. */
export function intOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(value)) {
    throw new SigilError('bad_request', `${name} must be a non-negative integer, not ${value}`);
  }
  return Number(value);
}

/** The text of a file the user named; 'bad_request' (exit 2) when it cannot be read. */
export function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new SigilError(
      'bad_request',
      `cannot read the ${what} file ${file}: ${(err as Error).message}`,
    );
  }
}

/** A checkpoint file holds the note itself or the JSON printed by `sigil log checkpoint --json`. */
export function noteOf(file: string): string {
  const text = readText(file, 'checkpoint');
  if (!text.trimStart().startsWith('{')) return text.endsWith('\n') ? text : `${text}\n`;
  try {
    const note = (JSON.parse(text) as { note?: unknown }).note;
    if (typeof note === 'string') return note;
  } catch {
    // fall through
  }
  throw new SigilError('bad_request', `the checkpoint file ${file} holds no note`);
}
