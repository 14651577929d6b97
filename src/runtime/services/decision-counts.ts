/**
 * Decision counts for `trust status`, from the log: every sealed `decision` record, by verdict
 * and by enforcement mode, whichever instance sealed it. The same numbers from the CLI, from any
 * server instance and after a restart; each call reads only the decisions sealed since the last.
 */
import type { LogReader } from '../../canon/log.ts';
import { LogTail } from '../log-tail.ts';
import type { DecisionPayload } from '../frozen.ts';

export interface DecisionCountsView {
  allow: number;
  deny: number;
  by_mode: Record<string, number>;
}

export class DecisionCounts {
  readonly #counts: DecisionCountsView = { allow: 0, deny: 0, by_mode: {} };
  readonly #tail = new LogTail('decision', (record) => {
    const { verdict, mode } = (record.payload as unknown as DecisionPayload).decision;
    this.#counts[verdict] += 1;
    this.#counts.by_mode[mode] = (this.#counts.by_mode[mode] ?? 0) + 1;
  });

  /** The counts over the whole log as it is now. */
  async read(log: LogReader): Promise<DecisionCountsView> {
    await this.#tail.catchUp(log);
    return { ...this.#counts, by_mode: { ...this.#counts.by_mode } };
  }
}
