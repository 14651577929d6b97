import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checkpointOrigin,
  noteKeyHash,
  openCheckpoint,
  parseVerifierKey,
  signCheckpoint,
  verifierKey,
  type Checkpoint,
} from '../../src/canon/checkpoint.ts';
import { generateKeyPair, publicKeyToRaw, sign } from '../../src/core/ed25519.ts';
import { isSigilError } from '../../src/core/errors.ts';

const key = generateKeyPair();
const NAME = 'sigil.example/log';
const root = createHash('sha256').update('root').digest();
const cp: Checkpoint = { origin: 'sigil/log-1', size: 42, rootHash: new Uint8Array(root) };

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return isSigilError(err) ? err.code : 'not-a-sigil-error';
  }
  return undefined;
}

describe('signed checkpoints (C2SP signed note)', () => {
  it('have the tlog-checkpoint layout', () => {
    const note = signCheckpoint(cp, NAME, key.privateKey);
    const [text, sigs] = note.split('\n\n') as [string, string];
    expect(text).toBe(`sigil/log-1\n42\n${root.toString('base64')}`);
    expect(sigs).toMatch(/^\u2014 sigil\.example\/log [A-Za-z0-9+/]+=*\n$/);
    const blob = Buffer.from(sigs.split(' ')[2]!.trim(), 'base64');
    expect(blob).toHaveLength(68);
    const expectedHash = createHash('sha256')
      .update(
        Buffer.concat([Buffer.from(`${NAME}\n`), Buffer.of(1), publicKeyToRaw(key.publicKey)]),
      )
      .digest()
      .subarray(0, 4);
    expect(blob.subarray(0, 4)).toEqual(expectedHash);
    expect(Buffer.from(noteKeyHash(NAME, key.publicKey))).toEqual(expectedHash);
  });

  it('round-trip through open, with and without a timestamp', () => {
    expect(openCheckpoint(signCheckpoint(cp, NAME, key.privateKey), NAME, key.publicKey)).toEqual(
      cp,
    );
    const stamped = { ...cp, timestamp: '2025-01-02T03:04:05.678Z' };
    const note = signCheckpoint(stamped, NAME, key.privateKey);
    expect(note).toContain('\ntimestamp 2025-01-02T03:04:05.678Z\n\n');
    expect(openCheckpoint(note, NAME, key.publicKey)).toEqual(stamped);
    const empty = { origin: 'sigil/x', size: 0, rootHash: new Uint8Array(32) };
    expect(
      openCheckpoint(signCheckpoint(empty, NAME, key.privateKey), NAME, key.publicKey),
    ).toEqual(empty);
  });

  it('find their signature among others', () => {
    const other = generateKeyPair();
    const mine = signCheckpoint(cp, NAME, key.privateKey);
    const theirs = signCheckpoint(cp, 'witness.example', other.privateKey);
    const both = `${mine}${theirs.split('\n\n')[1]}`;
    expect(openCheckpoint(both, NAME, key.publicKey)).toEqual(cp);
    expect(openCheckpoint(both, 'witness.example', other.publicKey)).toEqual(cp);
  });

  const note = signCheckpoint(cp, NAME, key.privateKey);
  const tampered: [string, string][] = [
    ['size', note.replace('\n42\n', '\n43\n')],
    ['size with leading zero', note.replace('\n42\n', '\n042\n')],
    ['root', note.replace(root.toString('base64'), Buffer.alloc(32).toString('base64'))],
    ['origin', note.replace('sigil/log-1', 'sigil/log-2')],
    ['foreign origin', note.replace('sigil/log-1', 'example.com/log')],
    [
      'signature',
      note.replace(/ (\S+)\n$/, (_, b64: string) => {
        const blob = Buffer.from(b64, 'base64');
        blob[10]! ^= 1;
        return ` ${blob.toString('base64')}\n`;
      }),
    ],
    ['key name', note.replace(`\u2014 ${NAME} `, '\u2014 another.name ')],
    ['missing signature', note.split('\n\n')[0]! + '\n\n'],
    ['missing blank line', note.replace('\n\n', '\n')],
    ['missing final newline', note.slice(0, -1)],
    ['extra body line', note.replace('\n\n', '\nextra\n\n')],
    ['dash instead of em dash', note.replace('\u2014', '-')],
    ['CRLF', note.replace(/\n/g, '\r\n')],
    ['not a string', 42 as unknown as string],
  ];
  it.each(tampered)('are rejected when tampered: %s', (_what, bad) => {
    expect(code(() => openCheckpoint(bad, NAME, key.publicKey))).toBe('checkpoint_invalid');
  });

  it('are rejected under another key or name', () => {
    const other = generateKeyPair();
    expect(code(() => openCheckpoint(note, NAME, other.publicKey))).toBe('checkpoint_invalid');
    expect(code(() => openCheckpoint(note, 'other', key.publicKey))).toBe('checkpoint_invalid');
  });

  it('are rejected when the signature is valid over different text', () => {
    const text = `sigil/log-1\n43\n${root.toString('base64')}\n`;
    const blob = Buffer.concat([
      noteKeyHash(NAME, key.publicKey),
      sign(key.privateKey, Buffer.from(text)),
    ]);
    const forged = `sigil/log-1\n42\n${root.toString('base64')}\n\n\u2014 ${NAME} ${blob.toString('base64')}\n`;
    expect(code(() => openCheckpoint(forged, NAME, key.publicKey))).toBe('checkpoint_invalid');
  });

  it('refuse to sign malformed checkpoints', () => {
    const bad: Checkpoint[] = [
      { ...cp, origin: 'log-1' },
      { ...cp, origin: 'sigil/has space' },
      { ...cp, size: -1 },
      { ...cp, size: 1.5 },
      { ...cp, rootHash: new Uint8Array(31) },
      { ...cp, timestamp: '2025-02-30T00:00:00Z' },
    ];
    for (const c of bad)
      expect(code(() => signCheckpoint(c, NAME, key.privateKey))).toBe('bad_request');
    expect(code(() => signCheckpoint(cp, 'bad+name', key.privateKey))).toBe('bad_request');
    expect(code(() => signCheckpoint(cp, 'bad name', key.privateKey))).toBe('bad_request');
    expect(code(() => signCheckpoint(cp, NAME, key.publicKey))).toBe('invalid_key');
  });

  it('build origins from log ids', () => {
    expect(checkpointOrigin('abc-123')).toBe('sigil/abc-123');
    expect(code(() => checkpointOrigin('a b'))).toBe('bad_request');
  });
});

describe('verifier keys (C2SP vkey)', () => {
  it('round-trip', () => {
    const vkey = verifierKey(NAME, key.publicKey);
    const [name, hash, b64] = splitVkey(vkey);
    expect(name).toBe(NAME);
    expect(hash).toBe(Buffer.from(noteKeyHash(NAME, key.publicKey)).toString('hex'));
    expect(Buffer.from(b64, 'base64')).toEqual(
      Buffer.concat([Buffer.of(1), publicKeyToRaw(key.publicKey)]),
    );
    const parsed = parseVerifierKey(vkey);
    expect(parsed.keyName).toBe(NAME);
    expect(parsed.publicKey.equals(key.publicKey)).toBe(true);
    expect(openCheckpoint(note(), parsed.keyName, parsed.publicKey)).toEqual(cp);
  });

  it('are rejected when malformed or inconsistent', () => {
    const vkey = verifierKey(NAME, key.publicKey);
    const [name, hash, b64] = splitVkey(vkey);
    for (const bad of [
      '',
      `${name}+${hash}`,
      `other+${hash}+${b64}`,
      `${name}+00000000+${b64}`,
      `${name}+${hash}+${Buffer.concat([Buffer.of(2), publicKeyToRaw(key.publicKey)]).toString('base64')}`,
      `${name}+${hash}+${b64}+x`,
    ]) {
      expect(code(() => parseVerifierKey(bad))).toBe('bad_request');
    }
  });

  it('parse keys whose base64 contains "+"', () => {
    let pair = generateKeyPair();
    for (
      let i = 0;
      i < 1000 && !splitVkey(verifierKey('k', pair.publicKey))[2].includes('+');
      i++
    ) {
      pair = generateKeyPair();
    }
    expect(splitVkey(verifierKey('k', pair.publicKey))[2]).toContain('+');
    expect(
      parseVerifierKey(verifierKey('k', pair.publicKey)).publicKey.equals(pair.publicKey),
    ).toBe(true);
  });

  function splitVkey(vkey: string): [string, string, string] {
    const [name, hash, ...rest] = vkey.split('+');
    return [name!, hash!, rest.join('+')];
  }

  function note(): string {
    return signCheckpoint(cp, NAME, key.privateKey);
  }
});
