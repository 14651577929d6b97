/**
 * Content that many decision records share, sealed once in the log as a record of one kind and
 * named by the hash of its content: what the log holds by hash, and the seal of what it does not
 * hold yet. The hash is computed here from the content, never read from a record.
 */
import type { RecordKind } from '../../canon/record.ts';
import type { SealedRecord } from '../../canon/log.ts';
import type { JsonValue } from '../../core/canonical.ts';
import { forEachRecordOfKind, type RuntimeCore } from '../core.ts';

export class SealedByHash<T> {
  readonly #kind: RecordKind;
  readonly #of: (record: SealedRecord) => T;
  readonly #hash: (value: T) => string;
  readonly #byHash = new Map<string, T>();
  /** Seals in flight, so concurrent decisions naming new content seal it once. */
  readonly #sealing = new Map<string, Promise<void>>();

  /** `of`: the content a record of `kind` holds (throws on a malformed one); `hash`: its name. */
  constructor(kind: RecordKind, of: (record: SealedRecord) => T, hash: (value: T) => string) {
    this.#kind = kind;
    this.#of = of;
    this.#hash = hash;
  }

  get byHash(): ReadonlyMap<string, T> {
    return this.#byHash;
  }

  has(hash: string): boolean {
    return this.#byHash.has(hash);
  }

  /** Reads every record of the kind in the log (another instance may have sealed one). */
  async load(core: RuntimeCore): Promise<void> {
    await forEachRecordOfKind(core, this.#kind, (record) => {
      const value = this.#of(record);
      this.#byHash.set(this.#hash(value), value);
    });
  }

  /**
   * Seals `value`, whose hash is `hash`, unless the log holds it. A failed seal throws (the
   * decision naming it is not sealed) and is retried by the next decision.
   */
  async ensure(core: RuntimeCore, hash: string, value: T): Promise<void> {
    if (this.#byHash.has(hash)) return;
    let pending = this.#sealing.get(hash);
    if (pending === undefined) {
      pending = core
        .append(this.#kind, value as unknown as JsonValue)
        .then(() => void this.#byHash.set(hash, value))
        .finally(() => this.#sealing.delete(hash));
      this.#sealing.set(hash, pending);
    }
    await pending;
  }
}
