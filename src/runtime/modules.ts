/**
 * The module registry: named handlers an Operator+ may run through `module.run`. Each module
 * gets its input and a read-only view of the runtime; what it returns is the module's output.
 */
import type { JsonValue } from '../core/canonical.ts';

export interface ModuleContext {
  logSize(): Promise<number>;
  latestCheckpoint(): Promise<string | undefined>;
}

export interface SigilModule {
  name: string;
  description: string;
  run(input: JsonValue, ctx: ModuleContext): Promise<JsonValue>;
}

const echo: SigilModule = {
  name: 'echo',
  description: 'returns its input unchanged',
  run: (input) => Promise.resolve(input),
};

const canonStats: SigilModule = {
  name: 'canon-stats',
  description: 'the log size and its latest signed checkpoint',
  async run(_input, ctx) {
    const [size, checkpoint] = await Promise.all([ctx.logSize(), ctx.latestCheckpoint()]);
    return { log_size: size, checkpoint: checkpoint ?? null };
  },
};

/** The built-in modules, by name. */
export function builtinModules(): ReadonlyMap<string, SigilModule> {
  return new Map([echo, canonStats].map((m) => [m.name, m]));
}
