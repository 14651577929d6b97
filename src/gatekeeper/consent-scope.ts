/**
 * Does a consent scope cover a requested permission? The reference's algorithm, exactly:
 * trim both; an empty side never covers; equal ignoring ASCII case covers; otherwise the
 * scope is split into clauses on `,` and `;`, and a clause covers the permission when,
 * tokenised (split on `: _ . / -` and space, ASCII-lowercased):
 *   1. the permission is one token equal to the clause's last token;
 *   2. the clause has several tokens and is a prefix of the permission's tokens;
 *   3. both have several tokens and share a last token that is not a generic verb;
 *   4. or both have the same set of tokens.
 * Trimming follows Unicode White_Space, as the reference does (not JavaScript's trim,
 * which also strips U+FEFF and keeps U+0085).
 */

/** Verbs too generic to identify a scope by themselves (rule 3 ignores them). */
export const GENERIC_PERMISSION_VERBS: ReadonlySet<string> = new Set([
  'attest',
  'create',
  'delete',
  'execute',
  'grant',
  'propose',
  'publish',
  'read',
  'recommend',
  'revoke',
  'sign',
  'update',
  'validate',
  'verify',
  'write',
]);

const WS = '\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const TRIM = new RegExp(`^[${WS}]+|[${WS}]+$`, 'gu');

/** Trims Unicode White_Space from both ends. */
function trimWhiteSpace(s: string): string {
  return s.replace(TRIM, '');
}

/** Lowercases A–Z only, leaving every other character as it is. */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

function equalIgnoringAsciiCase(a: string, b: string): boolean {
  return a.length === b.length && asciiLower(a) === asciiLower(b);
}

/** Splits a scope into trimmed, non-empty clauses on `,` and `;`. */
export function scopeClauses(scope: string): string[] {
  return scope
    .split(/[,;]/)
    .map(trimWhiteSpace)
    .filter((c) => c.length > 0);
}

/** Tokenises a scope clause or permission: split on `: _ . / -` and space, trim, lowercase, drop empties. */
export function scopeTokens(value: string): string[] {
  return value
    .split(/[:_./\- ]/)
    .map(trimWhiteSpace)
    .filter((t) => t.length > 0)
    .map(asciiLower);
}

function tokenSet(tokens: readonly string[]): string {
  return JSON.stringify([...new Set(tokens)].sort());
}

function clauseCovers(clause: string, permission: string): boolean {
  if (equalIgnoringAsciiCase(clause, permission)) return true;
  const scope = scopeTokens(clause);
  const wanted = scopeTokens(permission);
  const scopeLast = scope[scope.length - 1];
  const wantedLast = wanted[wanted.length - 1];
  if (scopeLast === undefined || wantedLast === undefined) return false;
  if (wanted.length === 1 && scopeLast === wanted[0]) return true;
  if (scope.length > 1 && wanted.length >= scope.length && scope.every((t, i) => wanted[i] === t)) {
    return true;
  }
  if (
    scope.length > 1 &&
    wanted.length > 1 &&
    scopeLast === wantedLast &&
    !GENERIC_PERMISSION_VERBS.has(scopeLast)
  ) {
    return true;
  }
  return tokenSet(scope) === tokenSet(wanted);
}

// Answers per (scope, permission): a pure function of two strings that recur in every request
// of an agent. Bounded per level (cleared when full), so hostile input cannot grow it.
const COVERS_MAX = 1024;
const coversByScope = new Map<string, Map<string, boolean>>();

/** True when the consent `scope` covers one requested `permission`. */
export function scopeCovers(scope: string, permission: string): boolean {
  let byPermission = coversByScope.get(scope);
  if (byPermission === undefined) {
    if (coversByScope.size >= COVERS_MAX) coversByScope.clear();
    byPermission = new Map();
    coversByScope.set(scope, byPermission);
  }
  let answer = byPermission.get(permission);
  if (answer === undefined) {
    answer = computeScopeCovers(scope, permission);
    if (byPermission.size >= COVERS_MAX) byPermission.clear();
    byPermission.set(permission, answer);
  }
  return answer;
}

function computeScopeCovers(scope: string, permission: string): boolean {
  const s = trimWhiteSpace(scope);
  const p = trimWhiteSpace(permission);
  if (s.length === 0 || p.length === 0) return false;
  if (equalIgnoringAsciiCase(s, p)) return true;
  return scopeClauses(s).some((clause) => clauseCovers(clause, p));
}

/** True when `scope` covers every permission; an empty request is always covered. */
export function scopeCoversAll(scope: string, permissions: readonly string[]): boolean {
  return permissions.every((p) => scopeCovers(scope, p));
}
