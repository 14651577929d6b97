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
});
