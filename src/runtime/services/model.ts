/** The trust model in force: the default, or the latest one committed through the quorum. */
import { parseTrustModel, type TrustModel } from '../../policy/index.ts';
import { NS, type RuntimeCore } from '../core.ts';

/** The committed model and the id of its `system_config` record, or undefined for the default. */
export async function committedModel(
  core: RuntimeCore,
): Promise<{ model: TrustModel; source: string } | undefined> {
  const pointer = (await core.log.state.get(NS.runtime, 'model')) as
    { record_id?: string } | undefined;
  if (!pointer?.record_id) return undefined;
  const record = await core.log.get(pointer.record_id);
  const change = (record?.payload as { change?: { model?: unknown } } | undefined)?.change;
  if (!change?.model) return undefined;
  return { model: parseTrustModel(change.model), source: pointer.record_id };
}
