/**
 * Ed25519 signature checks on worker threads, for validating large logs on every core.
 *
 * The worker is a few lines of plain JavaScript (node:crypto only, no project imports), so it
 * starts in milliseconds whether the project runs compiled or from TypeScript sources. It knows
 * nothing of records: it checks that `publicKey` signed `prefix || hash bytes` for each item and
 * answers with the seq of the first item that fails. Items travel packed in one transferred buffer.
 */
import type { KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { SigilError } from '../core/errors.ts';

/** One signature to check: the record's seq, its hash (64 hex digits) and its raw 64-byte signature. */
export interface SignatureItem {
  seq: number;
  hash: string;
  sig: Uint8Array;
}

/** Bytes per packed item: the 32-byte hash, then the 64-byte signature. */
const ITEM_BYTES = 96;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const key = createPublicKey({ key: Buffer.from(workerData.spki), format: 'der', type: 'spki' });
const prefix = Buffer.from(workerData.prefix);
parentPort.on('message', ({ id, first, packed }) => {
  const buf = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
  const message = Buffer.alloc(prefix.length + 32);
  prefix.copy(message, 0);
  for (let i = 0, at = 0; at < buf.length; i += 1, at += ${ITEM_BYTES}) {
    buf.copy(message, prefix.length, at, at + 32);
    let ok = false;
    try {
      ok = verify(null, message, key, buf.subarray(at + 32, at + ${ITEM_BYTES}));
    } catch {}
    if (!ok) return parentPort.postMessage({ id, bad: first + i });
  }
  parentPort.postMessage({ id });
});
`;

interface Answer {
  id: number;
  bad?: number;
}

/** A pool of signature-checking threads with at most two chunks in flight per thread. */
export class VerifyPool {
  readonly #workers: Worker[];
  readonly #waiting = new Map<number, (a: Answer | Error) => void>();
  readonly #inflight: Array<Promise<number | undefined>> = [];
  #next = 0;

  constructor(threads: number, publicKey: KeyObject, prefix: Uint8Array) {
    const workerData = { spki: publicKey.export({ format: 'der', type: 'spki' }), prefix };
    this.#workers = Array.from({ length: threads }, () => {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData });
      w.on('message', (a: Answer) => this.#settle(a.id, a));
      w.on('error', (err) => {
        for (const id of [...this.#waiting.keys()]) this.#settle(id, err);
      });
      return w;
    });
  }

  #settle(id: number, a: Answer | Error): void {
    const done = this.#waiting.get(id);
    this.#waiting.delete(id);
    done?.(a);
  }

  /**
   * Queues a chunk of consecutive seqs, first waiting while the pool is saturated. The returned
   * `result` resolves to the seq of the chunk's first bad signature, or undefined when all verify.
   */
  async submit(items: SignatureItem[]): Promise<{ result: Promise<number | undefined> }> {
    while (this.#inflight.length >= this.#workers.length * 2) await this.#inflight.shift();
    const packed = Buffer.alloc(items.length * ITEM_BYTES);
    items.forEach((item, i) => {
      // Written in place, not decoded to bytes first; a hash that is not 64 hex digits stops short.
      if (packed.write(item.hash, i * ITEM_BYTES, 32, 'hex') !== 32 || item.hash.length !== 64) {
        throw new SigilError('internal_error', `seq ${item.seq}: the hash is not 64 hex digits`);
      }
      packed.set(item.sig, i * ITEM_BYTES + 32);
    });
    const id = this.#next++;
    const result = new Promise<number | undefined>((resolve, reject) => {
      this.#waiting.set(id, (a) => (a instanceof Error ? reject(a) : resolve(a.bad)));
    });
    const first = items[0]?.seq ?? 0;
    this.#workers[id % this.#workers.length]!.postMessage({ id, first, packed }, [packed.buffer]);
    this.#inflight.push(result);
    return { result };
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
