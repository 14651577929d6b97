import { describe, expect, it } from 'vitest';
import {
  decodeCbor,
  encodeCbor,
  generateKeyPair,
  sign,
  signedPayload,
  signTyped,
  toHex,
  TYPED_SIGNATURE_DOMAIN,
  verify,
  verifyTyped,
  type SignerType,
} from '../../src/core/index.ts';
import { expectCode } from './helpers.ts';

const human: SignerType = { type: 'human' };
const aiA: SignerType = { type: 'ai', delegationId: 'a'.repeat(64) };
const aiB: SignerType = { type: 'ai', delegationId: 'b'.repeat(64) };
const message = new TextEncoder().encode('approve proposal 7');

describe('signedPayload', () => {
  it('has a stable CBOR shape (golden bytes)', () => {
    expect(toHex(signedPayload(human, Uint8Array.of(1, 2, 3)))).toBe(
      'a4' +
        '66646f6d61696e' + // "domain"
        '7818736967696c2e74797065642d7369676e61747572652e7631' + // "sigil.typed-signature.v1"
        '676d657373616765' + // "message"
        '43010203' + // h'010203'
        '6b7369676e65725f74797065' + // "signer_type"
        'a1' +
        '6474797065' +
        '6568756d616e' + // {"type": "human"}
        '6e736368656d615f76657273696f6e' + // "schema_version"
        '01',
    );
    expect(
      toHex(signedPayload({ type: 'ai', delegationId: 'ab'.repeat(32) }, new Uint8Array(0))),
    ).toBe(
      'a4' +
        '66646f6d61696e7818736967696c2e74797065642d7369676e61747572652e7631' +
        '676d657373616765' +
        '40' +
        '6b7369676e65725f74797065' +
        'a2' +
        '6474797065' +
        '626169' + // "type": "ai"
        '6d64656c65676174696f6e5f6964' +
        '7840' +
        '6162'.repeat(32) + // "delegation_id": "abab…"
        '6e736368656d615f76657273696f6e01',
    );
  });

  it('decodes to the documented map', () => {
    expect(decodeCbor(signedPayload(aiA, message))).toEqual({
      domain: TYPED_SIGNATURE_DOMAIN,
      schema_version: 1,
      signer_type: { type: 'ai', delegation_id: 'a'.repeat(64) },
      message,
    });
  });

  it('is the deterministic encoding of its map at every byte-string length form, for every signer', () => {
    // Lengths at each boundary of the CBOR byte-string head (1, 2, 3 and 5 bytes).
    for (const length of [0, 1, 23, 24, 255, 256, 65_535, 65_536]) {
      const msg = Uint8Array.from({ length }, (_, i) => (i * 31 + length) & 0xff);
      for (const signer of [human, aiA, aiB, human]) {
        const signerType =
          signer.type === 'human'
            ? { type: 'human' }
            : { type: 'ai', delegation_id: signer.delegationId };
        expect(toHex(signedPayload(signer, msg))).toBe(
          toHex(
            encodeCbor({
              domain: TYPED_SIGNATURE_DOMAIN,
              schema_version: 1,
              signer_type: signerType,
              message: msg,
            }),
          ),
        );
      }
    }
  });

  it('differs per signer type and per delegation', () => {
    const payloads = [human, aiA, aiB].map((s) => toHex(signedPayload(s, message)));
    expect(new Set(payloads).size).toBe(3);
  });
});

describe('signTyped / verifyTyped', () => {
  const { publicKey, privateKey } = generateKeyPair();

  it('verifies under the signer type it was made with', () => {
    for (const signer of [human, aiA, aiB]) {
      const sig = signTyped(privateKey, signer, message);
      expect(sig.length).toBe(64);
      expect(verifyTyped(publicKey, signer, message, sig)).toBe(true);
    }
  });

  it('an AI signature never verifies as human, and vice versa', () => {
    const aiSig = signTyped(privateKey, aiA, message);
    const humanSig = signTyped(privateKey, human, message);
    expect(verifyTyped(publicKey, human, message, aiSig)).toBe(false);
    expect(verifyTyped(publicKey, aiA, message, humanSig)).toBe(false);
  });

  it('a signature under one delegation fails under another', () => {
    const sig = signTyped(privateKey, aiA, message);
    expect(verifyTyped(publicKey, aiB, message, sig)).toBe(false);
  });

  it('is not a plain signature over the message', () => {
    const plain = sign(privateKey, message);
    expect(verifyTyped(publicKey, human, message, plain)).toBe(false);
    expect(verify(publicKey, message, signTyped(privateKey, human, message))).toBe(false);
  });

  it('fails for another message or key', () => {
    const sig = signTyped(privateKey, human, message);
    expect(verifyTyped(publicKey, human, Uint8Array.of(1), sig)).toBe(false);
    expect(verifyTyped(generateKeyPair().publicKey, human, message, sig)).toBe(false);
  });

  const badSigners: [string, unknown][] = [
    ['uppercase hex', { type: 'ai', delegationId: 'A'.repeat(64) }],
    ['63 chars', { type: 'ai', delegationId: 'a'.repeat(63) }],
    ['65 chars', { type: 'ai', delegationId: 'a'.repeat(65) }],
    ['non-hex', { type: 'ai', delegationId: 'g'.repeat(64) }],
    ['missing delegation id', { type: 'ai' }],
    ['number delegation id', { type: 'ai', delegationId: 7 }],
    ['human with a delegation id', { type: 'human', delegationId: 'a'.repeat(64) }],
    ['unknown type', { type: 'robot' }],
    ['snake_case field', { type: 'ai', delegation_id: 'a'.repeat(64) }],
    ['a string', 'human'],
    ['null', null],
  ];

  it.each(badSigners)(
    'invalid signer (%s): sign throws invalid_signer_type, verify is false',
    (_n, bad) => {
      const signer = bad as SignerType;
      expectCode(() => signTyped(privateKey, signer, message), 'invalid_signer_type');
      expectCode(() => signedPayload(signer, message), 'invalid_signer_type');
      const sig = signTyped(privateKey, aiA, message);
      expect(verifyTyped(publicKey, signer, message, sig)).toBe(false);
    },
  );
});
