/**
 * Pinned tool definitions (the rug-pull defence): the hash of each upstream tool's definition
 * as first seen, or as a human last approved it, sealed as a `governance_event` and read back
 * from its view row. A changed definition waits for a human's approval through the approvals
 * room; only then is the new hash pinned.
 */
import { asJson, refuseMissingRow, type RuntimeCore } from '../core.ts';
import { VIEWS } from '../view-ns.ts';

export interface ToolPin {
  /** `<upstream identity> <tool>`. */
  key: string;
  upstream: string;
  tool: string;
  /** Hex SHA-256 of the canonical definition (name, description, input schema, annotations). */
  hash: string;
  /** The approval that accepted this definition; null when pinned at first sight. */
  approval_id: string | null;
}

/** The tool pins room (`runtime.toolPins`). */
export function toolPinsService(core: RuntimeCore) {
  return {
    get: async (key: string): Promise<ToolPin | undefined> => {
      const pin = await VIEWS.toolPins.get(core.log.views, key);
      if (pin !== undefined) return pin;
      // A deleted pin must not be pinned again at first sight (the rug pull it guards).
      await refuseMissingRow(core, 'governance_event', VIEWS.toolPins.name, key);
      return undefined;
    },
    list: async (): Promise<ToolPin[]> =>
      (await VIEWS.toolPins.list(core.log.views)).map((r) => r.value),
    pin: async (pin: ToolPin): Promise<void> => {
      await core.append('governance_event', { event: 'tool_pinned', pin: asJson(pin) });
    },
  };
}
export type ToolPinsService = ReturnType<typeof toolPinsService>;
