/**
 * Appending: sealing drafts into chained, signed, encrypted rows, and the group commit that
 * batches concurrent appends into one transaction and one fsync.
 */
import { canonicalJson } from '../core/canonical.ts';
import { sign, type Ed25519KeyPair } from '../core/ed25519.ts';
import { constantTimeEqual, toBase64Url, utf8Encode } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { encryptBody, MAX_RECORDS_PER_DATA_KEY } from './envelope.ts';
import { leafHash } from './merkle.ts';
import {
  entryJson,
  hashBody,
  recordJsonParts,
  recordSigningMessage,
  sealedJson,
} from './record-json.ts';
import {
  leafEntry,
  readRecordDraft,
  recordBytes,
  verifyRecord,
  type CanonicalRecord,
  type Link,
  type RecordDraft,
} from './record.ts';
import type { LogHead, StoredRow } from './store/types.ts';

/** A record as the log returns it: the sealed record and its place in the log. */
export type SealedRecord = CanonicalRecord & { seq: number };

/** A validated draft with its defaults filled (id, ts, links). */
/** A validated draft with its defaults, and its payload's canonical text. */
export type ReadyDraft = RecordDraft & {
  id: string;
  ts: string;
  links: Link[];
  payloadJson: string;
};

/** What sealing needs: the log key and the data key. */
export interface SealKeys {
  signer: Ed25519KeyPair;
  /** base64url raw public key of `signer` */
  pubKey: string;
  dataKey: Uint8Array;
}

/** The draft's strings must have a canonical form (no lone surrogates), or sealing would fail. */
function checkCanonicalStrings(d: ReadyDraft): void {
  for (const [field, value] of [
    ['tenant', d.tenant],
    ['links', d.links],
  ] as const) {
    try {
      canonicalJson(value);
    } catch {
      throw new SigilError('record_invalid', `record field ${field}: not canonicalisable`, {
        field,
      });
    }
  }
}

/** Validates untrusted drafts; an error names the draft's index in details.index. */
export function readyDrafts(drafts: readonly unknown[], maxPayloadBytes?: number): ReadyDraft[] {
  return drafts.map((d, index) => {
    try {
      const { draft, payloadJson } = readRecordDraft(
        d,
        maxPayloadBytes === undefined ? {} : { maxPayloadBytes },
      );
      const ready: ReadyDraft = { ...draft, payloadJson };
      checkCanonicalStrings(ready);
      return ready;
    } catch (err) {
      if (err instanceof SigilError) {
        throw new SigilError(err.code, err.message, { ...err.details, index });
      }
      throw err;
    }
  });
}

function sealOne(keys: SealKeys, d: ReadyDraft, seq: number, prev: string | null) {
  const parts = recordJsonParts({
    id: d.id,
    kind: d.kind,
    links: d.links,
    payloadJson: d.payloadJson,
    prev,
    pub_key: keys.pubKey,
    space: d.space,
    tenant: d.tenant,
    ts: d.ts,
  });
  const hash = hashBody(parts);
  const sig = toBase64Url(sign(keys.signer.privateKey, recordSigningMessage(hash)));
  const bytes = utf8Encode(sealedJson(parts, hash, sig, '[]'));
  const entry = utf8Encode(
    entryJson({ hash, id: d.id, kind: d.kind, prev, pub_key: keys.pubKey, sig, ts: d.ts }, '[]'),
  );
  const record: SealedRecord = {
    kind: d.kind,
    schema_version: 1,
    id: d.id,
    tenant: d.tenant,
    ts: d.ts,
    space: d.space,
    payload: d.payload,
    links: d.links,
    prev,
    hash,
    sig,
    pub_key: keys.pubKey,
    witnesses: [],
    seq,
  };
  return { record, bytes, entry };
}

/**
 * Seals drafts onto the head: seq from head.size, each prev the hash before it. Each row holds
 * the clear columns, the leaf hash of the record's log entry and
 * encryptBody(dataKey, seq, id, canonical record bytes).
 */
export function sealBatch(
  keys: SealKeys,
  drafts: readonly ReadyDraft[],
  head: LogHead,
): { records: SealedRecord[]; rows: StoredRow[] } {
  if (head.size + drafts.length > MAX_RECORDS_PER_DATA_KEY) {
    throw new SigilError('data_key_exhausted', 'the data key has sealed its maximum of records');
  }
  const records: SealedRecord[] = [];
  const rows: StoredRow[] = [];
  let prev = head.hash;
  let seq = head.size;
  for (const d of drafts) {
    const { record, bytes, entry } = sealOne(keys, d, seq, prev);
    records.push(record);
    rows.push({
      seq,
      id: d.id,
      kind: d.kind,
      ts: d.ts,
      leaf_hash: leafHash(entry),
      hash: record.hash,
      prev,
      body: encryptBody(keys.dataKey, seq, d.id, bytes),
    });
    prev = record.hash;
    seq += 1;
  }
  return { records, rows };
}

/**
 * Seals a probe record the fast way and checks record.ts agrees (hash, signature, record and
 * entry bytes);
 * 'internal_error' if not, so a drift between the two can never reach the log.
 */
export function assertSealerMatchesRecordModule(keys: SealKeys): void {
  const [probe] = readyDrafts([
    {
      kind: 'audit_record',
      tenant: 'probe\u00e9',
      space: 'system',
      payload: { b: [1, 2.5, 'x'], a: { '10': true, '9': null }, '\u20ac': 'e' },
      links: [{ rel: 'r', id: 'x' }],
    },
  ]);
  const { record: sealed, bytes, entry } = sealOne(keys, probe!, 0, 'ab'.repeat(32));
  const { seq: _seq, ...record } = sealed;
  if (
    !verifyRecord(record).ok ||
    !constantTimeEqual(recordBytes(record), bytes) ||
    !constantTimeEqual(leafEntry(record), entry)
  ) {
    throw new SigilError('internal_error', 'the log sealer disagrees with record.ts');
  }
}

interface Pending {
  drafts: ReadyDraft[];
  resolve(records: SealedRecord[]): void;
  reject(err: unknown): void;
}

/** Most drafts merged into one batch (a single appendMany may exceed it; it is never split). */
const MAX_BATCH = 4096;

/**
 * Group commit: submissions queue while a batch is being written; the single writer loop takes
 * everything queued as the next batch and commits it with one `commit` call (one transaction,
 * one fsync). A submission settles only after its batch committed. If a merged batch fails, each
 * submission is retried alone, so one bad submission cannot fail the others.
 */
export class GroupCommit {
  readonly #commit: (drafts: ReadyDraft[]) => Promise<SealedRecord[]>;
  readonly #afterBatch: () => Promise<void>;
  #queue: Pending[] = [];
  #running: Promise<void> | undefined;

  constructor(
    commit: (drafts: ReadyDraft[]) => Promise<SealedRecord[]>,
    afterBatch: () => Promise<void>,
  ) {
    this.#commit = commit;
    this.#afterBatch = afterBatch;
  }

  /** Queues drafts as one atomic unit; resolves with their records once durable. */
  submit(drafts: ReadyDraft[]): Promise<SealedRecord[]> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ drafts, resolve, reject });
      this.#running ??= this.#drain();
    });
  }

  /** Resolves when every submission so far has settled. */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        // Yield once so appends issued in the same turn join this batch.
        await new Promise<void>((resolve) => setImmediate(resolve));
        await this.#commitBatch(this.#takeBatch());
        await this.#afterBatch().catch(() => {});
      }
    } finally {
      this.#running = undefined;
    }
  }

  #takeBatch(): Pending[] {
    let count = 0;
    let n = 0;
    while (
      n < this.#queue.length &&
      (n === 0 || count + this.#queue[n]!.drafts.length <= MAX_BATCH)
    ) {
      count += this.#queue[n]!.drafts.length;
      n += 1;
    }
    return this.#queue.splice(0, n);
  }

  async #commitBatch(batch: Pending[]): Promise<void> {
    try {
      const records = await this.#commit(batch.flatMap((p) => p.drafts));
      let at = 0;
      for (const p of batch) {
        p.resolve(records.slice(at, at + p.drafts.length));
        at += p.drafts.length;
      }
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err);
        return;
      }
      for (const p of batch) {
        try {
          p.resolve(await this.#commit(p.drafts));
        } catch (single) {
          p.reject(single);
        }
      }
    }
  }
}
