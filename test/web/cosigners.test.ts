/**
 * The overview names a checkpoint's witness cosignatures: every signature line of the served
 * note other than the log's own, read from a note the log signed and two witnesses cosigned.
 */
import { describe, expect, it } from 'vitest';
import { signCheckpoint, verifierKey } from '../../src/canon/checkpoint.ts';
import { cosign, noteBody } from '../../src/canon/cosignature.ts';
import { generateKeyPair } from '../../src/core/ed25519.ts';
import { cosignerNames } from '../../web/src/note.ts';

describe('cosignerNames', () => {
  const log = generateKeyPair();
  const note = signCheckpoint(
    { origin: 'sigil/cosign-test', size: 3, rootHash: new Uint8Array(32).fill(7) },
    'sigil/cosign-test',
    log.privateKey,
  );
  const logName = verifierKey('sigil/cosign-test', log.publicKey).split('+')[0]!;

  it('names no witness on a note only the log signed', () => {
    expect(cosignerNames(note, logName)).toEqual([]);
  });

  it("names each witness whose cosignature line follows the log's signature", () => {
    const lines = ['witness.example/a', 'witness.example/b'].map((name) => {
      const w = generateKeyPair();
      return cosign(noteBody(note), name, w.privateKey, w.publicKey, 1_700_000_000);
    });
    expect(cosignerNames(note + lines.join(''), logName)).toEqual([
      'witness.example/a',
      'witness.example/b',
    ]);
  });

  it('reads nothing from a note with no signature block', () => {
    expect(cosignerNames('sigil/x\n1\nAAAA\n', logName)).toEqual([]);
  });
});
