import { SigilError } from '../core/errors.ts';

/** Exit codes documented in the README: 0 ok, 1 verification failed or denied, 2 usage, 3 store. */
export const EXIT = { ok: 0, failed: 1, usage: 2, store: 3 } as const;

/** Options every command accepts. */
export interface GlobalOptions {
  dataDir?: string;
  json?: boolean;
}

/** Prints a command's result: `json` as one JSON document with --json, else the human text. */
export function printResult(opts: GlobalOptions, human: string, json: unknown): void {
  process.stdout.write(opts.json ? `${JSON.stringify(json, null, 2)}\n` : `${human}\n`);
}

const USAGE_CODES = new Set([
  'bad_request',
  'usage',
  'invalid_did',
  'invalid_encoding',
  'config_invalid',
]);
const STORE_CODES = new Set(['store_error', 'store_exists', 'store_missing', 'master_key_invalid']);

/** Maps an error to its exit code. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof SigilError) {
    if (USAGE_CODES.has(err.code)) return EXIT.usage;
    if (STORE_CODES.has(err.code)) return EXIT.store;
    return EXIT.failed;
  }
  return EXIT.store;
}

/** Reports an error as one line on stderr (never a stack trace) and sets the exit code. */
export function reportError(err: unknown): void {
  const line =
    err instanceof SigilError
      ? `sigil: ${err.code}: ${err.message}`
      : `sigil: internal: ${err instanceof Error ? err.message : String(err)}`;
  process.stderr.write(`${line}\n`);
  process.exitCode = exitCodeFor(err);
}

/** `1 record`, `2 records`: a count with its noun in the right number. */
export function counted(n: number, noun: string): string {
  return `${n} ${n === 1 ? noun : `${noun}s`}`;
}
