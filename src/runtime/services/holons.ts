/**
 * Holons: governed processes whose every step the kernel adjudicates (a `kernel_verdict`
 * record), and which a human Root can suspend or terminate at any time. Every transition is a
 * `holon_event` record.
 */
import type { JsonValue } from '../../core/canonical.ts';
import { SigilError } from '../../core/errors.ts';
import {
  halt as haltHolonState,
  spawnHolon as newHolon,
  step as stepHolonState,
  type Holon,
  type Kernel,
} from '../../gatekeeper/index.ts';
import { asJson, checkId, type RuntimeCore } from '../core.ts';
import { VIEWS } from '../view-ns.ts';
import type { Caller } from '../decide.ts';

async function loadHolon(core: RuntimeCore, id: string): Promise<Holon> {
  const h = await VIEWS.holons.get(core.log.views, checkId(id, 'holon id'));
  if (!h) throw new SigilError('holon_not_found', `no holon with id ${id}`);
  return {
    ...newHolon({ id: h.id, capabilities: h.capabilities, program: h.program }),
    state: h.state,
    last_output: h.last_output,
  };
}

/**
 * The holon_event records of an update, sealed together with whatever precedes them (the
 * kernel verdict). Each carries the holon after the update (`holon_state`, its view row); an
 * update without a transition still makes one record, so no state changes unrecorded.
 */
function holonEvents(
  holon: Holon,
  transitions: readonly unknown[],
  by: string,
): Array<{ kind: 'holon_event'; payload: JsonValue }> {
  const events = transitions.length > 0 ? transitions : [{ holon: holon.id, event: 'updated', by }];
  return events.map((t) => ({
    kind: 'holon_event',
    payload: asJson({ ...(t as object), holon_state: holon }),
  }));
}

/** A new Idle holon running `program` (a combinator term) with `capabilities`. */
export async function spawnHolon(
  core: RuntimeCore,
  caller: Caller,
  spec: { id: string; capabilities: string[]; program: unknown },
): Promise<Holon> {
  await core.require(caller, { action: 'module.run', target: `holons/${spec.id}` });
  checkId(spec.id, 'holon id');
  if (await VIEWS.holons.get(core.log.views, spec.id)) {
    throw new SigilError('conflict', `holon ${spec.id} already exists`);
  }
  const holon = newHolon(spec);
  await core.appendMany(
    holonEvents(
      holon,
      [{ holon: holon.id, from: null, to: 'idle', by: caller.subject }],
      caller.subject,
    ),
  );
  return holon;
}

/** Runs one step: the kernel adjudicates it (sealed as `kernel_verdict`), then it runs. */
export async function stepHolon(
  core: RuntimeCore,
  kernel: Kernel,
  caller: Caller,
  id: string,
  fields: Record<string, string>,
): Promise<Holon> {
  await core.require(caller, { action: 'holon.step', target: `holons/${id}` });
  const now = core.now();
  let verdict: JsonValue = null;
  const update = stepHolonState(
    await loadHolon(core, id),
    { fields },
    (req) => {
      const v = kernel.adjudicate(
        {
          actor: `did:sigil:holon:${req.actor}`,
          actorSigner: { type: 'human' },
          action: req.action,
          target: `holons/${id}`,
          permissions: [...req.permissions],
        },
        {
          roles: [],
          actorPermissions: [...req.permissions],
          trustedKeys: new Map(),
          humanRootCount: 1,
          subjects: new Map(),
          now,
          requires: [],
        },
      );
      verdict = asJson(v);
      return v;
    },
    now,
  );
  await core.appendMany([
    { kind: 'kernel_verdict', payload: { holon: id, by: caller.subject, verdict } },
    ...holonEvents(update.holon, update.transitions, caller.subject),
  ]);
  return update.holon;
}

/** The human override: a human Root suspends or terminates any holon. */
export async function haltHolon(
  core: RuntimeCore,
  caller: Caller,
  id: string,
  input: { mode: 'suspend' | 'terminate'; reason?: string },
): Promise<Holon> {
  await core.require(caller, {
    action: 'holon.halt',
    target: `holons/${id}`,
    payload: { mode: input.mode },
  });
  const update = haltHolonState(await loadHolon(core, id), caller, input.mode, core.now());
  await core.appendMany(
    holonEvents(
      update.holon,
      update.transitions.map((t) => ({ ...(t as object), reason: input.reason ?? null })),
      caller.subject,
    ),
  );
  return update.holon;
}

/** The holons room (`runtime.holons`): agent programs the kernel adjudicates step by step. */
export function holonsService(core: RuntimeCore, kernel: Kernel) {
  return {
    spawn: (
      caller: Caller,
      spec: { id: string; capabilities: string[]; program: unknown },
    ): Promise<Holon> => spawnHolon(core, caller, spec),
    /** Runs one holon step: the kernel adjudicates it (a `kernel_verdict` record), then it runs. */
    step: (caller: Caller, id: string, fields: Record<string, string>): Promise<Holon> =>
      stepHolon(core, kernel, caller, id, fields),
    /** The human override: a human Root suspends or terminates any holon. */
    halt: (
      caller: Caller,
      id: string,
      input: { mode: 'suspend' | 'terminate'; reason?: string },
    ): Promise<Holon> => haltHolon(core, caller, id, input),
  };
}
export type HolonsService = ReturnType<typeof holonsService>;
