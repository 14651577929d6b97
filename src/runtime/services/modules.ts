/** The modules room (`runtime.modules`): listing the registry and running a module (Operator+). */
import type { JsonValue } from '../../core/canonical.ts';
import { SigilError } from '../../core/errors.ts';
import type { RuntimeCore } from '../core.ts';
import type { Caller } from '../decide.ts';
import type { SigilModule } from '../modules.ts';

/**
 * `refusal(name)` says why a module may not run now (its required attestation fails the [tee]
 * policy), or null: the refusal is part of the run's decision, so it is sealed as its denial.
 */
export function modulesService(
  core: RuntimeCore,
  registry: ReadonlyMap<string, SigilModule>,
  refusal: (name: string) => { code: string; reason: string } | null,
) {
  return {
    list: (): string[] => [...registry.keys()].sort(),
    run: async (
      caller: Caller,
      name: string,
      input: JsonValue,
    ): Promise<{ module: string; output: JsonValue; decision_id: string }> => {
      const module = registry.get(name);
      if (!module) throw new SigilError('module_not_found', `no module named ${name}`);
      const refused = refusal(name);
      const d = await core.require(caller, {
        action: 'module.run',
        target: `modules/${name}`,
        payload: input,
        ...(refused ? { policy: { rule: null, refusal: refused } } : {}),
      });
      const output = await module.run(input, {
        logSize: () => core.log.size(),
        latestCheckpoint: () => core.log.latestCheckpoint(),
      });
      return { module: name, output, decision_id: d.decision_id };
    },
  };
}
export type ModulesService = ReturnType<typeof modulesService>;
