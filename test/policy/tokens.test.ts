import { describe, expect, it } from 'vitest';
import { isSigilError } from '../../src/core/errors.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import {
  checkToken,
  generateToken,
  hashToken,
  issueToken,
  parseDuration,
  scopeAllows,
  type TokenRecord,
} from '../../src/policy/tokens.ts';

const SUBJECT = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK';
const DELEGATION = 'ab'.repeat(32);
const NOW = Date.UTC(2025, 0, 1);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isSigilError(err) ? err.code : 'not a SigilError';
  }
  return undefined;
}

function store(...records: TokenRecord[]) {
  const byHash = new Map(records.map((r) => [r.hash, r]));
  const seen: string[] = [];
  const lookup = (hash: string) => {
    seen.push(hash);
    return byHash.get(hash);
  };
  return { lookup, seen };
}

describe('tokens', () => {
  it('generates sgl_ + base64url(32 bytes) and stores only its SHA-256', () => {
    const { token, hash } = generateToken();
    expect(token).toMatch(/^sgl_[A-Za-z0-9_-]{43}$/);
    expect(hash).toBe(sha256Hex(token));
    expect(hashToken(token)).toBe(hash);
    expect(generateToken().token).not.toBe(token);
  });

  it('issues a validated record and authenticates it until expiry', () => {
    const { token, record } = issueToken(
      { subject: SUBJECT, loa: 'Operator', signer: { type: 'human' }, ttlMs: parseDuration('1h') },
      NOW,
    );
    expect(record).toMatchObject({
      subject: SUBJECT,
      loa: 'operator',
      signer: { type: 'human' },
      createdAt: NOW,
      expiresAt: NOW + 3_600_000,
      revokedAt: null,
      hash: hashToken(token),
    });
    expect(record.id).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(record)).not.toContain(token.slice(4));

    const { lookup, seen } = store(record);
    expect(checkToken(token, lookup, NOW)).toEqual({ ok: true, token: record });
    expect(seen).toEqual([record.hash]);
    expect(checkToken(token, lookup, NOW + 3_599_999).ok).toBe(true);
    expect(checkToken(token, lookup, NOW + 3_600_000)).toEqual({
      ok: false,
      code: 'token_invalid',
      reason: 'expired',
    });
  });

  it('reports unknown, revoked and malformed tokens distinctly', () => {
    const { token, record } = issueToken(
      { subject: SUBJECT, loa: 'root', signer: { type: 'human' } },
      NOW,
    );
    expect(record.expiresAt).toBeNull();
    const revoked = { ...record, revokedAt: NOW };
    expect(checkToken(token, store(revoked).lookup, NOW + 1).ok).toBe(false);
    expect(checkToken(token, store(revoked).lookup, NOW + 1)).toMatchObject({ reason: 'revoked' });
    expect(checkToken(generateToken().token, store(record).lookup, NOW)).toMatchObject({
      reason: 'unknown',
    });
    for (const bad of [
      '',
      'sgl_',
      token.slice(0, -1),
      `${token}A`,
      token.replace('sgl_', 'sgk_'),
      `Bearer ${token}`,
    ]) {
      const { lookup, seen } = store(record);
      expect(checkToken(bad, lookup, NOW)).toEqual({
        ok: false,
        code: 'token_invalid',
        reason: 'malformed',
      });
      expect(seen).toEqual([]); // malformed input never reaches the store
    }
  });

  it('rejects a record whose stored hash does not match the token (loose store lookup)', () => {
    const { token, record } = issueToken(
      { subject: SUBJECT, loa: 'root', signer: { type: 'human' } },
      NOW,
    );
    const other = generateToken();
    const loose = () => ({ ...record, hash: other.hash });
    expect(checkToken(token, loose, NOW)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(checkToken(token, () => ({ ...record, hash: 'zz' }), NOW)).toMatchObject({
      reason: 'unknown',
    });
  });

  it('fails closed on records with missing timestamps', () => {
    const { token, record } = issueToken(
      { subject: SUBJECT, loa: 'root', signer: { type: 'human' } },
      NOW,
    );
    const noRevoked = { ...record, revokedAt: undefined } as unknown as TokenRecord;
    expect(checkToken(token, () => noRevoked, NOW).ok).toBe(false);
    const noExpiry = { ...record, expiresAt: undefined } as unknown as TokenRecord;
    expect(checkToken(token, () => noExpiry, NOW).ok).toBe(false);
  });

  it('binds AI tokens to a delegation id', () => {
    const { record } = issueToken(
      {
        subject: SUBJECT,
        loa: 'operator',
        signer: { type: 'ai', delegationId: DELEGATION },
        scopes: ['mcp.*'],
      },
      NOW,
    );
    expect(record.signer).toEqual({ type: 'ai', delegationId: DELEGATION });
    expect(record.scopes).toEqual(['mcp.*']);
  });

  it.each([
    ['subject not a DID', { subject: 'alice' }],
    ['unknown LOA', { loa: 'admin' }],
    ['AI without delegation', { signer: { type: 'ai' } }],
    ['AI with short delegation', { signer: { type: 'ai', delegationId: 'ab'.repeat(31) } }],
    ['AI with uppercase delegation', { signer: { type: 'ai', delegationId: 'AB'.repeat(32) } }],
    ['human with delegation', { signer: { type: 'human', delegationId: DELEGATION } }],
    ['robot signer', { signer: { type: 'robot' } }],
    ['zero lifetime', { ttlMs: 0 }],
    ['fractional lifetime', { ttlMs: 1.5 }],
    ['bad scope', { scopes: ['canon.*.write'] }],
  ])('refuses to issue: %s', (_name, patch) => {
    const input = { subject: SUBJECT, loa: 'operator', signer: { type: 'human' }, ...patch };
    expect(codeOf(() => issueToken(input as never, NOW))).toBe('bad_request');
  });

  it.each([
    ['30d', 30 * 86_400_000],
    ['12h', 12 * 3_600_000],
    ['15m', 15 * 60_000],
    ['3600s', 3_600_000],
    [' 1d ', 86_400_000],
  ])('parses the duration %j', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '30', 'd', '0d', '-1h', '1.5h', '1w', '10 d', '05m', '99999999999999999d', '1D'])(
    'rejects the duration %j',
    (text) => {
      expect(codeOf(() => parseDuration(text))).toBe('bad_request');
    },
  );

  it('narrows actions by scope', () => {
    expect(scopeAllows(undefined, 'system.commit')).toBe(true);
    expect(scopeAllows([], 'canon.read')).toBe(false);
    expect(scopeAllows(['canon.read'], 'canon.read')).toBe(true);
    expect(scopeAllows(['canon.read'], 'canon.user.write')).toBe(false);
    expect(scopeAllows(['canon.*'], 'canon.user.write')).toBe(true);
    expect(scopeAllows(['canon.*'], 'canonical.read')).toBe(false);
  });
});
