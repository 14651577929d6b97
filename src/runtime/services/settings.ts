/**
 * The effective configuration: the base (mmf.toml and environment) with every committed setting
 * change applied in log order. The sealed `system_config` records are the authority, so every
 * instance on a store converges on the same configuration: before it decides, an instance reads
 * the `system_config` records sealed since it last looked (one indexed query, empty almost
 * always), by whichever instance committed them.
 */
import type { LogReader } from '../../canon/log.ts';
import {
  applySetting,
  isSettingChange,
  parseSettingChange,
  type Config,
} from '../../config/index.ts';
import { LogTail } from '../log-tail.ts';

export class CommittedConfig {
  #current: Config;
  readonly #tail: LogTail;

  constructor(base: Config) {
    this.#current = base;
    this.#tail = new LogTail('system_config', (record) => {
      const change = (record.payload as { change?: unknown } | null)?.change;
      // Only setting changes configure; a model or a system write is another kind of change.
      if (!isSettingChange(change)) return;
      try {
        this.#current = applySetting(this.#current, parseSettingChange(change));
      } catch {
        // Sealed before Sigil checked settings when proposed, and inapplicable: it changed
        // nothing when it was committed, and changes nothing now.
      }
    });
  }

  /** The configuration as of the last refresh. */
  get current(): Config {
    return this.#current;
  }

  /** Applies the changes committed since the last look; true when there was one. */
  refresh(log: LogReader): Promise<boolean> {
    return this.#tail.catchUp(log);
  }
}
