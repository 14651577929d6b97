import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { SigilError } from '../core/errors.ts';
import { attestationKeys, teeConfig, teeSchema, type TeeConfig } from './tee.ts';

const loaSchema = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.enum(['guest', 'observer', 'operator', 'mentor', 'root']));

/** The value schemas of the keys a committed system change may also set (settings.ts). */
export const rateSchema = z
  .object({ rate: z.number().positive(), burst: z.number().int().positive() })
  .strict();
export const enforcementModeSchema = z.enum(['active', 'strict', 'passive']);
export const thresholdSchema = z.number().min(0).max(1);
export const maxCallersSchema = z.number().int().positive();
export const mentorsRequiredSchema = z.number().int().min(1);
export const proposalTtlSchema = z.number().int().positive();

/** The shape of mmf.toml; every key optional, defaults below. */
const fileSchema = z
  .object({
    license_secret: z.string().min(1).optional(),
    license_path: z.string().min(1).optional(),
    db_backend: z.enum(['sqlite', 'postgres']).optional(),
    database_url: z.string().min(1).optional(),
    data_dir: z.string().min(1).optional(),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
    irl: z
      .object({
        enforcement_mode: enforcementModeSchema.optional(),
        threshold: thresholdSchema.optional(),
        telemetry_enabled: z.boolean().optional(),
      })
      .strict()
      .optional(),
    trust: z
      .object({
        default_loa: loaSchema.optional(),
        allow_operator_canon_write: z.boolean().optional(),
        allow_admin_export: z.boolean().optional(),
      })
      .strict()
      .optional(),
    log: z
      .object({
        checkpoint_every_appends: z.number().int().positive().optional(),
        checkpoint_every_seconds: z.number().positive().optional(),
        max_payload_bytes: z.number().int().positive().optional(),
        witnesses: z
          .array(z.object({ url: z.string().min(1), key: z.string().min(1) }).strict())
          .max(32)
          .optional(),
        witness_quorum: z.number().int().min(1).max(32).optional(),
      })
      .strict()
      .optional(),
    rate_limit: z
      .object({
        guest: rateSchema.optional(),
        observer: rateSchema.optional(),
        operator: rateSchema.optional(),
        mentor: rateSchema.optional(),
        root: rateSchema.optional(),
        max_callers: maxCallersSchema.optional(),
      })
      .strict()
      .optional(),
    quorum: z
      .object({
        mentors_required: mentorsRequiredSchema.optional(),
        proposal_ttl_seconds: proposalTtlSchema.optional(),
      })
      .strict()
      .optional(),
    server: z
      .object({
        host: z.string().min(1).optional(),
        port: z.number().int().min(0).max(65535).optional(),
        body_limit_bytes: z.number().int().positive().optional(),
        max_json_depth: z.number().int().positive().optional(),
        request_timeout_ms: z.number().int().positive().optional(),
        max_connections: z.number().int().positive().optional(),
        secure_cookies: z.boolean().optional(),
      })
      .strict()
      .optional(),
    tee: teeSchema.optional(),
    /** Per module: `[modules.<name>] attestation = "required"` with its `attestation_file`. */
    modules: z.record(z.string(), z.object(attestationKeys).strict()).optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    for (const [name, m] of Object.entries(f.modules ?? {})) {
      if ((m.attestation === 'required') !== (m.attestation_file !== undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['modules', name, 'attestation_file'],
          message: 'attestation = "required" and attestation_file go together',
        });
      }
      if (m.attestation === 'required' && f.tee === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['modules', name, 'attestation'],
          message: 'attestation = "required" needs a [tee] policy',
        });
      }
    }
  });

type Loa = z.infer<typeof loaSchema>;
type RateLimits = Record<Loa, { rate: number; burst: number }>;

/** One validated configuration, from mmf.toml and the environment (environment wins). */
export interface Config {
  dataDir: string;
  configFile: string | undefined;
  licenseSecret: string | undefined;
  licensePath: string;
  dbBackend: 'sqlite' | 'postgres';
  databaseUrl: string | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  irl: {
    enforcementMode: 'active' | 'strict' | 'passive';
    threshold: number;
    telemetryEnabled: boolean;
  };
  trust: { defaultLoa: Loa; allowOperatorCanonWrite: boolean; allowAdminExport: boolean };
  log: {
    checkpointEveryAppends: number;
    checkpointEverySeconds: number;
    maxPayloadBytes: number;
    /** C2SP tlog-witness witnesses: add-checkpoint URL prefix and cosigner vkey. */
    witnesses: Array<{ url: string; key: string }>;
    /**
     * Witnesses a served checkpoint needs, and unproven claims that roll the log back; unset: a
     * majority of the witnesses (decided where they are parsed, src/canon/witnesses.ts).
     */
    witnessQuorum: number | undefined;
  };
  rateLimit: { perLoa: RateLimits; maxCallers: number };
  quorum: { mentorsRequired: number; proposalTtlSeconds: number };
  server: {
    host: string;
    port: number;
    bodyLimitBytes: number;
    maxJsonDepth: number;
    requestTimeoutMs: number;
    maxConnections: number;
    /** Session cookies marked Secure (and HSTS sent); unset: on unless bound to loopback. */
    secureCookies: boolean | undefined;
  };
  /** The platform policy module attestations are judged by ([tee]). */
  tee?: TeeConfig;
  /** Modules that run only after an attestation passes [tee]: the file, absolute, per name. */
  moduleAttestations: Record<string, string>;
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  guest: { rate: 2, burst: 10 },
  observer: { rate: 10, burst: 50 },
  operator: { rate: 20, burst: 100 },
  mentor: { rate: 50, burst: 200 },
  root: { rate: 100, burst: 500 },
};

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** Explicit mmf.toml path; else SIGIL_CONFIG, else ./mmf.toml, else <data dir>/mmf.toml when present. */
  configFile?: string;
  /** Overrides from command-line flags, which win over both file and environment. */
  dataDir?: string;
}

function invalid(key: string, message: string): SigilError {
  return new SigilError('config_invalid', `${key}: ${message}`, { key });
}

function readFileConfig(path: string): z.infer<typeof fileSchema> {
  let raw: unknown;
  try {
    raw = parseToml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw invalid(
      path,
      `not valid TOML (${err instanceof Error ? err.message.split('\n')[0] : 'parse error'})`,
    );
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key =
      issue?.path.join('.') || (issue && 'keys' in issue ? String(issue.keys) : 'mmf.toml');
    throw invalid(key, issue?.message ?? 'invalid');
  }
  return parsed.data;
}

function envNumber(
  env: NodeJS.ProcessEnv,
  key: string,
  min: number,
  max: number,
): number | undefined {
  const raw = env[key];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max)
    throw invalid(key, `must be a number in [${min}, ${max}]`);
  return n;
}

function envEnum<T extends string>(
  env: NodeJS.ProcessEnv,
  key: string,
  values: readonly T[],
): T | undefined {
  const raw = env[key];
  if (raw === undefined || raw === '') return undefined;
  const v = raw.toLowerCase() as T;
  if (!values.includes(v)) throw invalid(key, `must be one of ${values.join(', ')}`);
  return v;
}

/** `[log] witness_quorum`: between 1 and the witnesses configured. */
function witnessQuorum(count: number, quorum: number | undefined): number | undefined {
  if (quorum !== undefined && quorum > count) {
    throw invalid('log.witness_quorum', `${quorum} is more than the ${count} witnesses configured`);
  }
  return quorum;
}

/**
 * Loads mmf.toml (when present) and the environment into one Config. Invalid values stop
 * start-up with a SigilError 'config_invalid' naming the key; nothing falls back to a weaker setting.
 */
export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const env = opts.env ?? process.env;
  const dataDirGuess = resolve(opts.dataDir ?? env.SIGIL_DATA_DIR ?? '.sigil');
  const candidates = [opts.configFile, env.SIGIL_CONFIG].filter((p): p is string => !!p);
  if (candidates.length > 0 && !existsSync(candidates[0]!)) {
    throw invalid(candidates[0]!, 'config file not found');
  }
  const configFile =
    candidates[0] ?? [resolve('mmf.toml'), resolve(dataDirGuess, 'mmf.toml')].find(existsSync);
  const file = configFile ? readFileConfig(configFile) : {};
  // Paths in mmf.toml (the attestation files, the quote verifier) are relative to it.
  const base = configFile ? dirname(resolve(configFile)) : resolve('.');

  const dataDir = resolve(opts.dataDir ?? env.SIGIL_DATA_DIR ?? file.data_dir ?? '.sigil');
  const dbBackend =
    envEnum(env, 'MMF_DB_BACKEND', ['sqlite', 'postgres'] as const) ?? file.db_backend ?? 'sqlite';
  const databaseUrl = env.MMF_DATABASE_URL || file.database_url;
  if (dbBackend === 'postgres' && !databaseUrl) {
    throw invalid('MMF_DATABASE_URL', 'required when MMF_DB_BACKEND=postgres');
  }
  const defaultLoaRaw = env.MMF_TRUST_DEFAULT_LOA;
  let defaultLoa: Loa = file.trust?.default_loa ?? 'observer';
  if (defaultLoaRaw) {
    const parsed = loaSchema.safeParse(defaultLoaRaw);
    if (!parsed.success)
      throw invalid('MMF_TRUST_DEFAULT_LOA', 'must be a level of access (guest … root)');
    defaultLoa = parsed.data;
  }
  const logLevel =
    envEnum(env, 'LOG_LEVEL', [
      'fatal',
      'error',
      'warn',
      'info',
      'debug',
      'trace',
      'silent',
    ] as const) ??
    file.log_level ??
    'info';
  const perLoa = { ...DEFAULT_RATE_LIMITS };
  for (const loa of Object.keys(perLoa) as Loa[]) {
    const override = file.rate_limit?.[loa];
    if (override) perLoa[loa] = override;
  }

  return {
    dataDir,
    configFile,
    licenseSecret: env.MMF_LICENSE_SECRET || file.license_secret,
    licensePath: resolve(
      env.MMF_LICENSE_PATH || file.license_path || resolve(dataDir, 'license.json'),
    ),
    dbBackend,
    databaseUrl,
    logLevel,
    irl: {
      enforcementMode:
        envEnum(env, 'MMF_IRL_ENFORCEMENT_MODE', ['active', 'strict', 'passive'] as const) ??
        file.irl?.enforcement_mode ??
        'active',
      threshold: envNumber(env, 'MMF_IRL_THRESHOLD', 0, 1) ?? file.irl?.threshold ?? 0.4,
      telemetryEnabled: file.irl?.telemetry_enabled ?? false,
    },
    trust: {
      defaultLoa,
      allowOperatorCanonWrite: file.trust?.allow_operator_canon_write ?? false,
      allowAdminExport: file.trust?.allow_admin_export ?? false,
    },
    log: {
      checkpointEveryAppends: file.log?.checkpoint_every_appends ?? 1000,
      checkpointEverySeconds: file.log?.checkpoint_every_seconds ?? 60,
      maxPayloadBytes: file.log?.max_payload_bytes ?? 1024 * 1024,
      witnesses: file.log?.witnesses ?? [],
      witnessQuorum: witnessQuorum(file.log?.witnesses?.length ?? 0, file.log?.witness_quorum),
    },
    rateLimit: { perLoa, maxCallers: file.rate_limit?.max_callers ?? 100_000 },
    quorum: {
      mentorsRequired: file.quorum?.mentors_required ?? 3,
      proposalTtlSeconds: file.quorum?.proposal_ttl_seconds ?? 7 * 24 * 3600,
    },
    server: {
      host: file.server?.host ?? '127.0.0.1',
      port: envNumber(env, 'PORT', 0, 65535) ?? file.server?.port ?? 8080,
      bodyLimitBytes: file.server?.body_limit_bytes ?? 2 * 1024 * 1024,
      maxJsonDepth: file.server?.max_json_depth ?? 64,
      requestTimeoutMs: file.server?.request_timeout_ms ?? 30_000,
      maxConnections: file.server?.max_connections ?? 1024,
      secureCookies: file.server?.secure_cookies,
    },
    ...(file.tee === undefined ? {} : { tee: teeConfig(file.tee, base) }),
    moduleAttestations: Object.fromEntries(
      Object.entries(file.modules ?? {}).flatMap(([name, m]) =>
        m.attestation_file === undefined ? [] : [[name, resolve(base, m.attestation_file)]],
      ),
    ),
  };
}
