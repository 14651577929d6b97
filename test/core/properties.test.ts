import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isWellFormed } from '../../src/core/guard.ts';
import {
  canonicalJson,
  canonicalJsonCopy,
  decodeCbor,
  encodeCbor,
  generateKeyPair,
  isSigilError,
  sign,
  signTyped,
  verify,
  verifyTyped,
  writtenCanonically,
} from '../../src/core/index.ts';

const json = fc.jsonValue({ stringUnit: 'binary', maxDepth: 6 });

/** Any JS value, including the kinds JSON and CBOR cannot hold. */
const anything = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  stringUnit: 'binary',
});

/** Rebuilds every object of `value` with its keys inserted in a seed-dependent order. */
function reorder(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v) => reorder(v, seed));
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  const keys = Object.keys(value);
  let state = seed >>> 0;
  for (let i = keys.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const j = state % (i + 1);
    [keys[i], keys[j]] = [keys[j]!, keys[i]!];
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    Object.defineProperty(out, k, {
      value: reorder((value as Record<string, unknown>)[k], seed + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

describe('canonicalJson properties', () => {
  it('is idempotent over JSON.parse', () => {
    fc.assert(
      fc.property(json, (x) => {
        const c = canonicalJson(x);
        expect(canonicalJson(JSON.parse(c))).toBe(c);
      }),
    );
  });

  it('never depends on key insertion order', () => {
    fc.assert(
      fc.property(json, fc.integer(), (x, seed) => {
        expect(canonicalJson(reorder(x, seed))).toBe(canonicalJson(x));
      }),
    );
  });

  it('agrees with the canonicalize package on JSON values', () => {
    fc.assert(
      fc.property(json, (x) => {
        expect(canonicalJson(x)).toBe(canonicalize(x));
      }),
    );
  });

  it('on any JS value, either agrees with canonicalize or throws not_canonicalizable', () => {
    fc.assert(
      fc.property(fc.oneof(anything, fc.string({ unit: 'grapheme-composite' })), (x) => {
        let out: string;
        try {
          out = canonicalJson(x);
        } catch (err) {
          expect(isSigilError(err, 'not_canonicalizable')).toBe(true);
          return;
        }
        expect(out).toBe(canonicalize(x));
      }),
    );
  });
});

/** Whether `a` and `b` share an object (the copy must share none with what it copies). */
function sharesObject(a: unknown, b: unknown, seen = new Set<unknown>()): boolean {
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k]);
  };
  walk(a);
  let shared = false;
  const check = (v: unknown): void => {
    if (shared || v === null || typeof v !== 'object') return;
    if (seen.has(v)) shared = true;
    else for (const k of Object.keys(v)) check((v as Record<string, unknown>)[k]);
  };
  check(b);
  return shared;
}

describe('canonicalJsonCopy properties', () => {
  it('gives canonicalJson and a fresh copy equal to JSON.parse of it, or the same refusal', () => {
    fc.assert(
      fc.property(fc.oneof(anything, json), (x) => {
        let text: string | undefined;
        try {
          text = canonicalJson(x);
        } catch {
          expect(() => canonicalJsonCopy(x)).toThrow(/./);
          try {
            canonicalJsonCopy(x);
          } catch (err) {
            expect(isSigilError(err, 'not_canonicalizable')).toBe(true);
          }
          return;
        }
        const out = canonicalJsonCopy(x);
        expect(out.text).toBe(text);
        expect(out.copy).toStrictEqual(JSON.parse(text));
        expect(sharesObject(x, out.copy)).toBe(false);
      }),
    );
  });

  it('keeps an own "__proto__" member and -0 as JSON.parse reads the text', () => {
    const x = JSON.parse('{"__proto__":{"owner":"mallory"},"n":[-0]}') as unknown;
    (x as { n: number[] }).n[0] = -0;
    const { text, copy } = canonicalJsonCopy(x);
    expect(text).toBe('{"__proto__":{"owner":"mallory"},"n":[0]}');
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect((copy as { owner?: string }).owner).toBeUndefined();
    expect(Object.keys(copy as object)).toEqual(['__proto__', 'n']);
    expect(Object.is((copy as { n: number[] }).n[0], 0)).toBe(true);
    expect(copy).toStrictEqual(JSON.parse(text));
  });
});

/** Whether some key in `v` is written with an escape (writtenCanonically then shows nothing). */
function hasEscapedKey(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasEscapedKey);
  if (v === null || typeof v !== 'object') return false;
  return Object.entries(v).some(([k, x]) => JSON.stringify(k) !== `"${k}"` || hasEscapedKey(x));
}

/** Texts near `x`'s canonical one: other serialisations and one-character edits of it. */
const nearCanonical = fc
  .tuple(
    json,
    fc.nat(),
    fc.constantFrom('', ' ', '\\', 'e', 'E', '0', '.', '-', '+', '"', ',', 'u', '/'),
  )
  .map(([x, at, insert]) => {
    const c = canonicalJson(x);
    const p = at % (c.length + 1);
    return [
      JSON.stringify(x),
      JSON.stringify(x, null, 1),
      c.slice(0, p) + insert + c.slice(p),
      c.slice(0, p) + insert + c.slice(p + 1),
    ];
  });

describe('writtenCanonically properties', () => {
  it('shows canonical text canonical, unless a key needs an escape', () => {
    fc.assert(
      fc.property(json, (x) => {
        expect(writtenCanonically(canonicalJson(x))).toBe(!hasEscapedKey(x));
      }),
    );
  });

  it('never shows a text canonical that canonicalJson would write otherwise', () => {
    fc.assert(
      fc.property(nearCanonical, (texts) => {
        for (const t of texts) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(t);
          } catch {
            continue;
          }
          if (!isWellFormed(t) || !writtenCanonically(t)) continue;
          expect(canonicalJson(parsed)).toBe(t);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

/** Values inside encodeCbor's domain that decode back to an equal JS value. */
const cborValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.bigInt({ min: 2n ** 53n, max: 2n ** 80n }),
    fc.bigInt({ min: -(2n ** 80n), max: -(2n ** 53n) }),
    fc.string({ unit: 'binary' }),
    fc.uint8Array({ maxLength: 40 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: 'binary' }), tie('value'), {
      maxKeys: 5,
      noNullPrototype: true,
    }),
  ),
})).value;

describe('deterministic CBOR properties', () => {
  it('decode(encode(x)) deep-equals x', () => {
    fc.assert(
      fc.property(cborValue, (x) => {
        expect(decodeCbor(encodeCbor(x))).toEqual(x);
      }),
    );
  });

  it('encode(decode(encode(x))) equals encode(x)', () => {
    fc.assert(
      fc.property(cborValue, (x) => {
        const bytes = encodeCbor(x);
        expect(encodeCbor(decodeCbor(bytes))).toEqual(bytes);
      }),
    );
  });

  it('never depends on key insertion order', () => {
    fc.assert(
      fc.property(cborValue, fc.integer(), (x, seed) => {
        expect(encodeCbor(reorder(x, seed))).toEqual(encodeCbor(x));
      }),
    );
  });

  it('on any JS value, encodeCbor throws cbor_invalid or yields bytes decodeCbor accepts', () => {
    fc.assert(
      fc.property(anything, (x) => {
        let bytes: Uint8Array;
        try {
          bytes = encodeCbor(x);
        } catch (err) {
          expect(isSigilError(err, 'cbor_invalid')).toBe(true);
          return;
        }
        expect(encodeCbor(decodeCbor(bytes))).toEqual(bytes);
      }),
    );
  });

  it('decodeCbor never throws anything but cbor_invalid on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          const value = decodeCbor(bytes);
          expect(encodeCbor(value)).toEqual(bytes);
        } catch (err) {
          expect(isSigilError(err, 'cbor_invalid')).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('signature properties', () => {
  const { publicKey, privateKey } = generateKeyPair();
  const flip = fc.record({
    message: fc.uint8Array({ minLength: 1, maxLength: 200 }),
    index: fc.nat(),
    mask: fc.integer({ min: 1, max: 255 }),
  });

  it('flipping any byte of the message breaks the signature', () => {
    fc.assert(
      fc.property(flip, ({ message, index, mask }) => {
        const sig = sign(privateKey, message);
        const changed = message.slice();
        changed[index % changed.length]! ^= mask;
        expect(verify(publicKey, message, sig)).toBe(true);
        expect(verify(publicKey, changed, sig)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('flipping any byte of the signature breaks it', () => {
    fc.assert(
      fc.property(flip, ({ message, index, mask }) => {
        const sig = sign(privateKey, message);
        const changed = sig.slice();
        changed[index % changed.length]! ^= mask;
        expect(verify(publicKey, message, changed)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('flipping any byte breaks a typed signature too', () => {
    const signer = { type: 'ai', delegationId: 'c'.repeat(64) } as const;
    fc.assert(
      fc.property(flip, fc.boolean(), ({ message, index, mask }, inSignature) => {
        const sig = signTyped(privateKey, signer, message);
        const msg = inSignature ? message : message.slice();
        const s = inSignature ? sig.slice() : sig;
        if (inSignature) s[index % s.length]! ^= mask;
        else msg[index % msg.length]! ^= mask;
        expect(verifyTyped(publicKey, signer, msg, s)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});
