/**
 * The effective configuration: the base (mmf.toml and environment) with every committed setting
 * change applied in log order. The sealed `system_config` records are the authority, so every
 * instance on a store converges on the same configuration: before it decides, an instance reads
 * the `system_config` records sealed since it last looked (one indexed query, empty almost
 * always), by whichever instance committed them. Told what this instance seals (`sealed`), it
 * reads only the head while the log holds nothing else past its cursor (log-tail.ts).
 */
import type { LogReader, SealedRecord } from '../../canon/log.ts';
import {
  applySetting,
  isSettingChange,
  parseSettingChange,
  type Config,
  type SettingChange,
} from '../../config/index.ts';
import { LogTail } from '../log-tail.ts';

/** The setting change a record commits (a parsed copy), or undefined when it commits none. */
function settingChangeOf(record: SealedRecord): SettingChange | undefined {
  const change = (record.payload as { change?: unknown } | null)?.change;
  // Only setting changes configure; a model or a system write is another kind of change.
  if (!isSettingChange(change)) return undefined;
  try {
    return parseSettingChange(change);
  } catch {
    // Sealed before Sigil checked settings when proposed, and inapplicable: it changed
    // nothing when it was committed, and changes nothing now.
    return undefined;
  }
}

export class CommittedConfig {
  #current: Config;
  readonly #tail: LogTail<SettingChange | undefined>;

  constructor(base: Config) {
    this.#current = base;
    this.#tail = new LogTail(
      'system_config',
      (change) => {
        if (change === undefined) return;
        try {
          this.#current = applySetting(this.#current, change);
        } catch {
          // Inapplicable to the configuration as it stands (see settingChangeOf).
        }
      },
      undefined,
      settingChangeOf,
    );
  }

  /** The configuration as of the last refresh. */
  get current(): Config {
    return this.#current;
  }

  /** Applies the changes committed since the last look; true when there was one. */
  refresh(log: LogReader): Promise<boolean> {
    return this.#tail.catchUp(log);
  }

  /** What this instance sealed (CanonLog.onSealed): applied at the next refresh, not read back. */
  sealed(records: readonly SealedRecord[]): void {
    this.#tail.sealed(records);
  }
}
