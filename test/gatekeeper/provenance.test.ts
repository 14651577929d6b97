import { describe, expect, it } from 'vitest';
import { canonicalBytes } from '../../src/core/canonical.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import {
  PROVENANCE_DOMAIN,
  actionHash,
  mcpActionHash,
  provenanceSigningBytes,
  verifyProvenance,
} from '../../src/gatekeeper/provenance.ts';
import {
  ACTOR,
  AI,
  HUMAN,
  TS,
  party,
  provenanceBy,
  registry,
  request,
} from './judicial-fixtures.ts';

describe('provenance', () => {
  it('signs the canonical body with every taxonomy field (null when absent)', () => {
    const bytes = provenanceSigningBytes({
      actor: ACTOR,
      actionHash: 'ab'.repeat(32),
      timestamp: TS,
    });
    expect(new TextDecoder().decode(bytes)).toBe(
      `{"action_hash":"${'ab'.repeat(32)}","actor":"${ACTOR}","domain":"${PROVENANCE_DOMAIN}","independence":null,"review_order":null,"schema_version":1,"timestamp":"${TS}","voice_kind":null}`,
    );
  });

  it('hashes MCP calls over {domain, action, arguments}', () => {
    expect(mcpActionHash('search', { q: 'x' })).toBe(
      sha256Hex(
        canonicalBytes({ domain: 'sigil.mcp-action.v1', action: 'search', arguments: { q: 'x' } }),
      ),
    );
    expect(mcpActionHash('search', { q: 'x' })).not.toBe(mcpActionHash('search', { q: 'y' }));
  });

  it('hashes requests independently of permission order', () => {
    expect(actionHash(request({ permissions: ['a', 'b'] }))).toBe(
      actionHash(request({ permissions: ['b', 'a'] })),
    );
    expect(actionHash(request())).not.toBe(actionHash(request({ target: 'canon/user/other' })));
  });

  it('verifies as the signer type it was made with, and only that', () => {
    const p = party(ACTOR);
    const trusted = registry(p);
    expect(verifyProvenance(provenanceBy(p, HUMAN), ACTOR, HUMAN, trusted).ok).toBe(true);
    expect(verifyProvenance(provenanceBy(p, AI), ACTOR, AI, trusted).ok).toBe(true);
    expect(verifyProvenance(provenanceBy(p, AI), ACTOR, HUMAN, trusted).ok).toBe(false);
    expect(verifyProvenance(provenanceBy(p, HUMAN), ACTOR, AI, trusted).ok).toBe(false);
  });

  it('refuses a human voice claimed under an AI signer, even if signed so', () => {
    const p = party(ACTOR);
    const prov = provenanceBy(p, AI, { voiceKind: 'human' });
    const r = verifyProvenance(prov, ACTOR, AI, registry(p));
    expect(r).toMatchObject({
      ok: false,
      description: 'Provenance claims a human voice for an AI signer',
    });
  });

  it('refuses a malformed action hash', () => {
    const p = party(ACTOR);
    const prov = { ...provenanceBy(p, HUMAN), actionHash: 'XYZ' };
    expect(verifyProvenance(prov, ACTOR, HUMAN, registry(p)).ok).toBe(false);
  });

  describe('verifications remembered (decide() does not re-verify what it already checked)', () => {
    const OTHER_AI = { type: 'ai' as const, delegationId: sha256Hex('delegation-2') };

    it('provenance signed in this process is frozen: its signed fields cannot be edited', () => {
      const prov = provenanceBy(party(ACTOR), AI);
      expect(Object.isFrozen(prov)).toBe(true);
      expect(() => {
        (prov as { actionHash: string }).actionHash = 'ab'.repeat(32);
      }).toThrow(TypeError);
    });

    it('provenance signed here still verifies only as its signer, with a trusted key', () => {
      const p = party(ACTOR);
      const prov = provenanceBy(p, AI);
      expect(verifyProvenance(prov, ACTOR, AI, registry(p)).ok).toBe(true);
      expect(verifyProvenance(prov, ACTOR, OTHER_AI, registry(p)).ok).toBe(false);
      expect(verifyProvenance(prov, ACTOR, HUMAN, registry(p)).ok).toBe(false);
      expect(verifyProvenance(prov, ACTOR, AI, registry(party(ACTOR))).ok).toBe(false);
      expect(verifyProvenance(prov, 'did:sigil:someone-else', AI, registry(p)).ok).toBe(false);
    });

    it('a copy of a verified provenance with any signed field changed is verified again, and fails', () => {
      const p = party(ACTOR);
      const prov = provenanceBy(p, AI, { voiceKind: 'synthetic', reviewOrder: 'first-order' });
      expect(verifyProvenance(prov, ACTOR, AI, registry(p)).ok).toBe(true);
      const copy = { ...prov };
      expect(verifyProvenance(copy, ACTOR, AI, registry(p)).ok).toBe(true);
      for (const edit of [
        { timestamp: '2025-06-01T00:00:01Z' },
        { actionHash: sha256Hex('another action') },
        { reviewOrder: 'derivative' as const },
        { independence: 'coordinated' as const },
      ]) {
        expect(verifyProvenance({ ...prov, ...edit }, ACTOR, AI, registry(p)).ok).toBe(false);
      }
      // The remembered success was for the AI signer: the same bytes as another signer fail.
      expect(verifyProvenance(copy, ACTOR, OTHER_AI, registry(p)).ok).toBe(false);
    });
  });
});
