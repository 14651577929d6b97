import { describe, expect, it } from 'vitest';
import { isSigilError } from '../../src/core/errors.ts';
import {
  CONSENT_PURPOSES,
  activeBailments,
  activeConsents,
  evaluateConsent,
  findCoveringConsent,
  isActive,
  parseBailment,
  parseConsentGrant,
  revokeRecord,
} from '../../src/gatekeeper/consent.ts';
import type { ConsentQuery } from '../../src/gatekeeper/consent.ts';
import { ACTOR, BAILOR, NOW, bailment, grant } from './judicial-fixtures.ts';

const TS0 = '2025-03-01T00:00:00Z';

function query(over: Partial<ConsentQuery> = {}): ConsentQuery {
  return {
    bailments: [bailment()],
    grants: [grant()],
    bailor: BAILOR,
    bailee: ACTOR,
    permissions: ['data:medical:read'],
    now: NOW,
    ...over,
  };
}

describe('consent records', () => {
  it('has the reference purposes', () => {
    expect(CONSENT_PURPOSES).toEqual([
      'retrieval',
      'validation',
      'writeback',
      'import',
      'export',
      'benchmark',
      'trust_check',
    ]);
  });

  it('parses valid records and rejects malformed ones', () => {
    expect(parseBailment(bailment())).toEqual(bailment());
    expect(parseConsentGrant(grant())).toEqual(grant());
    const bad = [
      { ...grant(), purpose: 'training' },
      { ...grant(), extra: true },
      { ...grant(), bailor: 'alice' },
      { ...grant(), createdAt: 'yesterday' },
      { ...grant(), expiresAt: '2024-01-01T00:00:00Z' },
      { ...grant(), revokedAt: undefined },
      bailment(),
    ];
    for (const value of bad) {
      let code: string | undefined;
      try {
        parseConsentGrant(value);
      } catch (err) {
        code = isSigilError(err) ? err.code : 'other';
      }
      expect(code).toBe('invalid_consent');
    }
  });

  it('is active from creation until expiry', () => {
    const g = grant({ createdAt: '2025-06-01T00:00:00Z', expiresAt: '2025-06-02T00:00:00Z' });
    expect(isActive(g, NOW - 1)).toBe(false);
    expect(isActive(g, NOW)).toBe(true);
    expect(isActive(g, Date.parse('2025-06-02T00:00:00Z') - 1)).toBe(true);
    expect(isActive(g, Date.parse('2025-06-02T00:00:00Z'))).toBe(false);
  });

  it('sees a revocation immediately, whatever its time', () => {
    expect(isActive(grant({ revokedAt: '2025-05-31T00:00:00Z' }), NOW)).toBe(false);
    expect(isActive(grant({ revokedAt: '2030-01-01T00:00:00Z' }), NOW)).toBe(false);
    const revoked = revokeRecord(grant(), '2025-06-01T00:00:00Z');
    expect(isActive(revoked, NOW)).toBe(false);
    expect(revokeRecord(revoked, '2026-01-01T00:00:00Z').revokedAt).toBe('2025-06-01T00:00:00Z');
  });

  it('filters active records', () => {
    const live = grant({ id: 'live' });
    const dead = grant({ id: 'dead', expiresAt: '2025-02-01T00:00:00Z' });
    expect(activeConsents([live, dead], NOW)).toEqual([live]);
    expect(
      activeBailments([bailment({ revokedAt: TS0 }), bailment({ id: 'b2' })], NOW),
    ).toHaveLength(1);
  });
});

describe('findCoveringConsent', () => {
  it('finds the bailment and grant that cover the use', () => {
    expect(findCoveringConsent(query())).toEqual({ bailment: bailment(), grant: grant() });
  });

  it('no active bailment', () => {
    const r = evaluateConsent(query({ bailments: [bailment({ revokedAt: TS0 })] }));
    expect(r).toMatchObject({ ok: false, reason: 'no_active_bailment' });
  });

  it('bailment to someone else', () => {
    const r = evaluateConsent(query({ bailments: [bailment({ bailee: 'did:sigil:other' })] }));
    expect(r).toMatchObject({ ok: false, reason: 'bailment_not_to_actor' });
  });

  it('no grant matching bailor, bailee, scope and purpose', () => {
    for (const g of [
      grant({ bailee: 'did:sigil:other' }),
      grant({ bailor: 'did:sigil:other' }),
      grant({ scope: 'data:medical,data:profile' }),
      grant({ purpose: 'export' }),
      grant({ expiresAt: '2025-02-01T00:00:00Z' }),
      grant({ revokedAt: TS0 }),
    ]) {
      expect(evaluateConsent(query({ grants: [g] }))).toMatchObject({
        ok: false,
        reason: 'no_matching_consent',
      });
    }
  });

  it('scope must cover every permission', () => {
    const r = evaluateConsent(query({ permissions: ['data:medical:read', 'profile:delete'] }));
    expect(r).toMatchObject({ ok: false, reason: 'scope_not_covered' });
    expect(findCoveringConsent(query({ permissions: [] }))).not.toBeNull();
  });

  it('honours the purpose when one is asked for', () => {
    expect(findCoveringConsent(query({ purpose: 'retrieval' }))).not.toBeNull();
    expect(evaluateConsent(query({ purpose: 'export' }))).toMatchObject({
      ok: false,
      reason: 'no_active_bailment',
    });
    const exportPair = {
      bailments: [bailment({ purpose: 'export' })],
      grants: [grant({ purpose: 'export' })],
    };
    expect(findCoveringConsent(query({ ...exportPair, purpose: 'export' }))).not.toBeNull();
  });

  it('an expired grant is no consent', () => {
    expect(
      findCoveringConsent(
        query({
          now: Date.parse('2031-01-01T00:00:00Z'),
          grants: [grant({ expiresAt: '2030-01-01T00:00:00Z' })],
        }),
      ),
    ).toBeNull();
  });
});
