/**
 * Signing and body encryption on worker threads, so a batch's records are sealed on every core.
 *
 * The chain stays in order on the caller's thread: it computes each record's body hash over the
 * hash before it (cheap: one SHA-256), then the workers do the expensive, independent part of
 * each record: the Ed25519 signature over its hash and AES-256-GCM of its sealed text. Like
 * verify-pool.ts, the worker is plain JavaScript on node:crypto alone and knows nothing of
 * records: for each item it signs `prefix || hash bytes`, splices the base64url signature between
 * two given texts and encrypts the result under the given AAD, in the byte layout of
 * aesGcmSeal (nonce || ciphertext || tag). append.ts checks a probe sealed through the pool
 * against record.ts before the pool's first use, so a drift can never reach the log.
 *
 * The log key and the data key are handed to threads of this same process (structured clone of
 * the KeyObject and the key bytes); they never leave it.
 */
import type { KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/** One record to seal: its hex body hash, the sealed text around its signature, and its AAD. */
export interface SealItem {
  hash: string;
  before: string;
  after: string;
  aad: Uint8Array;
}

/** What the worker returns per item: the raw signature and the encrypted sealed text. */
export interface SealedItem {
  sig: Uint8Array;
  body: Uint8Array;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createCipheriv, randomBytes, sign } = require('node:crypto');
const { key, dataKey } = workerData;
const prefix = Buffer.from(workerData.prefix);
parentPort.on('message', ({ id, items }) => {
  try {
    const out = items.map(({ hash, before, after, aad }) => {
      const sig = sign(null, Buffer.concat([prefix, Buffer.from(hash, 'hex')]), key);
      const plain = Buffer.from(before + sig.toString('base64url') + after, 'utf8');
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', dataKey, iv, { authTagLength: 16 });
      cipher.setAAD(aad);
      const body = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { sig: new Uint8Array(sig), body: new Uint8Array(body) };
    });
    parentPort.postMessage({ id, out });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message) });
  }
});
`;

interface Answer {
  id: number;
  out?: SealedItem[];
  error?: string;
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
      const id = this.#next++;
      parts.push(
        new Promise<SealedItem[]>((resolve, reject) => {
          this.#waiting.set(id, (a) => {
            if (a instanceof Error) reject(a);
            else if (a.out === undefined) reject(new Error(`seal worker: ${a.error}`));
            else resolve(a.out);
          });
          this.#workers[w]!.ref();
          this.#workers[w]!.postMessage({ id, items: chunk });
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
