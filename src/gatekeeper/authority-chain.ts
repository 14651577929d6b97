/**
 * Authority chains: one to five signed delegation links from a grantor to the actor.
 * Each link is signed (plain Ed25519) by a key the registry binds to its grantor, over the
 * canonical {domain, schema_version, grantor, grantee, permissions (sorted)}, and every
 * requested permission must be held by the actor and passed down by every link.
 */
import type { KeyObject } from 'node:crypto';
import { canonicalBytes } from '../core/canonical.ts';
import { publicKeyToRaw, sign, verifyWithRawKey } from '../core/ed25519.ts';
import { toBase64Url } from '../core/encoding.ts';
import { sha256Hex } from '../core/hash.ts';
import { memoizeString } from './memo.ts';
import { decodeB64, isTrustedKey } from './trusted-keys.ts';
import type { AuthorityLink, Did, TrustedKeys } from './types.ts';

/** Domain of the authority-link signing body. */
export const AUTHORITY_LINK_DOMAIN = 'sigil.authority-link.v1';
/** The longest chain accepted. */
export const MAX_AUTHORITY_CHAIN_LINKS = 5;

/** The signed fields of a link. */
export type AuthorityGrant = Pick<AuthorityLink, 'grantor' | 'grantee' | 'permissions'>;

/** Canonical bytes a grantor signs for one link. */
export function authorityLinkSigningBytes(grant: AuthorityGrant): Uint8Array {
  return canonicalBytes({
    domain: AUTHORITY_LINK_DOMAIN,
    schema_version: 1,
    grantor: grant.grantor,
    grantee: grant.grantee,
    permissions: [...grant.permissions].sort(),
  });
}

/** Signs a delegation from `grant.grantor` to `grant.grantee` with the grantor's key. */
export function signAuthorityLink(
  privateKey: KeyObject,
  publicKey: KeyObject,
  grant: AuthorityGrant,
): AuthorityLink {
  return {
    grantor: grant.grantor,
    grantee: grant.grantee,
    permissions: [...grant.permissions],
    grantorPublicKey: toBase64Url(publicKeyToRaw(publicKey)),
    signature: toBase64Url(sign(privateKey, authorityLinkSigningBytes(grant))),
  };
}

/** Domain of a delegation id: the hash of a chain and the nonce that makes each grant distinct. */
export const DELEGATION_ID_DOMAIN = 'sigil.delegation.v1';

/**
 * A delegation's id: hex SHA-256 over the canonical {domain, nonce, links (every signed
 * field and signature, permissions sorted)}. Ed25519 is deterministic, so the nonce keeps a
 * grant made again after a revocation from reusing the revoked id.
 */
export function delegationId(chain: readonly AuthorityLink[], nonce: string): string {
  return sha256Hex(
    canonicalBytes({
      domain: DELEGATION_ID_DOMAIN,
      nonce,
      links: chain.map((l) => ({
        grantor: l.grantor,
        grantee: l.grantee,
        permissions: [...l.permissions].sort(),
        grantor_public_key: l.grantorPublicKey,
        signature: l.signature,
      })),
    }),
  );
}

/**
 * Why a chain the runtime resolved is no longer in force (revoked, expired, unknown, altered):
 * the runtime's finding, reported by authority-chain-valid before the chain itself is checked.
 */
export interface ChainWithdrawal {
  description: string;
  evidence: string[];
}

// Links whose signature verified, by signature, with every other field it covers (the
// grantor's key and the signed fields): a link is taken as verified only when all of them are
// equal, permissions in the same order. The same few links stand behind every request of an
// agent; bounded (the oldest leaves first), failures never cached.
const VERIFIED_LINKS_MAX = 4096;
const verifiedLinks = new Map<string, AuthorityLink>();

function verifiedBefore(link: AuthorityLink): boolean {
  const seen = verifiedLinks.get(link.signature);
  return (
    seen !== undefined &&
    seen.grantorPublicKey === link.grantorPublicKey &&
    seen.grantor === link.grantor &&
    seen.grantee === link.grantee &&
    seen.permissions.length === link.permissions.length &&
    seen.permissions.every((p, i) => p === link.permissions[i])
  );
}

function linkSignatureValid(link: AuthorityLink, key: Uint8Array, signature: Uint8Array): boolean {
  if (!verifyWithRawKey(key, authorityLinkSigningBytes(link), signature)) return false;
  if (verifiedLinks.size >= VERIFIED_LINKS_MAX) {
    verifiedLinks.delete(verifiedLinks.keys().next().value!);
  }
  // A copy: the caller's link object may change after this check.
  verifiedLinks.set(link.signature, { ...link, permissions: [...link.permissions] });
  return true;
}

// Grantor keys as decoded from their text: the few keys behind every chain, decoded once.
// Internal: the bytes are only compared, never handed out.
const grantorKey = memoizeString(decodeB64, 1024);

/** What an authority chain is checked against. */
export interface AuthorityChainCheck {
  chain: readonly AuthorityLink[];
  actor: Did;
  actorPermissions: readonly string[];
  requested: readonly string[];
  trustedKeys: TrustedKeys;
  withdrawn?: ChainWithdrawal | null;
}

/** Why a chain failed: a description and evidence lines; null when the chain is valid. */
export function authorityChainProblem(
  check: AuthorityChainCheck,
): { description: string; evidence: string[] } | null {
  const { chain: links, actor } = check;
  if (check.withdrawn) return check.withdrawn;
  if (links.length === 0) {
    return {
      description: 'Authority chain is empty — no delegation path',
      evidence: ['authority_chain: empty'],
    };
  }
  if (links.length > MAX_AUTHORITY_CHAIN_LINKS) {
    return {
      description: `Authority chain may contain at most five signed links (${MAX_AUTHORITY_CHAIN_LINKS})`,
      evidence: [`depth: ${links.length}`],
    };
  }
  for (let i = 0; i + 1 < links.length; i++) {
    const here = links[i]!;
    const next = links[i + 1]!;
    if (here.grantee !== next.grantor) {
      return {
        description: 'Authority chain is broken — delegation gap',
        evidence: [
          `link[${i}].grantee: ${here.grantee}`,
          `link[${i + 1}].grantor: ${next.grantor}`,
        ],
      };
    }
  }
  const last = links[links.length - 1]!;
  if (last.grantee !== actor) {
    return {
      description: 'Authority chain does not terminate at actor',
      evidence: [`terminal: ${last.grantee}`, `actor: ${actor}`],
    };
  }
  for (const [i, link] of links.entries()) {
    const key = grantorKey(link.grantorPublicKey);
    if (key === null || key.length !== 32) {
      return {
        description: `link[${i}] grantor_public_key is not 32 bytes`,
        evidence: [`key_len: ${key?.length ?? 'malformed'}`],
      };
    }
    if (!check.trustedKeys.has(link.grantor)) {
      return {
        description: `link[${i}] grantor_public_key is unresolved for grantor DID`,
        evidence: [`grantor: ${link.grantor}`],
      };
    }
    if (!isTrustedKey(check.trustedKeys, link.grantor, key)) {
      return {
        description: `link[${i}] grantor_public_key is not bound to grantor DID`,
        evidence: [`grantor: ${link.grantor}`],
      };
    }
    if (verifiedBefore(link)) continue;
    const signature = decodeB64(link.signature);
    if (signature === null || signature.length !== 64) {
      return {
        description: `link[${i}] signature is not 64 bytes (required for Ed25519)`,
        evidence: [`sig_len: ${signature?.length ?? 'malformed'}`],
      };
    }
    if (!linkSignatureValid(link, key, signature)) {
      return {
        description: `link[${i}] Ed25519 signature is cryptographically invalid`,
        evidence: [`grantor: ${link.grantor}`, `grantee: ${link.grantee}`],
      };
    }
  }
  for (const permission of check.requested) {
    if (!check.actorPermissions.includes(permission)) {
      return {
        description: 'Requested permission is absent from actor authority context',
        evidence: [`actor: ${actor}`, `requested_permission: ${permission}`],
      };
    }
    for (const [i, link] of links.entries()) {
      if (!link.permissions.includes(permission)) {
        return {
          description: 'Requested permission is absent from authority chain scope',
          evidence: [
            `link_index: ${i}`,
            `grantor: ${link.grantor}`,
            `grantee: ${link.grantee}`,
            `requested_permission: ${permission}`,
          ],
        };
      }
    }
  }
  return null;
}
