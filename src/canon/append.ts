/**
 * Appending: sealing drafts into chained, signed, encrypted rows, and the group commit that
 * batches concurrent appends into one transaction and one fsync.
 */
import { canonicalJson } from '../core/canonical.ts';
import { sign, type Ed25519KeyPair } from '../core/ed25519.ts';
import { constantTimeEqual, toBase64Url, utf8Encode } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { bodyAad, decryptBody, encryptBody, MAX_RECORDS_PER_DATA_KEY } from './envelope.ts';
import type { SealItem, SealPool } from './seal-pool.ts';
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
import type { LogHead, StoredRow, ViewExpectation } from './store/types.ts';

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

/** The first, in-order half of sealing: the body's canonical parts and hash over `prev`. */
function chainOne(keys: SealKeys, d: ReadyDraft, prev: string | null) {
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
  return { parts, hash: hashBody(parts) };
}

/** The record, its log entry and its row once signed; `body` is the encrypted sealed text. */
function finishOne(
  keys: SealKeys,
  d: ReadyDraft,
  seq: number,
  prev: string | null,
  hash: string,
  sig: string,
) {
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
  return { record, entry };
}

function sealOne(keys: SealKeys, d: ReadyDraft, seq: number, prev: string | null) {
  const { parts, hash } = chainOne(keys, d, prev);
  const sig = toBase64Url(sign(keys.signer.privateKey, recordSigningMessage(hash)));
  const bytes = utf8Encode(sealedJson(parts, hash, sig, '[]'));
  return { ...finishOne(keys, d, seq, prev, hash, sig), bytes };
}

function checkCapacity(head: LogHead, count: number): void {
  if (head.size + count > MAX_RECORDS_PER_DATA_KEY) {
    throw new SigilError('data_key_exhausted', 'the data key has sealed its maximum of records');
  }
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
  checkCapacity(head, drafts.length);
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

/** A batch sealed ahead of its transaction, valid only if the store's head is still `head`. */
export interface PresealedBatch {
  head: LogHead;
  /** The head once this batch is written (what the next batch chains from). */
  end: LogHead;
  records: SealedRecord[];
  rows: StoredRow[];
}

/** Where the signature goes in the sealed text: it sorts last among the members named `sig`. */
const SIG_SLOT = '"sig":""';

/**
 * Seals drafts onto `head` as sealBatch does, but signs and encrypts on the pool's threads: the
 * hashes are chained here, in order, then every record is signed and encrypted in parallel.
 */
export async function presealBatch(
  pool: SealPool,
  keys: SealKeys,
  drafts: readonly ReadyDraft[],
  head: LogHead,
): Promise<PresealedBatch> {
  checkCapacity(head, drafts.length);
  const items: SealItem[] = [];
  const chain: Array<{ seq: number; prev: string | null; hash: string }> = [];
  let prev = head.hash;
  let seq = head.size;
  for (const d of drafts) {
    const { parts, hash } = chainOne(keys, d, prev);
    // The tail after the slot holds only strings and "[]", where quotes are escaped, so the
    // last match is the signature's own member.
    const text = sealedJson(parts, hash, '', '[]');
    const at = text.lastIndexOf(SIG_SLOT) + SIG_SLOT.length - 1;
    items.push({ hash, before: text.slice(0, at), after: text.slice(at), aad: bodyAad(seq, d.id) });
    chain.push({ seq, prev, hash });
    prev = hash;
    seq += 1;
  }
  const sealed = await pool.seal(items);
  const records: SealedRecord[] = [];
  const rows: StoredRow[] = [];
  drafts.forEach((d, i) => {
    const { seq: s, prev: p, hash } = chain[i]!;
    const { record, entry } = finishOne(keys, d, s, p, hash, toBase64Url(sealed[i]!.sig));
    records.push(record);
    rows.push({
      seq: s,
      id: d.id,
      kind: d.kind,
      ts: d.ts,
      leaf_hash: leafHash(entry),
      hash,
      prev: p,
      body: sealed[i]!.body,
    });
  });
  return { head, end: { size: seq, hash: prev }, records, rows };
}

/**
 * Seals a probe through the pool and checks record.ts agrees: the signature verifies, and the
 * body decrypts to the record's canonical bytes. 'internal_error' if not.
 */
export async function assertPoolMatchesRecordModule(pool: SealPool, keys: SealKeys): Promise<void> {
  const [probe] = readyDrafts([
    {
      kind: 'audit_record',
      tenant: 'probe"sig":""\u00e9',
      space: 'system',
      payload: { sig: '', b: [1, 2.5, 'x'], a: { '10': true, '9': null }, '\u20ac': 'e' },
      links: [{ rel: 'r', id: 'x' }],
    },
  ]);
  const { records, rows } = await presealBatch(pool, keys, [probe!], {
    size: 7,
    hash: 'ab'.repeat(32),
  });
  const { seq: _seq, ...record } = records[0]!;
  const row = rows[0]!;
  if (
    !verifyRecord(record).ok ||
    !constantTimeEqual(decryptBody(keys.dataKey, row.seq, row.id, row.body), recordBytes(record)) ||
    !constantTimeEqual(row.leaf_hash, leafHash(leafEntry(record)))
  ) {
    throw new SigilError('internal_error', 'the pooled sealer disagrees with record.ts');
  }
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
  expect: readonly ViewExpectation[];
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
 *
 * With a `prepare` stage (sealing on worker threads), batches are pipelined: while batch N is
 * written, batch N+1 is prepared on the assumption that N commits. `commit` gets what was
 * prepared and must check that assumption in its transaction (and seal in-line if it failed).
 */
export class GroupCommit<P = never> {
  readonly #commit: (
    drafts: ReadyDraft[],
    prepared: P | undefined,
    expect: readonly ViewExpectation[],
  ) => Promise<SealedRecord[]>;
  readonly #afterBatch: () => Promise<void>;
  readonly #prepare: (drafts: ReadyDraft[], after: P | undefined) => Promise<P | undefined>;
  #queue: Pending[] = [];
  #running: Promise<void> | undefined;

  constructor(
    commit: (
      drafts: ReadyDraft[],
      prepared: P | undefined,
      expect: readonly ViewExpectation[],
    ) => Promise<SealedRecord[]>,
    afterBatch: () => Promise<void>,
    prepare: (drafts: ReadyDraft[], after: P | undefined) => Promise<P | undefined> = async () =>
      undefined,
  ) {
    this.#commit = commit;
    this.#afterBatch = afterBatch;
    this.#prepare = prepare;
  }

  /**
   * Queues drafts as one atomic unit; resolves with their records once durable. With `expect`
   * it commits in a batch of its own, and only while those view rows are unchanged.
   */
  submit(drafts: ReadyDraft[], expect: readonly ViewExpectation[] = []): Promise<SealedRecord[]> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ drafts, expect, resolve, reject });
      this.#running ??= this.#drain();
    });
  }

  /** Resolves when every submission so far has settled. */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
  }

  #stage(
    batch: Pending[],
    after: P | undefined,
  ): { batch: Pending[]; prepared: Promise<P | undefined> } {
    // A failed preparation only means sealing in-line.
    const prepared = this.#prepare(
      batch.flatMap((p) => p.drafts),
      after,
    ).catch(() => undefined);
    return { batch, prepared };
  }

  async #drain(): Promise<void> {
    try {
      let ahead: { batch: Pending[]; prepared: Promise<P | undefined> } | undefined;
      while (ahead !== undefined || this.#queue.length > 0) {
        if (ahead === undefined) {
          // Yield once so appends issued in the same turn join this batch.
          await new Promise<void>((resolve) => setImmediate(resolve));
          ahead = this.#stage(this.#takeBatch(), undefined);
        }
        const current = ahead;
        const prepared = await current.prepared;
        ahead =
          this.#queue.length > 0 && prepared !== undefined
            ? this.#stage(this.#takeBatch(), prepared)
            : undefined;
        await this.#commitBatch(current.batch, prepared);
        await this.#afterBatch().catch(() => {});
      }
    } finally {
      this.#running = undefined;
    }
  }

  #takeBatch(): Pending[] {
    let count = 0;
    let n = 0;
    // A submission with an expectation commits alone, so the store's check covers it exactly
    // (no other record of its batch can have moved the row it expects).
    while (
      n < this.#queue.length &&
      (n === 0 ||
        (count + this.#queue[n]!.drafts.length <= MAX_BATCH &&
          this.#queue[0]!.expect.length === 0 &&
          this.#queue[n]!.expect.length === 0))
    ) {
      count += this.#queue[n]!.drafts.length;
      n += 1;
    }
    return this.#queue.splice(0, n);
  }

  async #commitBatch(batch: Pending[], prepared: P | undefined): Promise<void> {
    try {
      const records = await this.#commit(
        batch.flatMap((p) => p.drafts),
        prepared,
        batch.flatMap((p) => p.expect),
      );
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
          p.resolve(await this.#commit(p.drafts, undefined, p.expect));
        } catch (single) {
          p.reject(single);
        }
      }
    }
  }
}
