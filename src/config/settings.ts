/**
 * The configuration keys a committed system change may set. A change `{"setting": key,
 * "value": v}` names one of them by its mmf.toml name; its value is checked with the schema that
 * checks mmf.toml, so a proposal Sigil could not apply is refused when it is proposed, never
 * committed as a no-op. The effective configuration is the base (mmf.toml and environment) with
 * every committed change applied in log order (see runtime/services/settings.ts).
 */
import { z } from 'zod';
import { SigilError } from '../core/errors.ts';
import {
  enforcementModeSchema,
  maxCallersSchema,
  mentorsRequiredSchema,
  proposalTtlSchema,
  rateSchema,
  thresholdSchema,
  type Config,
} from './config.ts';

type Loa = keyof Config['rateLimit']['perLoa'];

interface SettingSpec<T> {
  readonly schema: z.ZodType<T>;
  readonly apply: (config: Config, value: T) => Config;
}

function setting<T>(schema: z.ZodType<T>, apply: (config: Config, value: T) => Config) {
  return { schema, apply } as SettingSpec<unknown>;
}

function rateLimit(loa: Loa) {
  return setting(rateSchema, (c, v) => ({
    ...c,
    rateLimit: { ...c.rateLimit, perLoa: { ...c.rateLimit.perLoa, [loa]: v } },
  }));
}

const SETTINGS: Readonly<Record<string, SettingSpec<unknown>>> = Object.freeze({
  'irl.threshold': setting(thresholdSchema, (c, v) => ({ ...c, irl: { ...c.irl, threshold: v } })),
  'irl.enforcement_mode': setting(enforcementModeSchema, (c, v) => ({
    ...c,
    irl: { ...c.irl, enforcementMode: v },
  })),
  'trust.allow_operator_canon_write': setting(z.boolean(), (c, v) => ({
    ...c,
    trust: { ...c.trust, allowOperatorCanonWrite: v },
  })),
  'trust.allow_admin_export': setting(z.boolean(), (c, v) => ({
    ...c,
    trust: { ...c.trust, allowAdminExport: v },
  })),
  'rate_limit.guest': rateLimit('guest'),
  'rate_limit.observer': rateLimit('observer'),
  'rate_limit.operator': rateLimit('operator'),
  'rate_limit.mentor': rateLimit('mentor'),
  'rate_limit.root': rateLimit('root'),
  'rate_limit.max_callers': setting(maxCallersSchema, (c, v) => ({
    ...c,
    rateLimit: { ...c.rateLimit, maxCallers: v },
  })),
  'quorum.mentors_required': setting(mentorsRequiredSchema, (c, v) => ({
    ...c,
    quorum: { ...c.quorum, mentorsRequired: v },
  })),
  'quorum.proposal_ttl_seconds': setting(proposalTtlSchema, (c, v) => ({
    ...c,
    quorum: { ...c.quorum, proposalTtlSeconds: v },
  })),
});

/** Every key a system change may set, sorted. */
export const SYSTEM_SETTINGS: readonly string[] = Object.freeze(Object.keys(SETTINGS).sort());

/** A checked setting change: a known key and a value its schema accepts. */
export interface SettingChange {
  readonly setting: string;
  readonly value: unknown;
}

/** True when a change is shaped as a setting change (it has a `setting` member). */
export function isSettingChange(change: unknown): boolean {
  return typeof change === 'object' && change !== null && 'setting' in change;
}

/**
 * Checks a setting change. Refusals: 'unknown_setting' (a key no system change may set, with
 * the known keys in details), 'setting_invalid' (a value the key's schema refuses, or members
 * besides `setting` and `value`).
 */
export function parseSettingChange(change: unknown): SettingChange {
  const { setting: key, value, ...rest } = (change ?? {}) as Record<string, unknown>;
  if (typeof key !== 'string' || !Object.hasOwn(SETTINGS, key)) {
    throw new SigilError(
      'unknown_setting',
      `${typeof key === 'string' ? key : 'setting'} is not a key a system change may set ` +
        `(one of ${SYSTEM_SETTINGS.join(', ')})`,
      { setting: key, known: SYSTEM_SETTINGS },
    );
  }
  if (Object.keys(rest).length > 0) {
    throw new SigilError('setting_invalid', 'a setting change has only "setting" and "value"', {
      setting: key,
    });
  }
  const parsed = SETTINGS[key]!.schema.safeParse(value);
  if (!parsed.success) {
    throw new SigilError(
      'setting_invalid',
      `${key}: ${parsed.error.issues[0]?.message ?? 'invalid value'}`,
      { setting: key },
    );
  }
  return { setting: key, value: parsed.data };
}

/** The configuration with one checked setting change applied (the input is untouched). */
export function applySetting(config: Config, change: SettingChange): Config {
  return SETTINGS[change.setting]!.apply(config, change.value);
}
