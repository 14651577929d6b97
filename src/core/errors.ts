/**
 * The one error type of the project. `code` is a stable string that callers,
 * HTTP problem bodies and CLI exit paths rely on; `message` is for people.
 */
export class SigilError extends Error {
  override readonly name = 'SigilError';
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

/** True when `err` is a SigilError, optionally with the given code. */
export function isSigilError(err: unknown, code?: string): err is SigilError {
  return err instanceof SigilError && (code === undefined || err.code === code);
}
