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

/**
 * A pool of signature-checking threads with at most two chunks in flight per thread. A chunk goes
 * to the thread with the fewest in flight, so one the machine's other load holds back is given
 * less, and a full pool waits for any chunk, not the oldest.
 */
export class VerifyPool {
  readonly #workers: Worker[];
  /** Chunks in flight per thread. */
  readonly #queued: number[];
  readonly #waiting = new Map<number, (a: Answer | Error) => void>();
  #inflight = 0;
  /** Submits waiting on a full pool, woken when a chunk is answered. */
  readonly #freed: Array<() => void> = [];
  #next = 0;

  constructor(threads: number, publicKey: KeyObject, prefix: Uint8Array) {
    const workerData = { spki: publicKey.export({ format: 'der', type: 'spki' }), prefix };
    this.#queued = Array.from({ length: threads }, () => 0);
    this.#workers = Array.from({ length: threads }, (_, t) => {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData });
      w.on('message', (a: Answer) => {
        this.#queued[t]! -= 1;
        this.#settle(a.id, a);
      });
      w.on('error', (err) => {
        for (const id of [...this.#waiting.keys()]) this.#settle(id, err);
      });
      return w;
    });
  }

  #settle(id: number, a: Answer | Error): void {
    const done = this.#waiting.get(id);
    if (done === undefined) return;
    this.#waiting.delete(id);
    this.#inflight -= 1;
    done(a);
    this.#freed.shift()?.();
  }

  /**
   * Queues a chunk of consecutive seqs, first waiting while the pool is saturated. The returned
   * `result` resolves to the seq of the chunk's first bad signature, or undefined when all verify.
   */
  async submit(items: SignatureItem[]): Promise<{ result: Promise<number | undefined> }> {
    while (this.#inflight >= this.#workers.length * 2) {
      await new Promise<void>((resolve) => this.#freed.push(resolve));
    }
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
    let t = 0;
    for (let k = 1; k < this.#queued.length; k++) if (this.#queued[k]! < this.#queued[t]!) t = k;
    this.#queued[t]! += 1;
    this.#inflight += 1;
    const first = items[0]?.seq ?? 0;
    this.#workers[t]!.postMessage({ id, first, packed }, [packed.buffer]);
    return { result };
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
