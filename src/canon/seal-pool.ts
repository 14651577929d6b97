/**
 * Signing, leaf hashing and body encryption on worker threads, so a batch's records are sealed
 * on every core.
 *
 * The chain stays in order on the caller's thread: it computes each record's body hash over the
 * hash before it (cheap: one SHA-256), then the workers do the expensive, independent part of
 * each record: the Ed25519 signature over its hash, the Merkle leaf hash of its log entry and
 * AES-256-GCM of its sealed text. Like verify-pool.ts, the worker is plain JavaScript on
 * node:crypto alone and knows nothing of records: for each item it signs `prefix || hash bytes`,
 * splices the base64url signature between two given texts twice (the sealed record, which it
 * encrypts under the given AAD in the byte layout of aesGcmSeal: nonce || ciphertext || tag; and
 * the log entry, whose leaf hash SHA-256(0x00 || entry) it computes). append.ts checks a probe
 * sealed through the pool against record.ts before the pool's first use, so a drift can never
 * reach the log.
 *
 * A chunk travels each way as one transferred buffer (no structured clone of per-record objects):
 * in, per item: hash(32) aadLen sealedBeforeLen sealedAfterLen entryBeforeLen entryAfterLen (u32
 * LE each) then those five byte strings; out, per item: sig(64) leaf(32) bodyLen (u32 LE) body.
 *
 * The log key and the data key are handed to threads of this same process (structured clone of
 * the KeyObject and the key bytes); they never leave it.
 */
import type { KeyObject } from 'node:crypto';
import { Buffer } from 'node:buffer';
import { Worker } from 'node:worker_threads';

/** One record to seal: its hex body hash, its AAD, and its sealed text and entry around the sig. */
export interface SealItem {
  hash: string;
  aad: Uint8Array;
  sealed: readonly [string, string];
  entry: readonly [string, string];
}

/** What the worker returns per item: the raw signature, the leaf hash and the encrypted body. */
export interface SealedItem {
  sig: Uint8Array;
  leaf: Uint8Array;
  body: Uint8Array;
}

/** Length of a base64url Ed25519 signature without padding. */
const SIG_TEXT = 86;
const ITEM_HEAD = 32 + 5 * 4;
const OUT_HEAD = 64 + 32 + 4;
/** Nonce and tag around a body's ciphertext. */
const GCM_EXTRA = 12 + 16;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createCipheriv, createHash, randomFillSync, sign } = require('node:crypto');
const { key, dataKey } = workerData;
const prefix = Buffer.from(workerData.prefix);
const message = Buffer.alloc(prefix.length + 32);
prefix.copy(message, 0);
const LEAF_PREFIX = Buffer.of(0);
parentPort.on('message', ({ id, packed }) => {
  try {
    const inp = Buffer.from(packed);
    const items = [];
    let size = 0;
    for (let at = 0; at < inp.length;) {
      const it = { hash: at, lens: [] };
      at += 32;
      for (let k = 0; k < 5; k++) it.lens.push(inp.readUInt32LE(at + 4 * k));
      at += 20;
      it.parts = it.lens.map((len) => { const part = inp.subarray(at, at + len); at += len; return part; });
      items.push(it);
      size += ${OUT_HEAD} + ${GCM_EXTRA} + it.lens[1] + ${SIG_TEXT} + it.lens[2];
    }
    const out = Buffer.from(new ArrayBuffer(size));
    // Every nonce of the chunk from one call: a call per record cost as much as its AES-GCM.
    const nonces = randomFillSync(Buffer.alloc(12 * items.length));
    let o = 0;
    for (let i = 0; i < items.length; i++) {
      const { hash, parts: [aad, sealedBefore, sealedAfter, entryBefore, entryAfter] } = items[i];
      inp.copy(message, prefix.length, hash, hash + 32);
      const sig = sign(null, message, key);
      const sigText = Buffer.from(sig.toString('base64url'), 'latin1');
      if (sig.length !== 64 || sigText.length !== ${SIG_TEXT}) throw new Error('unexpected signature size');
      sig.copy(out, o);
      createHash('sha256').update(LEAF_PREFIX).update(entryBefore).update(sigText).update(entryAfter)
        .digest().copy(out, o + 64);
      const bodyLen = ${GCM_EXTRA} + sealedBefore.length + ${SIG_TEXT} + sealedAfter.length;
      out.writeUInt32LE(bodyLen, o + 96);
      let b = o + ${OUT_HEAD};
      nonces.copy(out, b, 12 * i, 12 * i + 12);
      const cipher = createCipheriv('aes-256-gcm', dataKey, out.subarray(b, b + 12), { authTagLength: 16 });
      cipher.setAAD(aad);
      b += 12;
      // The sealed text laid out where its ciphertext goes, then encrypted over itself in one
      // update (one call and one buffer, not three).
      let end = b + sealedBefore.copy(out, b);
      end += sigText.copy(out, end);
      end += sealedAfter.copy(out, end);
      b += cipher.update(out.subarray(b, end)).copy(out, b);
      b += cipher.final().copy(out, b);
      b += cipher.getAuthTag().copy(out, b);
      o = b;
    }
    parentPort.postMessage({ id, out: out.buffer, length: o }, [out.buffer]);
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message) });
  }
});
`;

interface Answer {
  id: number;
  out?: ArrayBuffer;
  length?: number;
  error?: string;
}

/** Packs items into one buffer the worker can take over (see the layout above). */
function pack(items: readonly SealItem[]): ArrayBuffer {
  const strings = items.map((it) => [
    Buffer.byteLength(it.sealed[0]),
    Buffer.byteLength(it.sealed[1]),
    Buffer.byteLength(it.entry[0]),
    Buffer.byteLength(it.entry[1]),
  ]);
  let size = 0;
  items.forEach((it, i) => {
    size += ITEM_HEAD + it.aad.length + strings[i]!.reduce((a, b) => a + b, 0);
  });
  const buf = Buffer.from(new ArrayBuffer(size));
  let at = 0;
  items.forEach((it, i) => {
    const [sb, sa, eb, ea] = strings[i]!;
    if (buf.write(it.hash, at, 'hex') !== 32) throw new Error('seal item hash is not 32 bytes');
    at += 32;
    for (const len of [it.aad.length, sb!, sa!, eb!, ea!]) at = buf.writeUInt32LE(len, at);
    buf.set(it.aad, at);
    at += it.aad.length;
    at += buf.write(it.sealed[0], at, sb!, 'utf8');
    at += buf.write(it.sealed[1], at, sa!, 'utf8');
    at += buf.write(it.entry[0], at, eb!, 'utf8');
    at += buf.write(it.entry[1], at, ea!, 'utf8');
  });
  return buf.buffer;
}

/** Reads a worker's answer: `count` items, bodies as views of the one buffer, leaves copied. */
function unpack(out: ArrayBuffer, length: number, count: number): SealedItem[] {
  const view = new DataView(out, 0, length);
  const items: SealedItem[] = [];
  for (let at = 0; at < length;) {
    const bodyLen = view.getUint32(at + 96, true);
    items.push({
      sig: new Uint8Array(out, at, 64),
      // The tree keeps every leaf: a copy, so it does not keep the whole batch alive.
      leaf: new Uint8Array(out.slice(at + 64, at + 96)),
      body: new Uint8Array(out, at + OUT_HEAD, bodyLen),
    });
    at += OUT_HEAD + bodyLen;
  }
  if (items.length !== count) throw new Error('seal worker answered for the wrong item count');
  return items;
}

/** A pool of sealing threads; a batch is split into one contiguous chunk per thread. */
export class SealPool {
  readonly #workers: Worker[];
  readonly #waiting = new Map<number, (a: Answer | Error) => void>();
  #next = 0;
  #broken: Error | undefined;

  constructor(threads: number, privateKey: KeyObject, dataKey: Uint8Array, prefix: Uint8Array) {
    const workerData = { key: privateKey, dataKey: new Uint8Array(dataKey), prefix };
    this.#workers = Array.from({ length: threads }, () => {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData });
      w.on('message', (a: Answer) => this.#settle(a.id, a));
      // A dead worker fails every pending and later batch: the caller seals in-line instead.
      w.on('error', (err) => this.#fail(err));
      w.on('exit', (code) => {
        if (code !== 0) this.#fail(new Error(`seal worker exited with ${code}`));
      });
      // Idle threads must not keep the process alive; busy ones must, or it exits mid-batch.
      w.unref();
      return w;
    });
  }

  /** Seals the items on every thread; resolves in item order, rejects if any thread fails. */
  async seal(items: readonly SealItem[]): Promise<SealedItem[]> {
    if (this.#broken) throw this.#broken;
    const per = Math.ceil(items.length / this.#workers.length);
    const parts: Array<Promise<SealedItem[]>> = [];
    for (let w = 0; w * per < items.length; w++) {
      const chunk = items.slice(w * per, (w + 1) * per);
      const packed = pack(chunk);
      const id = this.#next++;
      parts.push(
        new Promise<SealedItem[]>((resolve, reject) => {
          this.#waiting.set(id, (a) => {
            if (a instanceof Error) reject(a);
            else if (a.out === undefined) reject(new Error(`seal worker: ${a.error}`));
            else {
              try {
                resolve(unpack(a.out, a.length ?? 0, chunk.length));
              } catch (err) {
                reject(err);
              }
            }
          });
          this.#workers[w]!.ref();
          this.#workers[w]!.postMessage({ id, packed }, [packed]);
        }),
      );
    }
    return (await Promise.all(parts)).flat();
  }

  async close(): Promise<void> {
    this.#fail(new Error('seal pool closed'));
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }

  #settle(id: number, a: Answer | Error): void {
    const done = this.#waiting.get(id);
    this.#waiting.delete(id);
    if (this.#waiting.size === 0) for (const w of this.#workers) w.unref();
    done?.(a);
  }

  #fail(err: Error): void {
    this.#broken ??= err;
    for (const id of [...this.#waiting.keys()]) this.#settle(id, err);
  }
}
