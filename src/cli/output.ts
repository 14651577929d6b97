import { SigilError, errorContract } from '../core/errors.ts';

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

/** Maps an error to its exit code, from the one registry (src/core/errors.ts). */
export function exitCodeFor(err: unknown): number {
  return err instanceof SigilError ? errorContract(err.code).exit : EXIT.store;
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
