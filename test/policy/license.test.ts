import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/core/canonical.ts';
import { generateKeyPair, publicKeyToRaw, sign } from '../../src/core/ed25519.ts';
import { concatBytes, fromHex, toBase64Url, utf8Encode } from '../../src/core/encoding.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import {
  assertCanMint,
  canonFingerprint,
  createLicense,
  LICENSE_SIGNATURE_DOMAIN,
  verifyLicense,
  type License,
  type LicenseFailure,
} from '../../src/policy/license.ts';

const root = generateKeyPair();
const stranger = generateKeyPair();
const logKey = publicKeyToRaw(generateKeyPair().publicKey);
const RUNTIME = 'runtime-01';
const FINGERPRINT = canonFingerprint('s3cret', logKey, RUNTIME);
const ISSUED = Date.UTC(2025, 0, 1);
const EXPIRES = Date.UTC(2026, 0, 1);
const OWNER = { id: 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK', name: 'Ada' };

const input = {
  owner: OWNER,
  loa: 'mentor' as const,
  issuedAt: ISSUED,
  expiresAt: EXPIRES,
  runtimeId: RUNTIME,
  canonFingerprint: FINGERPRINT,
};
const opts = {
  trustedRootKey: root.publicKey,
  runtimeId: RUNTIME,
  canonFingerprint: FINGERPRINT,
  now: Date.UTC(2025, 5, 1),
  defaultLoa: 'observer' as const,
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isSigilError(err) ? err.code : 'not a SigilError';
  }
  return undefined;
}

function contentOf(l: License): Omit<License, 'seal'> {
  const { seal: _seal, ...content } = l;
  return content;
}

/** Re-seals edited content with `key`, as a forger holding that key would. */
function reseal(content: Omit<License, 'seal'>, key = stranger): License {
  const contentHash = sha256Hex(canonicalJson(content));
  const msg = concatBytes(utf8Encode(LICENSE_SIGNATURE_DOMAIN), fromHex(contentHash));
  return {
    ...content,
    seal: {
      alg: 'ed25519',
      sig: toBase64Url(sign(key.privateKey, msg)),
      pubkey: toBase64Url(publicKeyToRaw(key.publicKey)),
      contentHash,
    },
  };
}

describe('licenses', () => {
  const license = createLicense(input, root);

  it('has the original shape and verifies', () => {
    expect(license).toEqual({
      owner: OWNER,
      loa: 'mentor',
      issuedAt: '2025-01-01T00:00:00.000Z',
      expiresAt: '2026-01-01T00:00:00.000Z',
      bindings: { runtimeId: RUNTIME, canonFingerprint: FINGERPRINT },
      seal: {
        alg: 'ed25519',
        sig: expect.stringMatching(/^[A-Za-z0-9_-]{86}$/),
        pubkey: toBase64Url(publicKeyToRaw(root.publicKey)),
        contentHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    });
    const { seal, ...content } = license;
    expect(seal.contentHash).toBe(sha256Hex(canonicalJson(content)));
    const ok = verifyLicense(JSON.parse(JSON.stringify(license)), opts);
    expect(ok).toEqual({
      ok: true,
      loa: 'mentor',
      owner: OWNER,
      expiresAt: '2026-01-01T00:00:00.000Z',
      license,
    });
  });

  it('allows a license without expiry', () => {
    const forever = createLicense({ ...input, loa: 'root', expiresAt: null }, root);
    expect(verifyLicense(forever, { ...opts, now: Date.UTC(2100, 0, 1) })).toMatchObject({
      ok: true,
      loa: 'root',
      expiresAt: null,
    });
  });

  const tampered = { ...license, loa: 'root' as const };
  const cases: [string, unknown, Partial<typeof opts>, LicenseFailure][] = [
    ['missing', undefined, {}, 'license_missing'],
    ['null', null, {}, 'license_missing'],
    ['not an object', 'license', {}, 'license_malformed'],
    ['extra field', { ...license, note: 'hi' }, {}, 'license_malformed'],
    ['capitalised LOA', { ...license, loa: 'Mentor' }, {}, 'license_malformed'],
    ['bad time', { ...license, issuedAt: '2025-01-01' }, {}, 'license_malformed'],
    ['owner not a DID', { ...license, owner: { id: 'ada', name: 'Ada' } }, {}, 'license_malformed'],
    [
      'other algorithm',
      { ...license, seal: { ...license.seal, alg: 'rsa' } },
      {},
      'license_malformed',
    ],
    ['tampered: LOA raised', tampered, {}, 'license_tampered'],
    [
      'tampered: hash recomputed, seal kept',
      {
        ...tampered,
        seal: {
          ...license.seal,
          contentHash: sha256Hex(canonicalJson(contentOf(tampered))),
        },
      },
      {},
      'license_tampered',
    ],
    [
      'tampered: signature bytes',
      {
        ...license,
        seal: {
          ...license.seal,
          sig: `${license.seal.sig[0] === 'A' ? 'B' : 'A'}${license.seal.sig.slice(1)}`,
        },
      },
      {},
      'license_tampered',
    ],
    ['wrong key: sealed by another Root', reseal(contentOf(license)), {}, 'license_wrong_key'],
    [
      'wrong key: runtime trusts another Root',
      license,
      { trustedRootKey: stranger.publicKey },
      'license_wrong_key',
    ],
    [
      'foreign fingerprint',
      license,
      { canonFingerprint: canonFingerprint('other', logKey, RUNTIME) },
      'license_foreign_fingerprint',
    ],
    ['foreign runtime', license, { runtimeId: 'runtime-02' }, 'license_foreign_fingerprint'],
    ['not yet valid', license, { now: ISSUED - 1 }, 'license_not_yet_valid'],
    ['expired', license, { now: EXPIRES }, 'license_expired'],
    ['NaN clock', license, { now: NaN }, 'license_not_yet_valid'],
  ];

  it.each(cases)('%s → default LOA with %s', (_name, lic, patch, reason) => {
    const r = verifyLicense(lic, { ...opts, ...patch });
    expect(r).toEqual({ ok: false, loa: 'observer', reason });
  });

  it('gives each required failure a distinct reason', () => {
    const reasons = new Set(
      [
        'tampered: LOA raised',
        'wrong key: sealed by another Root',
        'foreign fingerprint',
        'expired',
      ].map((name) => cases.find(([n]) => n === name)![3]),
    );
    expect(reasons.size).toBe(4);
  });

  it('falls back to the configured default, which may be Guest', () => {
    expect(verifyLicense(tampered, { ...opts, defaultLoa: 'guest' })).toMatchObject({
      ok: false,
      loa: 'guest',
    });
  });

  it('refuses invalid input when creating', () => {
    expect(codeOf(() => createLicense({ ...input, owner: { id: 'ada', name: 'A' } }, root))).toBe(
      'bad_request',
    );
    expect(codeOf(() => createLicense({ ...input, expiresAt: ISSUED }, root))).toBe('bad_request');
    expect(codeOf(() => createLicense({ ...input, issuedAt: NaN }, root))).toBe('bad_request');
    expect(codeOf(() => createLicense({ ...input, canonFingerprint: 'x' }, root))).toBe(
      'bad_request',
    );
  });

  it('enforces the single-root policy', () => {
    expect(() => assertCanMint('root', 0)).not.toThrow();
    expect(codeOf(() => assertCanMint('root', 1))).toBe('single_root_violation');
    expect(() => assertCanMint('mentor', 1)).not.toThrow();
  });
});

describe('canon fingerprint', () => {
  it('is deterministic and binds secret, log key and runtime id', () => {
    const other = publicKeyToRaw(generateKeyPair().publicKey);
    const all = [
      canonFingerprint('s3cret', logKey, RUNTIME),
      canonFingerprint('s3cret2', logKey, RUNTIME),
      canonFingerprint('s3cret', other, RUNTIME),
      canonFingerprint('s3cret', logKey, 'runtime-02'),
      canonFingerprint(undefined, logKey, RUNTIME),
      canonFingerprint(undefined, other, RUNTIME),
    ];
    expect(new Set(all).size).toBe(all.length);
    for (const f of all) expect(f).toMatch(/^[0-9a-f]{64}$/);
    expect(canonFingerprint('s3cret', logKey, RUNTIME)).toBe(FINGERPRINT);
  });

  it('rejects an empty secret, a bad key and an empty runtime id', () => {
    expect(codeOf(() => canonFingerprint('', logKey, RUNTIME))).toBe('config_invalid');
    expect(codeOf(() => canonFingerprint('s', logKey.subarray(1), RUNTIME))).toBe('invalid_key');
    expect(codeOf(() => canonFingerprint('s', logKey, ''))).toBe('bad_request');
  });
});
