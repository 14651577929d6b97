/**
 * gateway.toml: the upstream MCP servers the gateway fronts and the policy table that says who
 * may call which of their tools. Invalid files stop start-up with SigilError 'config_invalid'
 * naming the file, the line and the key at fault; nothing falls back to a weaker setting.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { isSigilError, SigilError } from '../core/errors.ts';
import { attestationKeys, teeConfig, teeSchema, type TeeConfig } from '../config/tee.ts';
import { compileCondition, type Loa } from '../policy/index.ts';
import { formatKeyPath, locateKey } from './toml-locate.ts';

/**
 * Upstream names become tool-name prefixes (`<name>__<tool>`), so an underscore is always
 * followed by another character: no `__` inside and no `_` at the end.
 */
const UPSTREAM_NAME_RE = /^[a-z0-9](?:[a-z0-9-]|_(?=[a-z0-9-]))*$/;
const SCOPE_RE = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*(?:\.\*)?$/;

const loaSchema = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.enum(['guest', 'observer', 'operator', 'mentor', 'root']));

const stringMap = z.record(z.string(), z.string());
const timeoutMs = z.number().int().positive().max(3_600_000);

const upstreamSchema = z
  .object({
    name: z
      .string()
      .max(32)
      .regex(UPSTREAM_NAME_RE, 'use lowercase letters, digits, - and single inner _ (no "__")'),
    command: z.string().min(1).optional(),
    args: z.array(z.string()).optional(),
    env: stringMap.optional(),
    cwd: z.string().min(1).optional(),
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
    headers: stringMap.optional(),
    timeout_ms: timeoutMs.optional(),
    /** "first": a tool's definition is pinned when first seen; "strict": a human approves it. */
    pin: z.enum(['first', 'strict']).default('first'),
    /** What the agent's names start with (`<prefix>__<tool>`); "" exports the upstream's own. */
    prefix: z
      .string()
      .max(32)
      .regex(/^$|^[a-z0-9](?:[a-z0-9-]|_(?=[a-z0-9-]))*$/, 'empty, or like an upstream name')
      .optional(),
    ...attestationKeys,
  })
  .strict()
  .superRefine((u, ctx) => {
    if ((u.attestation === 'required') !== (u.attestation_file !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['attestation_file'],
        message: 'attestation = "required" and attestation_file go together',
      });
    }
    if ((u.command === undefined) === (u.url === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['command'],
        message: 'set exactly one of command (stdio) or url (Streamable HTTP)',
      });
    }
    if (u.url !== undefined) {
      for (const key of ['args', 'env', 'cwd'] as const) {
        if (u[key] !== undefined) {
          ctx.addIssue({ code: 'custom', path: [key], message: `${key} is for stdio upstreams` });
        }
      }
    }
    if (u.command !== undefined && u.headers !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['headers'], message: 'headers is for url upstreams' });
    }
  });

const policySchema = z
  .object({
    tool: z.string().min(1).optional(),
    resource: z.string().min(1).optional(),
    prompt: z.string().min(1).optional(),
    request: z.string().min(1).optional(),
    min_loa: loaSchema,
    risk: z.number().min(0).max(1).optional(),
    scope: z.string().regex(SCOPE_RE, "an action name or a prefix ending in '.*'").optional(),
    approval: z.boolean().default(false),
    /** A CEL condition over `args`, `caller` and `tool`; false or an error denies. */
    when: z.string().min(1).optional(),
    /** What to redact from arguments (before the upstream) and results (before the agent). */
    redact: z.array(z.enum(['secrets'])).optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    const set = [p.tool, p.resource, p.prompt, p.request].filter((v) => v !== undefined).length;
    if (set !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['tool'],
        message: 'set exactly one of tool, resource, prompt or request (a glob)',
      });
    }
  });

/** Loopback hosts, where an `http://` issuer or JWKS is accepted (tests, local development). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(?:\.\d{1,3}){3}$/.test(h);
}

/** An https URL, or http on loopback only. */
const authUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).refine(
  (u) => {
    const url = new URL(u);
    return url.protocol === 'https:' || isLoopbackHost(url.hostname);
  },
  { message: 'must be https:// (http:// only on loopback)' },
);

/** Asymmetric JWS algorithms a JWKS can verify; `none` and shared-secret HS* never. */
export const OAUTH_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

const claimName = z.string().min(1).max(128);

const oauthSchema = z
  .object({
    issuer: authUrl,
    jwks_uri: authUrl,
    audience: z.string().min(1),
    algorithms: z
      .array(z.enum(OAUTH_ALGORITHMS))
      .min(1)
      .default(['RS256', 'PS256', 'ES256', 'EdDSA']),
    subject_claim: claimName.default('sub'),
    loa_claim: claimName.default('sigil_loa'),
    default_loa: loaSchema.default('guest'),
    max_loa: loaSchema.default('operator'),
    signer_claim: claimName.default('sigil_signer'),
    delegation_claim: claimName.default('sigil_delegation'),
    scope_claim: claimName.optional(),
    clock_tolerance_s: z.number().int().min(0).max(300).default(30),
  })
  .strict();

const authSchema = z
  .object({
    /** The gateway's resource URI (RFC 8707), as agents reach it; tokens must name it. */
    resource: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
    oauth: z.array(oauthSchema).default([]),
  })
  .strict()
  .superRefine((a, ctx) => {
    const resource = a.resource ?? a.oauth[0]?.audience;
    a.oauth.forEach((o, i) => {
      if (o.audience !== resource) {
        ctx.addIssue({
          code: 'custom',
          path: ['oauth', i, 'audience'],
          message: `must be the gateway's resource URI ${resource}`,
        });
      }
    });
    const issuers = new Set<string>();
    a.oauth.forEach((o, i) => {
      if (issuers.has(o.issuer)) {
        ctx.addIssue({
          code: 'custom',
          path: ['oauth', i, 'issuer'],
          message: `duplicate issuer ${o.issuer}`,
        });
      }
      issuers.add(o.issuer);
    });
  });

/** The schema of gateway.toml (exported so a test holds docs/mcp-gateway.md to every key). */
export const GATEWAY_FILE_SCHEMA = z
  .object({
    data_dir: z.string().min(1).optional(),
    tee: teeSchema.optional(),
    auth: authSchema.optional(),
    call_timeout_ms: timeoutMs.default(30_000),
    approval_timeout_ms: timeoutMs.default(55_000),
    upstream: z.array(upstreamSchema).min(1, 'at least one [[upstream]] is needed'),
    policy: z.array(policySchema).default([]),
  })
  .strict()
  .superRefine((f, ctx) => {
    f.upstream.forEach((u, i) => {
      if (u.attestation === 'required' && f.tee === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['upstream', i, 'attestation'],
          message: 'attestation = "required" needs a [tee] policy',
        });
      }
    });
    const seen = new Set<string>();
    const prefixes = new Set<string>();
    f.upstream.forEach((u, i) => {
      const prefix = u.prefix ?? u.name;
      if (prefix !== '' && prefixes.has(prefix) && !seen.has(u.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['upstream', i, 'prefix'],
          message: `duplicate prefix ${prefix}`,
        });
      }
      prefixes.add(prefix);
      if (seen.has(u.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['upstream', i, 'name'],
          message: `duplicate upstream name ${u.name}`,
        });
      }
      seen.add(u.name);
    });
  });

export type UpstreamConfig = {
  prefix: string;
  pin: 'first' | 'strict';
  /** Absolute path of the attestation file, when every call needs a passing attestation. */
  attestationFile?: string;
} & (
  | {
      name: string;
      transport: 'stdio';
      command: string;
      args: string[];
      env: Record<string, string>;
      /** Resolved against the config file's directory, which is also the default. */
      cwd: string;
      timeoutMs?: number;
    }
  | {
      name: string;
      transport: 'http';
      url: string;
      headers: Record<string, string>;
      timeoutMs?: number;
    }
);

/**
 * What a policy row governs, by glob over `<upstream>__<name>`: tools, resources (by URI),
 * prompts, or requests an upstream sends the agent (`sampling/createMessage`,
 * `elicitation/create`, `roots/list`).
 */
export type PolicyKind = 'tool' | 'resource' | 'prompt' | 'request';

export interface PolicyRule {
  kind: PolicyKind;
  /** Glob over `<upstream>__<tool|prompt>` or `<upstream>__<resource uri>`: `*` any run, `?` one char. */
  pattern: string;
  minLoa: Loa;
  /** Passed to the trust model as the request's declared risk. */
  risk?: number;
  /** A token scope the caller must hold besides `mcp.tools.call`. */
  scope?: string;
  /** Whether a human Mentor/Root must approve each call. */
  approval: boolean;
  /** A CEL condition (compiled at load) the call must satisfy. */
  when?: string;
  /** `secrets`: credentials are replaced in arguments and results. */
  redact?: Array<'secrets'>;
  /** 1-based position in the file, for messages. */
  index: number;
}

/** An authorization server whose JWT access tokens the HTTP gateway accepts. */
export interface OAuthIssuer {
  issuer: string;
  jwksUri: string;
  audience: string;
  algorithms: string[];
  subjectClaim: string;
  loaClaim: string;
  /** The LOA of a token without the LOA claim. */
  defaultLoa: Loa;
  /** The highest LOA this issuer may grant; a token claiming more is refused. */
  maxLoa: Loa;
  signerClaim: string;
  delegationClaim: string;
  /** Where the token's scopes are (space-separated or a list); absent → LOA alone. */
  scopeClaim?: string;
  clockToleranceS: number;
}

export interface GatewayAuth {
  /** The gateway's resource URI; undefined → the URL it listens on. */
  resource?: string;
  oauth: OAuthIssuer[];
}

export type { TeeConfig };

export interface GatewayConfig {
  file: string;
  tee?: TeeConfig;
  auth: GatewayAuth;
  /** Absolute, resolved against the file's directory; undefined when the file sets none. */
  dataDir?: string;
  callTimeoutMs: number;
  approvalTimeoutMs: number;
  upstreams: UpstreamConfig[];
  policies: PolicyRule[];
}

function invalid(file: string, text: string, path: readonly (string | number)[], message: string) {
  const line = locateKey(text, path);
  const key = formatKeyPath(path) || '(file)';
  return new SigilError(
    'config_invalid',
    `${file}${line === null ? '' : `:${line}`}: ${key}: ${message}`,
    { file, key, line },
  );
}

/** Parses gateway.toml text; `file` names it in errors and anchors relative paths. */
export function parseGatewayConfig(text: string, file: string): GatewayConfig {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    const line = err instanceof TomlError ? err.line : null;
    const first = err instanceof Error ? (err.message.split('\n')[0] ?? '') : 'parse error';
    throw new SigilError(
      'config_invalid',
      `${file}${line === null ? '' : `:${line}`}: not valid TOML: ${first}`,
      { file, line, key: null },
    );
  }
  const parsed = GATEWAY_FILE_SCHEMA.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = [...(issue?.path ?? [])] as (string | number)[];
    if (issue?.code === 'unrecognized_keys') path.push(...issue.keys.slice(0, 1));
    throw invalid(file, text, path, issue?.message ?? 'invalid');
  }
  const f = parsed.data;
  // A condition that does not compile stops start-up, naming its row.
  f.policy.forEach((p, i) => {
    if (p.when === undefined) return;
    try {
      compileCondition(p.when);
    } catch (err) {
      const reason = isSigilError(err) ? err.message : 'not a valid condition';
      throw invalid(file, text, ['policy', i, 'when'], `row ${i + 1}: ${reason}`);
    }
  });
  const base = dirname(resolve(file));
  return {
    file,
    ...(f.data_dir === undefined ? {} : { dataDir: resolve(base, f.data_dir) }),
    auth: {
      ...(f.auth?.resource !== undefined
        ? { resource: f.auth.resource }
        : f.auth?.oauth[0] !== undefined
          ? { resource: f.auth.oauth[0].audience }
          : {}),
      oauth: (f.auth?.oauth ?? []).map((o): OAuthIssuer => ({
        issuer: o.issuer,
        jwksUri: o.jwks_uri,
        audience: o.audience,
        algorithms: o.algorithms,
        subjectClaim: o.subject_claim,
        loaClaim: o.loa_claim,
        defaultLoa: o.default_loa,
        maxLoa: o.max_loa,
        signerClaim: o.signer_claim,
        delegationClaim: o.delegation_claim,
        ...(o.scope_claim === undefined ? {} : { scopeClaim: o.scope_claim }),
        clockToleranceS: o.clock_tolerance_s,
      })),
    },
    ...(f.tee === undefined ? {} : { tee: teeConfig(f.tee, base) }),
    callTimeoutMs: f.call_timeout_ms,
    approvalTimeoutMs: f.approval_timeout_ms,
    upstreams: f.upstream.map((u): UpstreamConfig => {
      const common = {
        prefix: u.prefix ?? u.name,
        pin: u.pin,
        ...(u.timeout_ms === undefined ? {} : { timeoutMs: u.timeout_ms }),
        ...(u.attestation_file === undefined
          ? {}
          : { attestationFile: resolve(base, u.attestation_file) }),
      };
      if (u.url !== undefined) {
        return {
          name: u.name,
          transport: 'http',
          url: u.url,
          headers: u.headers ?? {},
          ...common,
        };
      }
      return {
        name: u.name,
        transport: 'stdio',
        command: u.command ?? '',
        args: u.args ?? [],
        env: u.env ?? {},
        cwd: resolve(base, u.cwd ?? '.'),
        ...common,
      };
    }),
    policies: f.policy.map((p, i): PolicyRule => {
      const kind: PolicyKind =
        p.tool !== undefined
          ? 'tool'
          : p.resource !== undefined
            ? 'resource'
            : p.prompt !== undefined
              ? 'prompt'
              : 'request';
      return {
        kind,
        pattern: p.tool ?? p.resource ?? p.prompt ?? p.request ?? '',
        minLoa: p.min_loa,
        ...(p.risk === undefined ? {} : { risk: p.risk }),
        ...(p.scope === undefined ? {} : { scope: p.scope }),
        approval: p.approval,
        ...(p.when === undefined ? {} : { when: p.when }),
        ...(p.redact === undefined || p.redact.length === 0 ? {} : { redact: p.redact }),
        index: i + 1,
      };
    }),
  };
}

/** Reads and parses a gateway.toml file ('config_invalid' when it cannot be read). */
export function loadGatewayConfig(file: string): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = err instanceof Error && 'code' in err ? String(err.code) : 'unreadable';
    throw new SigilError('config_invalid', `${file}: cannot read the gateway config (${reason})`, {
      file,
      key: null,
      line: null,
    });
  }
  return parseGatewayConfig(text, file);
}
