import { createHash, verify as nodeVerify } from 'node:crypto';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  newRecordId,
  parseRecordDraft,
  RECORD_KINDS,
  recordBytes,
  sealRecord,
  signWitness,
  verifyRecord,
  verifyWitness,
  type CanonicalRecord,
  type RecordDraft,
  type Witness,
} from '../../src/canon/record.ts';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { isSigilError } from '../../src/core/errors.ts';

const signer = generateKeyPair();
const draft: RecordDraft = {
  kind: 'user_data',
  tenant: 'acme',
  space: 'user',
  payload: { note: 'hello', n: 1, nested: [true, null, 'x'] },
  links: [{ rel: 'parent', id: 'rec_parent' }],
  id: 'rec_1',
  ts: '2025-01-02T03:04:05.678Z',
};
const PREV = 'ab'.repeat(32);

function errorOf(f: () => unknown): { code: string; field?: unknown } | undefined {
  try {
    f();
  } catch (err) {
    if (!isSigilError(err)) throw err;
    return { code: err.code, field: err.details?.field };
  }
  return undefined;
}

const canon = (v: unknown): string => canonicalize(v) as string;

describe('parseRecordDraft', () => {
  it('accepts a draft and fills the defaults', () => {
    const before = Date.now();
    const d = parseRecordDraft({ kind: 'decision', tenant: 't', space: 'system', payload: null });
    expect(d.id).toMatch(/^rec_[a-z2-7]{26}$/);
    expect(d.ts).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(Date.parse(d.ts)).toBeGreaterThanOrEqual(before);
    expect(d.links).toEqual([]);
    expect(parseRecordDraft(draft)).toEqual(draft);
  });

  it('makes unique ids', () => {
    const ids = new Set(Array.from({ length: 2000 }, newRecordId));
    expect(ids.size).toBe(2000);
  });

  it('starts an id with its creation time, so ids made together share a prefix', () => {
    const before = Date.now();
    const ids = Array.from({ length: 200 }, newRecordId);
    const after = Date.now();
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
    for (const id of ids) {
      expect(id).toMatch(/^rec_[a-z2-7]{26}$/);
      const ms = [...id.slice(4, 14)].reduce((t, c) => t * 32 + alphabet.indexOf(c), 0);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
    }
    // The 80 random bits after the time still differ between ids of the same millisecond.
    expect(new Set(ids.map((id) => id.slice(14))).size).toBe(ids.length);
  });

  it('copies the payload', () => {
    const input = { ...draft, payload: { a: [1, 2] } };
    const d = parseRecordDraft(input);
    (input.payload.a as number[]).push(3);
    expect(d.payload).toEqual({ a: [1, 2] });
  });

  it('accepts every kind and both spaces', () => {
    for (const kind of RECORD_KINDS) {
      for (const space of ['user', 'system'] as const) {
        expect(parseRecordDraft({ ...draft, kind, space }).kind).toBe(kind);
      }
    }
  });

  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const invalid: [string, unknown, string][] = [
    ['unknown field', { ...draft, extra: 1 }, 'extra'],
    ['kind', { ...draft, kind: 'nope' }, 'kind'],
    ['missing kind', { ...draft, kind: undefined }, 'kind'],
    ['empty tenant', { ...draft, tenant: '' }, 'tenant'],
    ['long tenant', { ...draft, tenant: 'x'.repeat(129) }, 'tenant'],
    ['space', { ...draft, space: 'public' }, 'space'],
    ['empty id', { ...draft, id: '' }, 'id'],
    ['id charset', { ...draft, id: 'a b' }, 'id'],
    ['long id', { ...draft, id: 'a'.repeat(257) }, 'id'],
    ['ts without Z', { ...draft, ts: '2025-01-02T03:04:05' }, 'ts'],
    ['ts with offset', { ...draft, ts: '2025-01-02T03:04:05+01:00' }, 'ts'],
    ['ts impossible date', { ...draft, ts: '2025-02-30T00:00:00Z' }, 'ts'],
    ['ts month 13', { ...draft, ts: '2025-13-01T00:00:00Z' }, 'ts'],
    ['ts hour 24', { ...draft, ts: '2025-01-01T24:00:00Z' }, 'ts'],
    ['ts microseconds', { ...draft, ts: '2025-01-01T00:00:00.123456Z' }, 'ts'],
    ['ts number', { ...draft, ts: 1700000000 }, 'ts'],
    ['missing payload', { ...draft, payload: undefined }, 'payload'],
    ['NaN payload', { ...draft, payload: { n: NaN } }, 'payload'],
    ['function payload', { ...draft, payload: [() => 1] }, 'payload'],
    ['Date payload', { ...draft, payload: new Date() }, 'payload'],
    ['cyclic payload', { ...draft, payload: cyclic }, 'payload'],
    ['too many links', { ...draft, links: Array(65).fill({ rel: 'r', id: 'i' }) }, 'links'],
    ['empty rel', { ...draft, links: [{ rel: '', id: 'i' }] }, 'links.0.rel'],
    ['long rel', { ...draft, links: [{ rel: 'r'.repeat(65), id: 'i' }] }, 'links.0.rel'],
    ['long link id', { ...draft, links: [{ rel: 'r', id: 'i'.repeat(257) }] }, 'links.0.id'],
    ['link extra field', { ...draft, links: [{ rel: 'r', id: 'i', x: 1 }] }, 'links.0.x'],
    ['not an object', 'draft', ''],
  ];
  it.each(invalid)('rejects %s naming the field', (_what, input, field) => {
    expect(errorOf(() => parseRecordDraft(input))).toEqual({ code: 'record_invalid', field });
  });

  it('limits the canonical payload size', () => {
    const big = { ...draft, payload: 'x'.repeat(1024 * 1024) };
    expect(errorOf(() => parseRecordDraft(big))).toEqual({
      code: 'payload_too_large',
      field: 'payload',
    });
    const fits = { ...draft, payload: 'x'.repeat(1024 * 1024 - 2) };
    expect(parseRecordDraft(fits).payload).toHaveLength(1024 * 1024 - 2);
    expect(errorOf(() => parseRecordDraft(draft, { maxPayloadBytes: 10 }))?.code).toBe(
      'payload_too_large',
    );
  });
});

describe('sealRecord', () => {
  const record = sealRecord(draft, PREV, signer);

  it('hashes the canonical body, pub_key included, and signs the domain-separated hash', () => {
    const body = {
      kind: draft.kind,
      schema_version: 1,
      id: draft.id,
      tenant: draft.tenant,
      ts: draft.ts,
      space: draft.space,
      payload: draft.payload,
      links: draft.links,
      prev: PREV,
      pub_key: Buffer.from(publicKeyToRaw(signer.publicKey)).toString('base64url'),
    };
    expect(record).toEqual({ ...body, hash: record.hash, sig: record.sig, witnesses: [] });
    expect(record.hash).toBe(createHash('sha256').update(canon(body)).digest('hex'));
    const message = Buffer.concat([
      Buffer.from('sigil.record.v1\0'),
      Buffer.from(record.hash, 'hex'),
    ]);
    expect(nodeVerify(null, message, signer.publicKey, Buffer.from(record.sig, 'base64url'))).toBe(
      true,
    );
    expect(verifyRecord(record)).toEqual({ ok: true });
  });

  it('chains from null for the first record', () => {
    const first = sealRecord(draft, null, signer);
    expect(first.prev).toBeNull();
    expect(verifyRecord(first)).toEqual({ ok: true });
  });

  it('rejects a bad prev or a bad draft', () => {
    expect(errorOf(() => sealRecord(draft, 'AB'.repeat(32), signer))).toEqual({
      code: 'record_invalid',
      field: 'prev',
    });
    expect(errorOf(() => sealRecord({ ...draft, tenant: '' }, null, signer))?.code).toBe(
      'record_invalid',
    );
  });

  it('gives recordBytes as the canonical bytes of exactly the record fields', () => {
    expect(Buffer.from(recordBytes(record)).toString()).toBe(canon(record));
    const withSeq = { ...record, seq: 7 } as CanonicalRecord;
    expect(Buffer.from(recordBytes(withSeq)).toString()).toBe(canon(record));
  });
});

describe('verifyRecord', () => {
  const record = sealRecord(draft, PREV, signer);
  const other = generateKeyPair();
  const otherPub = Buffer.from(publicKeyToRaw(other.publicKey)).toString('base64url');
  const otherSig = sealRecord({ ...draft, id: 'rec_other' }, PREV, signer).sig;

  const flips: [keyof CanonicalRecord | 'extra', unknown, string][] = [
    ['kind', 'decision', 'hash_mismatch'],
    ['schema_version', 2, 'record_invalid'],
    ['id', 'rec_2', 'hash_mismatch'],
    ['tenant', 'other', 'hash_mismatch'],
    ['ts', '2025-01-02T03:04:05.679Z', 'hash_mismatch'],
    ['space', 'system', 'hash_mismatch'],
    ['payload', { ...(draft.payload as object), n: 2 }, 'hash_mismatch'],
    ['links', [], 'hash_mismatch'],
    ['prev', null, 'hash_mismatch'],
    ['prev', 'cd'.repeat(32), 'hash_mismatch'],
    ['pub_key', otherPub, 'hash_mismatch'],
    ['hash', 'cd'.repeat(32), 'hash_mismatch'],
    ['sig', otherSig, 'signature_invalid'],
    ['sig', 'A'.repeat(86), 'signature_invalid'],
    ['pub_key', 'not a key', 'record_invalid'],
    ['witnesses', 'none', 'record_invalid'],
    ['extra', 1, 'record_invalid'],
  ];
  it.each(flips)('detects a changed %s', (field, value, code) => {
    const changed = { ...record, [field]: value } as CanonicalRecord;
    expect(verifyRecord(changed)).toMatchObject({ ok: false, code });
  });

  it('detects a record re-signed by another key without re-hashing', () => {
    const forged = sealRecord(draft, PREV, other);
    expect(verifyRecord({ ...forged, sig: record.sig })).toMatchObject({
      code: 'signature_invalid',
    });
  });

  it('never throws on junk', () => {
    for (const junk of [null, 1, 'x', [], {}, { ...record, payload: undefined }]) {
      expect(verifyRecord(junk as unknown as CanonicalRecord).ok).toBe(false);
    }
  });

  it('detects any changed payload (property)', () => {
    const json = fc.jsonValue({ maxDepth: 3 });
    fc.assert(
      fc.property(json, json, (a, b) => {
        const sealed = sealRecord({ ...draft, payload: a as never }, PREV, signer);
        expect(verifyRecord(sealed)).toEqual({ ok: true });
        const changed = verifyRecord({ ...sealed, payload: b as never });
        expect(changed.ok).toBe(canon(a) === canon(b));
      }),
      { numRuns: 50 },
    );
  });
});

describe('witnesses', () => {
  const record = sealRecord(draft, PREV, signer);
  const w1 = generateKeyPair();
  const w2 = generateKeyPair();
  const meta = (id: string) => ({
    witness_id: id,
    timestamp: '2025-01-02T03:04:06Z',
    authority: 'quorum:root',
  });
  const s1 = signWitness(record.hash, w1.privateKey, meta('did:key:w1'));
  const s2 = signWitness(record.hash, w2.privateKey, meta('did:key:w2'));
  const trusted = new Map([
    ['did:key:w1', w1.publicKey],
    ['did:key:w2', w2.publicKey],
  ]);

  it('sign the domain-separated hash and their metadata', () => {
    const message = Buffer.concat([
      Buffer.from('sigil.witness.v1\0'),
      Buffer.from(record.hash, 'hex'),
      Buffer.from(canon(meta('did:key:w1'))),
    ]);
    expect(nodeVerify(null, message, w1.publicKey, Buffer.from(s1.signature, 'base64url'))).toBe(
      true,
    );
    expect(verifyWitness(record.hash, s1, w1.publicKey)).toBe(true);
    expect(verifyWitness(record.hash, s1, w2.publicKey)).toBe(false);
    expect(verifyWitness('00'.repeat(32), s1, w1.publicKey)).toBe(false);
    expect(verifyWitness(record.hash, { ...s1, authority: 'other' }, w1.publicKey)).toBe(false);
    expect(
      verifyWitness(record.hash, { ...s1, timestamp: '2025-01-02T03:04:07Z' }, w1.publicKey),
    ).toBe(false);
    expect(verifyWitness(record.hash, { ...s1, witness_id: 'did:key:w2' }, w1.publicKey)).toBe(
      false,
    );
    expect(verifyWitness(record.hash, null as unknown as Witness, w1.publicKey)).toBe(false);
  });

  it('do not change the hash and verify against trusted keys', () => {
    const sealed = sealRecord(draft, PREV, signer, [s1, s2]);
    expect(sealed.hash).toBe(record.hash);
    expect(verifyRecord(sealed, { trustedWitnessKeys: trusted })).toEqual({ ok: true });
    const attached = { ...record, witnesses: [s1] };
    expect(verifyRecord(attached, { trustedWitnessKeys: trusted })).toEqual({ ok: true });
  });

  it('fail when untrusted, forged, tampered or repeated', () => {
    const check = (witnesses: Witness[], keys = trusted) =>
      verifyRecord({ ...record, witnesses }, { trustedWitnessKeys: keys });
    expect(check([s1], new Map([['did:key:w2', w2.publicKey]]))).toMatchObject({
      code: 'witness_invalid',
    });
    expect(check([{ ...s1, signature: s2.signature }])).toMatchObject({ code: 'witness_invalid' });
    expect(check([{ ...s1, authority: 'self' }])).toMatchObject({ code: 'witness_invalid' });
    expect(check([s1, s1])).toMatchObject({ code: 'witness_invalid' });
    const elsewhere = signWitness('00'.repeat(32), w1.privateKey, meta('did:key:w1'));
    expect(check([elsewhere])).toMatchObject({ code: 'witness_invalid' });
  });

  it('are checked for shape only without trusted keys', () => {
    expect(verifyRecord({ ...record, witnesses: [{ ...s1, authority: 'self' }] })).toEqual({
      ok: true,
    });
    const malformed = { ...s1, signature: 'short' };
    expect(verifyRecord({ ...record, witnesses: [malformed] })).toMatchObject({
      code: 'record_invalid',
    });
  });

  it('reject malformed witness input when signing', () => {
    expect(errorOf(() => signWitness('xyz', w1.privateKey, meta('w')))?.code).toBe('bad_request');
    expect(
      errorOf(() => signWitness(record.hash, w1.privateKey, { ...meta('w'), timestamp: 'now' }))
        ?.code,
    ).toBe('record_invalid');
  });
});
