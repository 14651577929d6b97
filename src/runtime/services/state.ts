/** The state room (`runtime.state`): maintenance of the views the log projects. */
import type { RuntimeCore } from '../core.ts';
import type { Caller } from '../decide.ts';

export function stateService(core: RuntimeCore) {
  return {
    /**
     * `state rebuild` (Root, explicit, never automatic): replaces every view row with the
     * projection of the log, e.g. after restoring a backup or once `validate` named bad rows.
     */
    rebuild: async (
      caller: Caller,
    ): Promise<{ rows: number; size: number; decision_id: string }> => {
      const d = await core.require(caller, { action: 'state.rebuild', target: 'state/views' });
      return { ...(await core.log.rebuildViews()), decision_id: d.decision_id };
    },
  };
}
export type StateService = ReturnType<typeof stateService>;
