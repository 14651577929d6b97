import { describe, expect, it } from 'vitest';
import { toBase64Url } from '../../src/core/encoding.ts';
import {
  AUTHORITY_LINK_DOMAIN,
  authorityChainProblem,
  authorityLinkSigningBytes,
} from '../../src/gatekeeper/authority-chain.ts';
import type { AuthorityChainCheck } from '../../src/gatekeeper/authority-chain.ts';
import { checkInvariant } from '../../src/gatekeeper/invariants.ts';
import type { AuthorityLink } from '../../src/gatekeeper/types.ts';
import { ACTOR, link, party, passingWorld, registry, request } from './judicial-fixtures.ts';
import type { Party } from './judicial-fixtures.ts';

/** A chain root → p1 → … → actor of `n` links, every party trusted. */
function chainOf(n: number, permissions = ['read']): { links: AuthorityLink[]; parties: Party[] } {
  const parties = Array.from({ length: n }, (_, i) => party(`did:sigil:p${i}`));
  const links = parties.map((p, i) => link(p, parties[i + 1]?.did ?? ACTOR, permissions));
  return { links, parties };
}

function checkOf(
  links: AuthorityLink[],
  parties: Party[],
  over: Partial<AuthorityChainCheck> = {},
) {
  return authorityChainProblem({
    chain: links,
    actor: ACTOR,
    actorPermissions: ['read', 'write'],
    requested: ['read'],
    trustedKeys: registry(...parties),
    ...over,
  });
}

describe('authority-chain-valid', () => {
  it('signs the canonical body with sorted permissions', () => {
    const bytes = authorityLinkSigningBytes({
      grantor: 'did:sigil:a',
      grantee: 'did:sigil:b',
      permissions: ['write', 'read'],
    });
    expect(new TextDecoder().decode(bytes)).toBe(
      `{"domain":"${AUTHORITY_LINK_DOMAIN}","grantee":"did:sigil:b","grantor":"did:sigil:a","permissions":["read","write"],"schema_version":1}`,
    );
  });

  it('passes 1 and 5 links', () => {
    for (const n of [1, 2, 5]) {
      const { links, parties } = chainOf(n);
      expect(checkOf(links, parties)).toBeNull();
    }
  });

  it('fails 0 links', () => {
    expect(checkOf([], [])?.description).toBe('Authority chain is empty — no delegation path');
  });

  it('fails 6 links', () => {
    const { links, parties } = chainOf(6);
    expect(checkOf(links, parties)?.description).toContain('at most five');
  });

  it('fails links in the wrong order (a delegation gap)', () => {
    const { links, parties } = chainOf(3);
    const swapped = [links[1]!, links[0]!, links[2]!];
    expect(checkOf(swapped, parties)?.description).toBe(
      'Authority chain is broken — delegation gap',
    );
  });

  it('fails a chain that does not end at the actor', () => {
    const { links, parties } = chainOf(2);
    expect(checkOf(links, parties, { actor: 'did:sigil:someone' })?.description).toBe(
      'Authority chain does not terminate at actor',
    );
  });

  it('fails an untrusted key: grantor unknown, or key bound to another DID', () => {
    const { links, parties } = chainOf(2);
    expect(checkOf(links, parties.slice(1))?.description).toBe(
      'link[0] grantor_public_key is unresolved for grantor DID',
    );
    const stranger = party('did:sigil:p0');
    expect(checkOf(links, [stranger, parties[1]!])?.description).toBe(
      'link[0] grantor_public_key is not bound to grantor DID',
    );
  });

  it('fails a link whose key is trusted but for someone else', () => {
    const mallory = party('did:sigil:mallory');
    const forged: AuthorityLink = { ...link(mallory, ACTOR), grantor: 'did:sigil:p0' };
    expect(checkOf([forged], [mallory, party('did:sigil:p0')])?.description).toBe(
      'link[0] grantor_public_key is not bound to grantor DID',
    );
  });

  it('fails a bad signature (tampered permissions) and malformed lengths', () => {
    const { links, parties } = chainOf(2, ['read']);
    const tampered = [links[0]!, { ...links[1]!, permissions: ['read', 'write'] }];
    expect(checkOf(tampered, parties, { requested: ['read'] })?.description).toBe(
      'link[1] Ed25519 signature is cryptographically invalid',
    );
    const shortSig = [{ ...links[0]!, signature: toBase64Url(new Uint8Array(63)) }, links[1]!];
    expect(checkOf(shortSig, parties)?.description).toContain('signature is not 64 bytes');
    const zeroSig = [{ ...links[0]!, signature: toBase64Url(new Uint8Array(64)) }, links[1]!];
    expect(checkOf(zeroSig, parties)?.description).toContain('cryptographically invalid');
    const shortKey = [
      { ...links[0]!, grantorPublicKey: toBase64Url(new Uint8Array(31)) },
      links[1]!,
    ];
    expect(checkOf(shortKey, parties)?.description).toContain('not 32 bytes');
  });

  it('fails a permission missing from any link', () => {
    const a = party('did:sigil:a');
    const b = party('did:sigil:b');
    const links = [link(a, b.did, ['read', 'write']), link(b, ACTOR, ['read'])];
    expect(checkOf(links, [a, b], { requested: ['read'] })).toBeNull();
    const v = checkOf(links, [a, b], { requested: ['write'] });
    expect(v?.description).toBe('Requested permission is absent from authority chain scope');
    expect(v?.evidence).toContain('link_index: 1');
  });

  it('fails a permission the actor does not hold', () => {
    const { links, parties } = chainOf(1, ['read', 'admin']);
    expect(checkOf(links, parties, { requested: ['admin'] })?.description).toBe(
      'Requested permission is absent from actor authority context',
    );
  });

  it('is enforced as an invariant from the context', () => {
    const { context } = passingWorld();
    expect(checkInvariant('authority-chain-valid', request(), context)).toBeNull();
    expect(
      checkInvariant('authority-chain-valid', request(), { ...context, authorityChain: null })
        ?.invariant,
    ).toBe('authority-chain-valid');
  });

  it('a link verified once is checked again when any signed field changes', () => {
    const { links, parties } = chainOf(1, ['read']);
    expect(checkOf(links, parties)).toBeNull();
    expect(checkOf(links, parties)).toBeNull();
    const widened = { ...links[0]!, permissions: ['read', 'write'] };
    expect(checkOf([widened], parties, { requested: ['write'] })?.description).toMatch(
      /signature is cryptographically invalid/,
    );
    const redirected = { ...links[0]!, grantee: 'did:sigil:other' };
    expect(checkOf([redirected], parties, { actor: 'did:sigil:other' })?.description).toMatch(
      /signature is cryptographically invalid/,
    );
  });
});
