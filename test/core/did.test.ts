import { describe, expect, it } from 'vitest';
import { isDid, MAX_DID_LENGTH, parseDid } from '../../src/core/index.ts';
import { expectCode } from './helpers.ts';

describe('parseDid', () => {
  it.each([
    ['did:example:123456789abcdefghi', 'example', '123456789abcdefghi'],
    [
      'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK',
      'key',
      'z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK',
    ],
    ['did:web:example.com%3A8443', 'web', 'example.com%3A8443'],
    ['did:web:example.com:user:alice', 'web', 'example.com:user:alice'],
    ['did:ion1:a_b-c.d', 'ion1', 'a_b-c.d'],
    ['did:x::a', 'x', ':a'],
    ['did:0:0', '0', '0'],
    ['did:sigil:ai%2Fagent%2f7', 'sigil', 'ai%2Fagent%2f7'],
  ])('parses %s', (did, method, id) => {
    expect(parseDid(did)).toEqual({ did, method, id });
    expect(isDid(did)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['no method', 'did::abc'],
    ['no id', 'did:example:'],
    ['only prefix', 'did:'],
    ['uppercase scheme', 'DID:example:abc'],
    ['uppercase method', 'did:Example:abc'],
    ['hyphen in method', 'did:ex-ample:abc'],
    ['trailing colon', 'did:example:abc:'],
    ['space', 'did:example:a b'],
    ['path', 'did:example:abc/path'],
    ['query', 'did:example:abc?x=1'],
    ['fragment', 'did:example:abc#key-1'],
    ['bad percent-encoding', 'did:example:a%2'],
    ['non-hex percent-encoding', 'did:example:a%zz'],
    ['non-ASCII', 'did:example:café'],
    ['newline', 'did:example:abc\n'],
    ['missing id separator', 'did:example'],
    ['other scheme', 'urn:example:abc'],
  ])('rejects %s', (_name, s) => {
    expectCode(() => parseDid(s), 'invalid_did');
    expect(isDid(s)).toBe(false);
  });

  it('caps the length at 2048', () => {
    const ok = 'did:example:' + 'a'.repeat(MAX_DID_LENGTH - 'did:example:'.length);
    expect(ok.length).toBe(2048);
    expect(isDid(ok)).toBe(true);
    expectCode(() => parseDid(ok + 'a'), 'invalid_did');
    expect(isDid(ok + 'a')).toBe(false);
  });

  it('is fast on hostile near-misses', () => {
    const s = 'did:example:' + 'a:'.repeat(1000) + '!';
    const t0 = performance.now();
    expect(isDid(s)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(50);
  });

  it('isDid is false for non-strings', () => {
    for (const x of [undefined, null, 1, {}, ['did:a:b']]) expect(isDid(x)).toBe(false);
  });
});
