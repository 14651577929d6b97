/**
 * The pool validate verifies signatures with: more chunks than it holds in flight, spread over
 * its threads, each answered for its own seqs; a signature by another key, or over another hash,
 * is named by its seq in whichever chunk and thread it lands.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { recordSigningMessage } from '../../src/canon/record-json.ts';
import { VerifyPool, type SignatureItem } from '../../src/canon/verify-pool.ts';
import { generateKeyPair, sign } from '../../src/core/ed25519.ts';
import { sha256Hex } from '../../src/core/hash.ts';

const key = generateKeyPair();
const other = generateKeyPair();
const CHUNK = 8;
const CHUNKS = 12;

function items(first: number, signer = key): SignatureItem[] {
  return Array.from({ length: CHUNK }, (_, i) => {
    const hash = sha256Hex(`record ${first + i}`);
    return { seq: first + i, hash, sig: sign(signer.privateKey, recordSigningMessage(hash)) };
  });
}

describe('VerifyPool', () => {
  let pool: VerifyPool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it('answers every chunk, with the bad seq only in the chunk that holds it', async () => {
    pool = new VerifyPool(2, key.publicKey, recordSigningMessage(''));
    const chunks = Array.from({ length: CHUNKS }, (_, c) => items(c * CHUNK));
    // Seq 29 (chunk 3) signed by another key; seq 70 (chunk 8) a good signature over another hash.
    chunks[3]![29 - 3 * CHUNK] = items(29, other)[0]!;
    const moved = chunks[8]![70 - 8 * CHUNK]!;
    chunks[8]![70 - 8 * CHUNK] = { ...moved, sig: chunks[8]![0]!.sig };
    const results: Array<Promise<number | undefined>> = [];
    // Twelve chunks through a pool that holds four: submit waits for room, never for ever.
    for (const chunk of chunks) results.push((await pool.submit(chunk)).result);
    const answers = await Promise.all(results);
    expect(answers).toEqual(answers.map((_, c) => (c === 3 ? 29 : c === 8 ? 70 : undefined)));
  });

  it('answers concurrent submits to a full pool', async () => {
    pool = new VerifyPool(1, key.publicKey, recordSigningMessage(''));
    const submitted = await Promise.all(
      Array.from({ length: 6 }, (_, c) => pool!.submit(items(c * CHUNK))),
    );
    expect(await Promise.all(submitted.map((s) => s.result))).toEqual(Array(6).fill(undefined));
  });
});
