import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import {
  bodyAad,
  decryptBody,
  encryptBody,
  generateDataKey,
  kekId,
  MAX_RECORDS_PER_DATA_KEY,
  unwrapDataKey,
  wrapDataKey,
  type WrappedKey,
} from '../../src/canon/envelope.ts';
import { isSigilError } from '../../src/core/errors.ts';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return isSigilError(err) ? err.code : 'not-a-sigil-error';
  }
  return undefined;
}

const dataKey = generateDataKey();
const kek = generateDataKey();
const body = Buffer.from('{"kind":"user_data","payload":"secret"}');

describe('record body encryption', () => {
  it('binds seq and id through a documented AAD', () => {
    expect(Buffer.from(bodyAad(7, 'rec_a')).toString()).toBe(
      canonicalize({ domain: 'sigil.body.v1', seq: 7, id: 'rec_a' }),
    );
    expect(codeOf(() => bodyAad(-1, 'rec_a'))).toBe('bad_request');
    expect(codeOf(() => bodyAad(1.5, 'rec_a'))).toBe('bad_request');
    expect(codeOf(() => bodyAad(1, ''))).toBe('bad_request');
    // Written out, not canonicalised per call: the same bytes for any seq and any id.
    for (const [seq, id] of [
      [0, 'rec_0'],
      [Number.MAX_SAFE_INTEGER, 'rec_z'],
      [2 ** 52, 'a "quoted" \\ id\n\u0001 é 🙂'],
    ] as const) {
      expect(Buffer.from(bodyAad(seq, id)).toString()).toBe(
        canonicalize({ domain: 'sigil.body.v1', seq, id }),
      );
    }
    expect(codeOf(() => bodyAad(1, 'lone \ud800'))).toBe('not_canonicalizable');
  });

  it('round-trips and never reuses a nonce', () => {
    const a = encryptBody(dataKey, 7, 'rec_a', body);
    const b = encryptBody(dataKey, 7, 'rec_a', body);
    expect(Buffer.from(a.subarray(0, 12))).not.toEqual(Buffer.from(b.subarray(0, 12)));
    expect(a.length).toBe(12 + body.length + 16);
    expect(Buffer.from(decryptBody(dataKey, 7, 'rec_a', a))).toEqual(body);
    expect(Buffer.from(a).includes(Buffer.from('secret'))).toBe(false);
  });

  it('fails when the ciphertext is moved to another seq or id, or altered', () => {
    const sealed = encryptBody(dataKey, 7, 'rec_a', body);
    expect(codeOf(() => decryptBody(dataKey, 8, 'rec_a', sealed))).toBe('decrypt_failed');
    expect(codeOf(() => decryptBody(dataKey, 7, 'rec_b', sealed))).toBe('decrypt_failed');
    expect(codeOf(() => decryptBody(generateDataKey(), 7, 'rec_a', sealed))).toBe('decrypt_failed');
    for (const i of [0, 12, sealed.length - 1]) {
      const bad = sealed.slice();
      bad[i]! ^= 1;
      expect(codeOf(() => decryptBody(dataKey, 7, 'rec_a', bad))).toBe('decrypt_failed');
    }
    expect(codeOf(() => decryptBody(dataKey, 7, 'rec_a', sealed.subarray(0, 20)))).toBe(
      'decrypt_failed',
    );
  });

  it('swapping two stored bodies is detected', () => {
    const one = encryptBody(dataKey, 1, 'rec_1', Buffer.from('one'));
    const two = encryptBody(dataKey, 2, 'rec_2', Buffer.from('two'));
    expect(codeOf(() => decryptBody(dataKey, 1, 'rec_1', two))).toBe('decrypt_failed');
    expect(codeOf(() => decryptBody(dataKey, 2, 'rec_2', one))).toBe('decrypt_failed');
  });

  it('exposes the per-key message limit for random nonces', () => {
    expect(MAX_RECORDS_PER_DATA_KEY).toBe(2 ** 32);
  });
});

describe('data key wrapping', () => {
  it('round-trips under the KEK', () => {
    const wrapped = wrapDataKey(dataKey, kek);
    expect(wrapped.alg).toBe('A256GCM-KW');
    expect(wrapped.kek_id).toBe(kekId(kek));
    expect(Buffer.from(unwrapDataKey(wrapped, kek))).toEqual(Buffer.from(dataKey));
  });

  it('identifies the KEK by a domain-separated hash prefix', () => {
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.from('sigil.kek-id.v1'), kek]))
      .digest()
      .subarray(0, 8)
      .toString('hex');
    expect(kekId(kek)).toBe(expected);
  });

  it('reports a wrong master key before decrypting', () => {
    const wrapped = wrapDataKey(dataKey, kek);
    expect(codeOf(() => unwrapDataKey(wrapped, generateDataKey()))).toBe('master_key_invalid');
  });

  it('detects a damaged or malformed wrapped key', () => {
    const wrapped = wrapDataKey(dataKey, kek);
    const ct = Buffer.from(wrapped.nonce_ct, 'base64url');
    ct[20]! ^= 1;
    const damaged = { ...wrapped, nonce_ct: ct.toString('base64url') };
    expect(codeOf(() => unwrapDataKey(damaged, kek))).toBe('decrypt_failed');
    for (const bad of [
      null,
      { ...wrapped, alg: 'A128GCM' },
      { ...wrapped, kek_id: 'xyz' },
      { ...wrapped, nonce_ct: '!!' },
    ]) {
      expect(codeOf(() => unwrapDataKey(bad as WrappedKey, kek))).toBe('decrypt_failed');
    }
  });

  it('rewraps under a new KEK without touching the data key', () => {
    const next = generateDataKey();
    const rewrapped = wrapDataKey(unwrapDataKey(wrapDataKey(dataKey, kek), kek), next);
    expect(Buffer.from(unwrapDataKey(rewrapped, next))).toEqual(Buffer.from(dataKey));
    expect(codeOf(() => unwrapDataKey(rewrapped, kek))).toBe('master_key_invalid');
  });

  it('accepts only 32-byte keys', () => {
    expect(codeOf(() => wrapDataKey(new Uint8Array(16), kek))).toBe('bad_request');
    expect(codeOf(() => wrapDataKey(dataKey, new Uint8Array(16)))).toBe('bad_request');
    expect(codeOf(() => encryptBody(new Uint8Array(16), 0, 'a', body))).toBe('bad_request');
  });
});
