/**
 * Opens a data dir's log for a surface that only reads it (`sigil validate`, `sigil log …`): the
 * surface gets the read-only LogReader, never the handle that appends or writes views. The one
 * store maintenance the CLI does without a runtime, `sigil migrate`, is here too.
 */
import { CanonLog, type LogReader } from '../canon/log.ts';

/** Opens the log of `dataDir`, runs `fn` with its read-only view, and always closes the log. */
export async function withLogReader<T>(
  dataDir: string,
  env: NodeJS.ProcessEnv,
  fn: (log: LogReader) => Promise<T>,
): Promise<T> {
  const log = await CanonLog.open({ dataDir, env });
  try {
    return await fn(log);
  } finally {
    await log.close();
  }
}

/** `sigil migrate`: moves the store to the current log format (see CanonLog.migrate). */
export function migrateStore(
  dataDir: string,
  env: NodeJS.ProcessEnv,
): ReturnType<typeof CanonLog.migrate> {
  return CanonLog.migrate({ dataDir, env });
}
