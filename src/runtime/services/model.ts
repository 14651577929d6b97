/** The trust model in force: the default, or the latest one committed through the quorum. */
import { parseTrustModel, type TrustModel } from '../../policy/index.ts';
import type { RuntimeCore } from '../core.ts';

/**
 * The model of the newest `system_config` record that carries one, read from the log itself (a
 * sealed, quorum-signed record), with that record's id; undefined for the default.
 */
export async function committedModel(
  core: RuntimeCore,
): Promise<{ model: TrustModel; source: string } | undefined> {
  let latest: { model: unknown; source: string } | undefined;
  let cursor: string | undefined;
  do {
    const page = await core.log.list({
      kind: 'system_config',
      limit: 1000,
      ...(cursor !== undefined && { cursor }),
    });
    for (const record of page.records) {
      const change = (record.payload as { change?: { model?: unknown } } | null)?.change;
      if (change?.model) latest = { model: change.model, source: record.id };
    }
    cursor = page.cursor;
  } while (cursor !== undefined);
  return latest && { model: parseTrustModel(latest.model), source: latest.source };
}
