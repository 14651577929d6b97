/**
 * Redaction of credentials in what passes the gateway (`redact = ["secrets"]` on a policy
 * row): tool arguments before the upstream sees them, results before the agent does. The
 * patterns are a documented well-known set, after gitleaks' rules for the same providers:
 * private key blocks, AWS, GitHub, GitLab, Slack, Stripe, Google, OpenAI/Anthropic-style `sk-`
 * keys, JWTs, Sigil tokens, bearer headers, passwords in connection strings, and
 * `password=`/`api_key:`-style assignments.
 *
 * Every string of the value (except binary `data`/`blob` and the structural `type`/`mimeType`)
 * is scanned as one text, in order, so a secret split across content blocks is still found;
 * each part of it is replaced where it lies with `[REDACTED:<kind>]`.
 */
import { canonicalBytes, type JsonValue } from '../core/canonical.ts';
import { sha256Hex } from '../core/hash.ts';

interface Pattern {
  kind: string;
  re: RegExp;
  /** Redact only this capture group (the secret part of an assignment or URL). */
  group?: number;
}

export const SECRET_PATTERNS: readonly Pattern[] = [
  {
    kind: 'private_key',
    re: /-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]{1,16384}?-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----/g,
  },
  { kind: 'aws_access_key', re: /\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b/g },
  {
    kind: 'github_token',
    re: /\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{82})\b/g,
  },
  { kind: 'gitlab_token', re: /\bglpat-[A-Za-z0-9_-]{20}\b/g },
  { kind: 'slack_token', re: /\bxox[abposr]-[A-Za-z0-9-]{10,250}\b/g },
  { kind: 'stripe_key', re: /\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}\b/g },
  { kind: 'google_api_key', re: /\bAIza[0-9A-Za-z_-]{35}\b/g },
  { kind: 'api_key', re: /\bsk-(?:[a-z]{2,8}-)?[A-Za-z0-9_-]{20,250}\b/g },
  { kind: 'sigil_token', re: /\bsgl_[A-Za-z0-9_-]{43}\b/g },
  { kind: 'jwt', re: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g },
  { kind: 'bearer_token', re: /\bBearer[ \t]+([A-Za-z0-9._~+/-]{16,}=*)/gi, group: 1 },
  {
    kind: 'connection_string_password',
    re: /\b[a-z][a-z0-9+.-]{1,20}:\/\/[^\s:@/]{1,256}:([^\s@/]{1,256})@/gi,
    group: 1,
  },
  {
    kind: 'assigned_secret',
    re: /\b(?:api[_-]?key|secret(?:[_-]?key)?|password|passwd|pwd|access[_-]?token|auth[_-]?token|client[_-]?secret)["']?\s{0,4}[:=]\s{0,4}["']?([^\s"',;]{8,256})/gi,
    group: 1,
  },
];

const SKIP_KEYS = new Set(['type', 'mimeType', 'data', 'blob']);

export interface Redaction {
  /** Hex SHA-256 of the canonical value before redaction. */
  unredacted_hash: string;
  /** What was replaced: kind → count. Never the secrets. */
  found: Record<string, number>;
}

/** The strings of a value in document order, with setters to replace them. */
function strings(value: JsonValue, out: Array<{ get: () => string; set: (s: string) => void }>) {
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      if (typeof v === 'string')
        out.push({ get: () => value[i] as string, set: (s) => (value[i] = s) });
      else strings(v, out);
    });
  } else if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      if (SKIP_KEYS.has(key)) continue;
      const v = value[key]!;
      if (typeof v === 'string')
        out.push({ get: () => value[key] as string, set: (s) => (value[key] = s) });
      else strings(v, out);
    }
  }
}

/**
 * A copy of `value` with every secret replaced, and what was found (null when nothing was).
 * The input is left as it was.
 */
export function redactSecrets(value: JsonValue): { value: JsonValue; redaction: Redaction | null } {
  if (typeof value === 'string') {
    const wrapped = redactSecrets([value]);
    return { value: (wrapped.value as JsonValue[])[0]!, redaction: wrapped.redaction };
  }
  const copy = structuredClone(value);
  const parts: Array<{ get: () => string; set: (s: string) => void }> = [];
  strings(copy, parts);
  const texts = parts.map((p) => p.get());
  const joined = texts.join('');
  // Spans to replace in the joined text, [start, end) with their kind.
  const spans: Array<{ start: number; end: number; kind: string }> = [];
  for (const p of SECRET_PATTERNS) {
    p.re.lastIndex = 0;
    for (const m of joined.matchAll(p.re)) {
      const whole = m.index;
      const start = p.group === undefined ? whole : whole + m[0].indexOf(m[p.group]!);
      const len = p.group === undefined ? m[0].length : m[p.group]!.length;
      if (!spans.some((s) => start < s.end && start + len > s.start)) {
        spans.push({ start, end: start + len, kind: p.kind });
      }
    }
  }
  if (spans.length === 0) return { value, redaction: null };
  const found: Record<string, number> = {};
  for (const s of spans) found[s.kind] = (found[s.kind] ?? 0) + 1;
  spans.sort((a, b) => a.start - b.start);
  // Rewrite each string: the marker goes where a secret starts, its other parts vanish.
  let offset = 0;
  texts.forEach((text, i) => {
    const from = offset;
    const to = offset + text.length;
    offset = to;
    let out = '';
    let at = from;
    for (const s of spans) {
      if (s.end <= from || s.start >= to) continue;
      const start = Math.max(s.start, from);
      out += joined.slice(at, start);
      if (s.start >= from) out += `[REDACTED:${s.kind}]`;
      at = Math.min(s.end, to);
    }
    out += joined.slice(at, to);
    if (out !== text) parts[i]!.set(out);
  });
  return { value: copy, redaction: { unredacted_hash: sha256Hex(canonicalBytes(value)), found } };
}
