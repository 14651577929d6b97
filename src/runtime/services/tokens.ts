/** API tokens: minted by Root, stored only as SHA-256 hashes, checked in constant time. */
import { SigilError } from '../../core/errors.ts';
import type { SignerType } from '../../core/typed-signature.ts';
import type { RequestEffect, SubjectStanding } from '../../gatekeeper/index.ts';
import {
  checkTokenRecord,
  isLoa,
  issueToken,
  loaAtLeast,
  presentedToken,
  type Loa,
  type TokenRecord,
} from '../../policy/index.ts';
import { asJson, type RuntimeCore } from '../core.ts';
import { VIEWS, type StoredToken } from '../view-ns.ts';
import type { Caller } from '../decide.ts';
import { delegationForToken } from './delegations.ts';
import { liveTokenRows } from './live-rows.ts';
import { requireStandingFor } from './witnesses.ts';

/** A token as shown to administrators: never the token or its hash. */
export type TokenInfo = Omit<TokenRecord, 'hash'> & { issuedBy: string };

/** The subject of a caller that presented no credentials. */
export const ANONYMOUS_SUBJECT = 'did:sigil:anonymous';

function tokenInfo(t: StoredToken): TokenInfo {
  const { hash: _hash, ...info } = t;
  return info;
}

/** The caller that presented no credentials: an unverified Guest. */
export function anonymousCaller(): Caller {
  return {
    subject: ANONYMOUS_SUBJECT,
    loa: 'guest',
    signer: { type: 'human' },
    verified: false,
    source: 'anonymous',
  };
}

/** No token → the anonymous Guest; a bad, expired or revoked token → 'token_invalid'. */
export async function authenticate(
  core: RuntimeCore,
  token: string | null | undefined,
): Promise<Caller> {
  if (token === undefined || token === null || token === '') return anonymousCaller();
  // Hashed once. From memory the log keeps current, else one indexed read; the view row's MAC
  // and shape are checked before the token is ('state_invalid').
  const presented = presentedToken(token);
  const stored = presented && (await VIEWS.tokens.get(core.views, presented.hash));
  const check = checkTokenRecord(presented, stored, core.now());
  if (!check.ok) throw new SigilError('token_invalid', 'the token is not valid');
  return tokenCaller(check.token as StoredToken);
}

function tokenCaller(t: StoredToken): Caller {
  return {
    subject: t.subject,
    loa: t.loa,
    signer: t.signer,
    verified: true,
    source: 'token',
    tokenId: t.id,
    delegatedBy: t.issuedBy,
    expiresAt: t.expiresAt,
    ...(t.scopes ? { scopes: t.scopes } : {}),
  };
}

/**
 * The caller of the token stored under `hash` while it is in force, else undefined: a cookie
 * session keeps the token's hash, never the token, and is re-checked against its row each time.
 */
export async function callerOfToken(core: RuntimeCore, hash: string): Promise<Caller | undefined> {
  const t = await VIEWS.tokens.get(core.views, hash);
  if (t === undefined || t.revokedAt !== null) return undefined;
  if (t.expiresAt !== null && !(core.now() < t.expiresAt)) return undefined;
  return tokenCaller(t);
}

/** The token_event record of a change to a token; its view row is keyed by `token_hash`. */
function tokenEvent(event: 'created' | 'revoked', by: string, token: StoredToken) {
  return { event, by, token: asJson(tokenInfo(token)), token_hash: token.hash };
}

export interface TokenInput {
  subject: string;
  loa: string;
  signer: SignerType;
  ttlMs?: number | null;
  scopes?: string[];
}

/** Mints a token without adjudication: the bootstrap's first Root token. */
export async function mintToken(
  core: RuntimeCore,
  issuedBy: string,
  input: TokenInput,
): Promise<{ token: string; info: TokenInfo }> {
  const { token, record } = issueToken(
    {
      subject: input.subject,
      loa: input.loa,
      signer: input.signer,
      ...(input.ttlMs !== undefined ? { ttlMs: input.ttlMs } : {}),
      ...(input.scopes !== undefined ? { scopes: input.scopes } : {}),
    },
    core.now(),
  );
  const stored = { ...record, issuedBy };
  await core.append('token_event', tokenEvent('created', issuedBy, stored));
  return { token, info: tokenInfo(stored) };
}

/**
 * Mints a token (Root); a token never carries more than its issuer has, and after genesis one at
 * Mentor or Root only for a subject already holding that standing.
 */
export async function createToken(
  core: RuntimeCore,
  caller: Caller,
  input: TokenInput,
): Promise<{ token: string; info: TokenInfo }> {
  await core.require(caller, {
    action: 'token.create',
    target: `tokens/${input.subject}`,
    payload: { subject: input.subject, loa: input.loa, signer_type: input.signer?.type ?? null },
  });
  if (isLoa(input.loa) && !loaAtLeast(caller.loa, input.loa)) {
    throw new SigilError('loa_insufficient', 'a token cannot carry more than its issuer has');
  }
  await requireStandingFor(core, input.subject, input.loa);
  // An AI token names a delegation that exists, is in force and ends at the token's subject.
  if (input.signer?.type === 'ai') {
    await delegationForToken(core, input.signer.delegationId, input.subject);
  }
  return mintToken(core, caller.subject, input);
}

export async function listTokens(core: RuntimeCore, caller: Caller): Promise<TokenInfo[]> {
  await core.require(caller, { action: 'token.list', target: 'tokens' });
  return (await liveTokenRows(core, true)).map(tokenInfo).sort((a, b) => a.createdAt - b.createdAt);
}

/** Who holds standing now, as the human-override invariant reads it. */
export interface HumanStanding {
  subjects: Map<string, SubjectStanding>;
  humanRootCount: number;
}

function live(t: StoredToken, now: number): boolean {
  return t.revokedAt === null && (t.expiresAt === null || now < t.expiresAt);
}

/**
 * The standing each subject holds through its live tokens (`except` left out): a subject with
 * a live human token is human at the highest level of its human tokens (an AI token never makes
 * its subject a human Root), else AI at its highest. The human override is exercised on the
 * running system (halting, approving, revoking), which takes a token; the data dir's licence is
 * recovery at the server's own disk, so it does not count.
 */
export function humanStanding(
  tokens: readonly StoredToken[],
  now: number,
  except?: string,
): HumanStanding {
  const best = new Map<string, { human: Loa | null; any: Loa }>();
  for (const t of tokens) {
    if (t.id === except || !live(t, now) || !isLoa(t.loa)) continue;
    const had = best.get(t.subject);
    const human = t.signer.type === 'human' ? t.loa : null;
    best.set(t.subject, {
      human: higher(had?.human ?? null, human),
      any: higher(had?.any ?? null, t.loa)!,
    });
  }
  const subjects = new Map<string, SubjectStanding>();
  let humanRootCount = 0;
  for (const [subject, b] of best) {
    subjects.set(subject, { loa: b.human ?? b.any, human: b.human !== null });
    if (b.human === 'root') humanRootCount++;
  }
  return { subjects, humanRootCount };
}

/** The human Roots, and the standing of each subject `effect` names (absent: unknown). */
export async function standingFor(
  core: RuntimeCore,
  effect: RequestEffect,
  now: number,
): Promise<HumanStanding> {
  const all = humanStanding(await liveTokenRows(core), now);
  const subjects = new Map<string, SubjectStanding>();
  for (const { subject } of [
    ...(effect.grants ?? []),
    ...(effect.raises ?? []),
    ...(effect.revokes ?? []),
  ]) {
    const s = all.subjects.get(subject);
    if (s) subjects.set(subject, s);
  }
  return { subjects, humanRootCount: all.humanRootCount };
}

function higher(a: Loa | null, b: Loa | null): Loa | null {
  if (a === null) return b;
  if (b === null) return a;
  return loaAtLeast(a, b) ? a : b;
}

/**
 * What revoking `token` withdraws: its subject keeps the standing of its other live tokens, and
 * a human keeps none when only AI tokens are left (the revocation then names no level). Nothing
 * for a token no longer in force.
 */
function revocationEffect(
  tokens: readonly StoredToken[],
  token: StoredToken,
  now: number,
): RequestEffect | undefined {
  if (!live(token, now)) return undefined;
  const before = humanStanding(tokens, now).subjects.get(token.subject);
  const kept = humanStanding(tokens, now, token.id).subjects.get(token.subject);
  const level = kept && (kept.human || before?.human !== true) ? kept.loa : undefined;
  return { revokes: [{ subject: token.subject, ...(level ? { loa: level } : {}) }] };
}

export async function revokeToken(
  core: RuntimeCore,
  caller: Caller,
  id: string,
): Promise<TokenInfo> {
  const tokens = await liveTokenRows(core);
  const found = tokens.find((t) => t.id === id);
  const effect = found && revocationEffect(tokens, found, core.now());
  await core.require(caller, {
    action: 'token.revoke',
    target: `tokens/${id}`,
    ...(effect ? { effect } : {}),
  });
  if (!found) {
    // Its row rolled back past its revocation (dropped above) is not "no such token".
    if ((await VIEWS.tokens.list(core.log.views)).some((r) => r.value.id === id)) {
      throw new SigilError('state_invalid', `the token row of ${id} is older than its record`);
    }
    throw new SigilError('token_not_found', `no token with id ${id}`);
  }
  if (found.revokedAt !== null) return tokenInfo(found);
  const revoked = { ...found, revokedAt: core.now() };
  await core.append('token_event', tokenEvent('revoked', caller.subject, revoked));
  return tokenInfo(revoked);
}

/** The tokens room (`runtime.tokens`): who is asking, and the API tokens Root hands out. */
export function tokensService(core: RuntimeCore) {
  return {
    /** No token → the anonymous Guest; a bad, expired or revoked token → 'token_invalid'. */
    authenticate: (token: string | null | undefined): Promise<Caller> => authenticate(core, token),
    create: (caller: Caller, input: TokenInput): Promise<{ token: string; info: TokenInfo }> =>
      createToken(core, caller, input),
    list: (caller: Caller): Promise<TokenInfo[]> => listTokens(core, caller),
    revoke: (caller: Caller, id: string): Promise<TokenInfo> => revokeToken(core, caller, id),
  };
}
export type TokensService = ReturnType<typeof tokensService>;
