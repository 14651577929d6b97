/**
 * Every export, fed garbage in every argument position, either returns (garbage can be
 * valid input, e.g. any Uint8Array for toHex), returns false (verifiers and predicates),
 * or throws a SigilError with a stable code: never a TypeError or a bare Error.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as core from '../../src/core/index.ts';

const keys = core.generateKeyPair();
const x25519 = generateKeyPairSync('x25519');
const msg = Uint8Array.of(1, 2, 3);
const sig = core.sign(keys.privateKey, msg);
const ai: core.SignerType = { type: 'ai', delegationId: 'd'.repeat(64) };

const garbage: [string, unknown][] = [
  ['undefined', undefined],
  ['null', null],
  ['0', 0],
  ['-1', -1],
  ['1.5', 1.5],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['2^53', 2 ** 53],
  ['empty string', ''],
  ['string', 'did:not:bytes'],
  ['lone surrogate', '\ud800'],
  ['hex-looking string', 'abcd'],
  ['true', true],
  ['bigint', 5n],
  ['symbol', Symbol('g')],
  ['function', () => 1],
  ['empty object', {}],
  ['object', { type: 'ai', delegationId: 1, length: 32 }],
  ['empty array', []],
  ['number array', [1, 2, 3]],
  ['array of 32 numbers', new Array(32).fill(1)],
  ['empty bytes', new Uint8Array(0)],
  ['3 bytes', Uint8Array.of(0xff, 0x00, 0x61)],
  ['31 bytes', new Uint8Array(31)],
  ['33 bytes', new Uint8Array(33)],
  ['65 bytes', new Uint8Array(65)],
  ['Uint16Array', new Uint16Array(16)],
  ['ArrayBuffer', new ArrayBuffer(32)],
  ['Date', new Date(0)],
  ['Map', new Map()],
  ['public KeyObject', keys.publicKey],
  ['private KeyObject', keys.privateKey],
  ['x25519 KeyObject', x25519.publicKey],
];

/** A valid call for every exported function; garbage replaces one argument at a time. */
const validArgs: Record<string, unknown[]> = {
  isSigilError: [new core.SigilError('x', 'y'), 'x'],
  toHex: [msg],
  fromHex: ['0102'],
  toBase64Url: [msg],
  fromBase64Url: ['AQID'],
  toBase64: [msg],
  fromBase64: ['AQID'],
  utf8Encode: ['abc'],
  utf8EncodeInto: ['abc', new Uint8Array(16)],
  utf8Decode: [msg],
  concatBytes: [msg, msg],
  constantTimeEqual: [msg, msg],
  sha256: [msg],
  sha256Hex: ['abc'],
  canonicalJson: [{ a: 1 }],
  canonicalJsonCopy: [{ a: 1 }],
  writtenCanonically: ['{"a":1}'],
  canonicalBytes: [{ a: 1 }],
  generateKeyPair: [],
  sign: [keys.privateKey, msg],
  verify: [keys.publicKey, msg, sig],
  publicKeyFromRaw: [core.publicKeyToRaw(keys.publicKey)],
  publicKeyToRaw: [keys.publicKey],
  verifyWithRawKey: [core.publicKeyToRaw(keys.publicKey), msg, sig],
  encodeCbor: [{ a: 1 }],
  decodeCbor: [Uint8Array.of(0xa0)],
  signedPayload: [ai, msg],
  signTyped: [keys.privateKey, ai, msg],
  verifyTyped: [keys.publicKey, ai, msg, core.signTyped(keys.privateKey, ai, msg)],
  parseDid: ['did:example:abc'],
  isDid: ['did:example:abc'],
  randomBytes: [16],
  aesGcmSeal: [new Uint8Array(32), msg, msg, new Uint8Array(12)],
  aesGcmOpen: [new Uint8Array(32), core.aesGcmSeal(new Uint8Array(32), msg, msg), msg],
  hkdfSha256: [msg, msg, msg, 32],
  scryptKey: ['pw', msg, { N: 16, r: 1, p: 1 }],
  errorContract: ['bad_request'],
};

/** Exports that answer with a boolean instead of throwing. */
const predicates = new Set([
  'isSigilError',
  'constantTimeEqual',
  'verify',
  'verifyWithRawKey',
  'verifyTyped',
  'isDid',
  'writtenCanonically',
]);

const functions = Object.entries(core).filter(
  ([name, value]) => typeof value === 'function' && name !== 'SigilError',
) as [string, (...args: unknown[]) => unknown][];

describe('garbage in, SigilError or false out', () => {
  it('has a valid call for every exported function', () => {
    expect(functions.map(([name]) => name).sort()).toEqual(Object.keys(validArgs).sort());
    for (const [name, fn] of functions) {
      const result = fn(...validArgs[name]!);
      if (predicates.has(name)) expect(result, name).toBe(true);
    }
  });

  it.each(functions.map(([name, fn]) => [name, fn] as const))('%s', (name, fn) => {
    const args = validArgs[name]!;
    const positions = Math.max(args.length, 1);
    for (let pos = 0; pos < positions + 1; pos++) {
      for (const [label, junk] of garbage) {
        // pos === positions: every argument is the same garbage.
        const call = pos === positions ? args.map(() => junk) : args.slice();
        if (pos < positions) call[pos] = junk;
        let result: unknown;
        try {
          result = fn(...call);
        } catch (err) {
          expect(core.isSigilError(err), `${name} with ${label} at ${pos}: ${String(err)}`).toBe(
            true,
          );
          expect((err as core.SigilError).code).toMatch(/^[a-z]+(?:_[a-z]+)*$/);
          continue;
        }
        if (predicates.has(name)) expect(typeof result, `${name} with ${label}`).toBe('boolean');
      }
    }
  });
});
