/** The trust model in force: the default, or the latest one committed through the quorum. */
import type { JsonValue } from '../../core/canonical.ts';
import { DEFAULT_TRUST_MODEL, parseTrustModel, type TrustModel } from '../../policy/index.ts';
import type { Proposal } from '../../quorum/index.ts';
import { asJson, forEachRecordOfKind, type RuntimeCore } from '../core.ts';
import type { Caller } from '../decide.ts';
import { modelHash } from '../frozen.ts';

/**
 * The model of the newest `system_config` record that carries one, read from the log itself (a
 * sealed, quorum-signed record), with that record's id; undefined for the default.
 */
export async function committedModel(
  core: RuntimeCore,
): Promise<{ model: TrustModel; source: string } | undefined> {
  let latest: { model: unknown; source: string } | undefined;
  await forEachRecordOfKind(core, 'system_config', (record) => {
    const change = (record.payload as { change?: { model?: unknown } } | null)?.change;
    if (change?.model) latest = { model: change.model, source: record.id };
  });
  return latest && { model: parseTrustModel(latest.model), source: latest.source };
}

/** The model the decision pipeline scores with, and every model seen (for replaying decisions). */
export class ModelInForce {
  current: TrustModel = DEFAULT_TRUST_MODEL;
  source = 'default';
  readonly byHash = new Map<string, TrustModel>();

  /** Puts the latest committed model in force. */
  async load(core: RuntimeCore): Promise<void> {
    const committed = await committedModel(core);
    if (!committed) return;
    this.current = committed.model;
    this.byHash.set(modelHash(committed.model), committed.model);
    this.source = committed.source;
  }
}

/** The model room (`runtime.model`): proposing a new trust model and putting it in force. */
export function modelService(
  core: RuntimeCore,
  inForce: ModelInForce,
  quorum: { propose(caller: Caller, change: JsonValue): Promise<Proposal> },
) {
  return {
    /** A new trust model is a system change: it becomes a proposal. */
    upload: (caller: Caller, model: unknown): Promise<Proposal> =>
      quorum.propose(caller, { model: asJson(parseTrustModel(model)) }),
    /** Puts the latest committed trust model in force. */
    refresh: async (caller: Caller): Promise<{ model: TrustModel; source: string }> => {
      await core.require(caller, { action: 'model.upload', target: 'model/refresh' });
      await inForce.load(core);
      return { model: inForce.current, source: inForce.source };
    },
  };
}
export type ModelService = ReturnType<typeof modelService>;
