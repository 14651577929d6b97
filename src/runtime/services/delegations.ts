/**
 * Delegations: an AI agent acts for a human only through a signed authority chain. A human
 * (or an agent, onward, never wider and at most five links deep) grants actions to a grantee;
 * Sigil's delegation key signs the link on behalf of the grantor it authenticated. The id is
 * the hash of the chain; revoking a delegation withdraws it and every delegation built on it,
 * and the next request of every token on them is denied by authority-chain-valid.
 */
import type { KeyObject } from 'node:crypto';
import { canonicalJson } from '../../core/canonical.ts';
import { isDid } from '../../core/did.ts';
import { SigilError } from '../../core/errors.ts';
import {
  MAX_AUTHORITY_CHAIN_LINKS,
  delegationId,
  signAuthorityLink,
  type AuthorityLink,
  type ChainWithdrawal,
} from '../../gatekeeper/index.ts';
import { isAction } from '../../policy/index.ts';
import { asJson, iso, judgeRow, newId, type RuntimeCore } from '../core.ts';
import { VIEWS } from '../view-ns.ts';
import { heldActions, type Caller } from '../decide.ts';

/** One link as stored and shown (snake_case on the wire). */
export interface AuthorityLinkInfo {
  grantor: string;
  grantee: string;
  permissions: string[];
  grantor_public_key: string;
  signature: string;
}

/** A delegation as sealed in its `delegation_event` record and kept in the store. */
export interface DelegationInfo {
  delegation_id: string;
  nonce: string;
  /** The delegation this one extends (onward delegation), or null for a human's grant. */
  parent: string | null;
  /** The human the chain starts from: whose data the agents act on. */
  principal: string;
  grantee: string;
  permissions: string[];
  chain: AuthorityLinkInfo[];
  created_by: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

/** The key that signs delegation links. */
export interface DelegationSigner {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** A caller's delegation resolved for a decision: the chain, and why it is withdrawn (or null). */
export interface ResolvedAuthority {
  chain: AuthorityLink[];
  principal: string | null;
  withdrawn: ChainWithdrawal | null;
}

function toLink(l: AuthorityLinkInfo): AuthorityLink {
  return {
    grantor: l.grantor,
    grantee: l.grantee,
    permissions: [...l.permissions],
    grantorPublicKey: l.grantor_public_key,
    signature: l.signature,
  };
}

function toInfo(l: AuthorityLink): AuthorityLinkInfo {
  return {
    grantor: l.grantor,
    grantee: l.grantee,
    permissions: [...l.permissions],
    grantor_public_key: l.grantorPublicKey,
    signature: l.signature,
  };
}

const HEX64 = /^[0-9a-f]{64}$/;

async function stored(core: RuntimeCore, id: string): Promise<DelegationInfo | undefined> {
  if (!HEX64.test(id)) return undefined;
  const read = await VIEWS.delegations.read(core.log.views, id);
  // Rolled back past its revocation (its old MAC still good): refused, never in force again.
  const judged = judgeRow(core, 'delegation_event', VIEWS.delegations.name, id, read);
  if (judged !== undefined) await judged;
  return read?.value;
}

/**
 * Rows whose id was found to be the hash of their own chain and nonce. Only frozen rows enter
 * (the view reader's, deep-frozen and replaced by a new object whenever the row changes), so a
 * row known here still holds exactly what was hashed; revocation and expiry are checked on
 * every use.
 */
const ownChainChecked = new WeakSet<DelegationInfo>();

/** Whether the row's id is the hash of its own chain (`links`, the row's) and nonce. */
function idOfOwnChain(row: DelegationInfo, links: AuthorityLink[]): boolean {
  if (ownChainChecked.has(row)) return true;
  const holds = delegationId(links, row.nonce) === row.delegation_id;
  if (holds && Object.isFrozen(row) && Object.isFrozen(row.chain)) ownChainChecked.add(row);
  return holds;
}

/**
 * Resolves delegation `id` and every delegation it extends, checking each on use: present, its
 * id the hash of its own chain (an edited row is caught here), its chain extending its
 * parent's, not revoked and not expired at `now`. The chain is returned even when withdrawn,
 * so the sealed decision shows what was presented.
 */
export async function resolveAuthority(
  core: RuntimeCore,
  id: string,
  now: number,
): Promise<ResolvedAuthority> {
  const first = await stored(core, id);
  if (first === undefined) {
    return {
      chain: [],
      principal: null,
      withdrawn: {
        description: 'Delegation is unknown — no authority chain',
        evidence: [`delegation_id: ${id}`],
      },
    };
  }
  const chain = first.chain.map(toLink);
  const withdraw = (description: string, evidence: string[]): ResolvedAuthority => ({
    chain,
    principal: first.principal,
    withdrawn: { description, evidence },
  });
  let current: DelegationInfo | undefined = first;
  let at = id;
  for (let depth = 0; current !== undefined; depth++) {
    // The first delegation's links are the chain itself: compared with it only further up.
    const links = depth === 0 ? chain : current.chain.map(toLink);
    if (
      depth >= MAX_AUTHORITY_CHAIN_LINKS ||
      current.delegation_id !== at ||
      !idOfOwnChain(current, links) ||
      links.length !== chain.length - depth ||
      (depth > 0 &&
        links.some((l, i) => canonicalJson(asJson(l)) !== canonicalJson(asJson(chain[i]))))
    ) {
      return withdraw('Delegation record does not match its chain — altered', [
        `delegation_id: ${at}`,
      ]);
    }
    if (current.revoked_at !== null) {
      return withdraw('Delegation is revoked', [
        `delegation_id: ${at}`,
        `revoked_at: ${current.revoked_at}`,
      ]);
    }
    if (current.expires_at !== null && !(now < Date.parse(current.expires_at))) {
      return withdraw('Delegation has expired', [
        `delegation_id: ${at}`,
        `expires_at: ${current.expires_at}`,
      ]);
    }
    if (current.parent === null) {
      if (links.length !== 1) {
        return withdraw('Delegation chain has no root grant', [`delegation_id: ${at}`]);
      }
      break;
    }
    at = current.parent;
    current = await stored(core, at);
    if (current === undefined) {
      return withdraw('Delegation extends an unknown delegation — broken', [
        `delegation_id: ${at}`,
      ]);
    }
  }
  return { chain, principal: first.principal, withdrawn: null };
}

function permissionsOf(actions: readonly string[]): string[] {
  const out = [...new Set(actions.map((a) => a.trim()))].sort();
  if (out.length === 0)
    throw new SigilError('bad_request', 'a delegation names at least one action');
  for (const a of out) {
    if (!isAction(a))
      throw new SigilError('bad_request', `not an action: ${a}`, { field: 'actions' });
  }
  return out;
}

/**
 * Creates a delegation from the caller to `to` for `actions`. A human grants at most what its
 * level and token scopes allow; an agent delegates onward from its own delegation, never wider
 * and at most five links deep. ('delegation_too_wide', 'delegation_too_deep', 'delegation_invalid').
 */
export async function createDelegation(
  core: RuntimeCore,
  signer: DelegationSigner,
  caller: Caller,
  input: { to: string; actions: readonly string[]; ttlMs?: number | null },
): Promise<DelegationInfo> {
  if (!isDid(input.to)) throw new SigilError('invalid_did', 'the grantee must be a DID');
  const permissions = permissionsOf(input.actions);
  const d = await core.require(caller, {
    action: 'delegation.create',
    target: `delegations/${input.to}`,
    payload: { grantee: input.to, permissions },
  });
  const now = core.now();
  let base: AuthorityLink[] = [];
  let parent: DelegationInfo | null = null;
  const held = new Set(heldActions(caller.loa, caller.scopes, core.flags()));
  if (caller.signer.type === 'ai') {
    const own = await resolveAuthority(core, caller.signer.delegationId, now);
    if (own.withdrawn) throw new SigilError('delegation_invalid', own.withdrawn.description);
    base = own.chain;
    parent = (await stored(core, caller.signer.delegationId)) ?? null;
    for (const p of held) if (!base.at(-1)!.permissions.includes(p)) held.delete(p);
  }
  const wider = permissions.filter((p) => !held.has(p));
  if (wider.length > 0) {
    throw new SigilError('delegation_too_wide', `the grantor does not hold: ${wider.join(', ')}`);
  }
  if (base.length >= MAX_AUTHORITY_CHAIN_LINKS) {
    throw new SigilError(
      'delegation_too_deep',
      `an authority chain has at most ${MAX_AUTHORITY_CHAIN_LINKS} links`,
    );
  }
  const link = signAuthorityLink(signer.privateKey, signer.publicKey, {
    grantor: caller.subject,
    grantee: input.to,
    permissions,
  });
  const chain = [...base, link];
  const nonce = newId();
  const ttl = input.ttlMs ?? null;
  const own = ttl === null ? null : now + ttl;
  const inherited = parent?.expires_at == null ? null : Date.parse(parent.expires_at);
  const expires = own === null ? inherited : inherited === null ? own : Math.min(own, inherited);
  const info: DelegationInfo = {
    delegation_id: delegationId(chain, nonce),
    nonce,
    parent: parent?.delegation_id ?? null,
    principal: chain[0]!.grantor,
    grantee: input.to,
    permissions,
    chain: chain.map(toInfo),
    created_by: caller.subject,
    created_at: iso(now),
    expires_at: expires === null ? null : iso(expires),
    revoked_at: null,
  };
  await core.append(
    'delegation_event',
    { event: 'created', delegation: asJson(info) },
    { links: [{ rel: 'decision', id: d.decision_id }] },
  );
  return info;
}

/** One delegation by id ('delegation_not_found'); its grantors, its grantee and Root may read it. */
export async function getDelegation(
  core: RuntimeCore,
  caller: Caller,
  id: string,
): Promise<DelegationInfo> {
  await core.require(caller, { action: 'delegation.read', target: `delegations/${id}` });
  const found = await stored(core, id);
  if (found === undefined || !mayManage(caller, found, true)) {
    throw new SigilError('delegation_not_found', `no delegation with id ${id}`);
  }
  return found;
}

/**
 * The delegations the caller may read, newest first: Root sees every one, anyone else those it
 * granted (a link on the chain) or received, exactly as for one delegation.
 */
export async function listDelegations(
  core: RuntimeCore,
  caller: Caller,
): Promise<DelegationInfo[]> {
  await core.require(caller, { action: 'delegation.list', target: 'delegations' });
  const out: DelegationInfo[] = [];
  for (const { value: d } of await VIEWS.delegations.list(core.log.views)) {
    if (mayManage(caller, d, true)) out.push(d);
  }
  return out.sort((a, b) => b.created_at.localeCompare(a.created_at));
}

function mayManage(caller: Caller, d: DelegationInfo, read: boolean): boolean {
  return (
    caller.loa === 'root' ||
    d.chain.some((l) => l.grantor === caller.subject) ||
    (read && d.grantee === caller.subject)
  );
}

/**
 * Revokes a delegation at once (a grantor on its chain, or Root): every delegation extending it
 * and every token built on either is denied from the next request ('delegation_not_found').
 */
export async function revokeDelegation(
  core: RuntimeCore,
  caller: Caller,
  id: string,
): Promise<DelegationInfo> {
  await core.require(caller, { action: 'delegation.revoke', target: `delegations/${id}` });
  const found = await stored(core, id);
  if (found === undefined)
    throw new SigilError('delegation_not_found', `no delegation with id ${id}`);
  if (!mayManage(caller, found, false)) {
    throw new SigilError('forbidden', 'only a grantor on the chain or Root may revoke it');
  }
  if (found.revoked_at !== null) return found;
  const revoked = { ...found, revoked_at: iso(core.now()) };
  await core.append('delegation_event', {
    event: 'revoked',
    by: caller.subject,
    delegation: asJson(revoked),
  });
  return revoked;
}

/**
 * The delegation an AI token is built on: it must exist, be in force, and end at the token's
 * subject ('delegation_not_found', 'delegation_invalid').
 */
export async function delegationForToken(
  core: RuntimeCore,
  id: string,
  subject: string,
): Promise<DelegationInfo> {
  const found = await stored(core, id);
  if (found === undefined)
    throw new SigilError('delegation_not_found', `no delegation with id ${id}`);
  const resolved = await resolveAuthority(core, id, core.now());
  if (resolved.withdrawn) {
    throw new SigilError('delegation_invalid', resolved.withdrawn.description);
  }
  if (found.grantee !== subject) {
    throw new SigilError(
      'delegation_invalid',
      `delegation ${id} is to ${found.grantee}, not the token's subject ${subject}`,
    );
  }
  return found;
}

/** The delegations room (`runtime.delegations`): signed authority links from humans to agents. */
export function delegationsService(core: RuntimeCore, signer: DelegationSigner) {
  return {
    /** The caller delegates `actions` to `to` (an agent): a signed authority link, sealed. */
    create: (
      caller: Caller,
      input: { to: string; actions: readonly string[]; ttlMs?: number | null },
    ): Promise<DelegationInfo> => createDelegation(core, signer, caller, input),
    get: (caller: Caller, id: string): Promise<DelegationInfo> => getDelegation(core, caller, id),
    /** The delegations the caller granted or received (every one for Root). */
    list: (caller: Caller): Promise<DelegationInfo[]> => listDelegations(core, caller),
    /** Revokes a delegation; every token built on it or on a delegation extending it stops. */
    revoke: (caller: Caller, id: string): Promise<DelegationInfo> =>
      revokeDelegation(core, caller, id),
  };
}
export type DelegationsService = ReturnType<typeof delegationsService>;
