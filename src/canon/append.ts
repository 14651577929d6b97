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
  entryJsonAroundSig,
  recordSigningMessage,
  sealedJson,
  sealedJsonAroundSig,
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

/** The record once signed. */
function sealedRecord(
  keys: SealKeys,
  d: ReadyDraft,
  seq: number,
  prev: string | null,
  hash: string,
  sig: string,
): SealedRecord {
  return {
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
}

function sealOne(keys: SealKeys, d: ReadyDraft, seq: number, prev: string | null) {
  const { parts, hash } = chainOne(keys, d, prev);
  const sig = toBase64Url(sign(keys.signer.privateKey, recordSigningMessage(hash)));
  const bytes = utf8Encode(sealedJson(parts, hash, sig, '[]'));
  const entry = utf8Encode(
    entryJson({ hash, id: d.id, kind: d.kind, prev, pub_key: keys.pubKey, sig, ts: d.ts }, '[]'),
  );
  return { record: sealedRecord(keys, d, seq, prev, hash, sig), bytes, entry };
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

/** A batch's records and rows once sealed. */
export interface Sealed {
  records: SealedRecord[];
  rows: StoredRow[];
}

/**
 * A batch chained onto `head` ahead of its transaction, valid only if the store's head is still
 * `head` then. `end` (the head once it is written, what the next batch chains from) is known as
 * soon as the hashes are chained; `sealed` settles when the workers have signed and encrypted
 * (undefined if they failed: the transaction then seals in-line).
 */
export interface PresealedBatch {
  head: LogHead;
  end: LogHead;
  sealed: Promise<Sealed | undefined>;
}

/**
 * Seals drafts onto `head` as sealBatch does, but signs, leaf-hashes and encrypts on the pool's
 * threads: the hashes are chained here, in order and at once, then every record is sealed in
 * parallel.
 */
export function presealBatch(
  pool: SealPool,
  keys: SealKeys,
  drafts: readonly ReadyDraft[],
  head: LogHead,
): PresealedBatch {
  checkCapacity(head, drafts.length);
  const items: SealItem[] = [];
  const chain: Array<{ seq: number; prev: string | null; hash: string }> = [];
  let prev = head.hash;
  let seq = head.size;
  for (const d of drafts) {
    const { parts, hash } = chainOne(keys, d, prev);
    items.push({
      hash,
      aad: bodyAad(seq, d.id),
      sealed: sealedJsonAroundSig(parts, hash),
      entry: entryJsonAroundSig({
        hash,
        id: d.id,
        kind: d.kind,
        prev,
        pub_key: keys.pubKey,
        ts: d.ts,
      }),
    });
    chain.push({ seq, prev, hash });
    prev = hash;
    seq += 1;
  }
  const sealed = pool.seal(items).then(
    (out): Sealed => {
      const records: SealedRecord[] = [];
      const rows: StoredRow[] = [];
      drafts.forEach((d, i) => {
        const { seq: s, prev: p, hash } = chain[i]!;
        const { sig, leaf, body } = out[i]!;
        records.push(sealedRecord(keys, d, s, p, hash, toBase64Url(sig)));
        rows.push({
          seq: s,
          id: d.id,
          kind: d.kind,
          ts: d.ts,
          leaf_hash: leaf,
          hash,
          prev: p,
          body,
        });
      });
      return { records, rows };
    },
    // A failed pool (a dead thread) only means sealing in-line.
    () => undefined,
  );
  return { head, end: { size: seq, hash: prev }, sealed };
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
  const sealed = await presealBatch(pool, keys, [probe!], { size: 7, hash: 'ab'.repeat(32) })
    .sealed;
  if (sealed === undefined) throw new SigilError('internal_error', 'the pooled sealer failed');
  const { records, rows } = sealed;
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

const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Most drafts merged into one batch (a single appendMany may exceed it; it is never split). */
const MAX_BATCH = 4096;
/** Batches staged at once: the one committing and the ones sealing behind it. */
const PIPELINE = 2;
/** Fewest drafts staged behind a batch already in flight. */
const MIN_STAGED = 16;

/**
 * Group commit: submissions queue while a batch is being written; the single writer loop takes
 * what is queued as the next batches and commits each with one `commit` call (one transaction,
 * one fsync). A submission settles only after its batch committed. If a merged batch fails, each
 * submission is retried alone, so one bad submission cannot fail the others.
 *
 * With a `prepare` stage (chaining here, sealing on worker threads), batches are pipelined:
 * while batch N is written, the batches behind it are prepared on the assumption that N
 * commits, each chained after the one before. What is queued is spread over the free places of
 * the pipeline, so a short queue goes out at once in small batches (a quick acknowledgement)
 * and a long one in big batches, while the workers seal one batch as the next is written.
 * `commit` gets what was prepared and must check that assumption in its transaction (and seal
 * in-line if it failed).
 */
export class GroupCommit<P = never> {
  readonly #commit: (
    drafts: ReadyDraft[],
    prepared: P | undefined,
    expect: readonly ViewExpectation[],
  ) => Promise<SealedRecord[]>;
  readonly #afterBatch: () => Promise<void>;
  readonly #prepare: (
    drafts: ReadyDraft[],
    after: P | undefined,
    expect: readonly ViewExpectation[],
  ) => P | undefined;
  readonly #canPrepare: () => boolean;
  #queue: Pending[] = [];
  #running: Promise<void> | undefined;

  constructor(
    commit: (
      drafts: ReadyDraft[],
      prepared: P | undefined,
      expect: readonly ViewExpectation[],
    ) => Promise<SealedRecord[]>,
    afterBatch: () => Promise<void>,
    prepare: (
      drafts: ReadyDraft[],
      after: P | undefined,
      expect: readonly ViewExpectation[],
    ) => P | undefined = () => undefined,
    /** Whether a batch with nothing before it can be prepared now. */
    canPrepare: () => boolean = () => false,
  ) {
    this.#commit = commit;
    this.#afterBatch = afterBatch;
    this.#prepare = prepare;
    this.#canPrepare = canPrepare;
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

  async #drain(): Promise<void> {
    try {
      const staged: Array<{ batch: Pending[]; prepared: P | undefined }> = [];
      /** Submissions the last commit acknowledged. */
      let woken = 0;
      while (staged.length > 0 || this.#queue.length > 0) {
        // Yield once so appends issued in this turn, or woken by the last commit, join; once
        // more when many were woken and few are back. An appender that reads before it appends
        // again (runtime.check reads the committed settings: a turn) missed the first, and its
        // batch went out in halves, a third more transactions per record.
        await yieldTurn();
        if (woken >= MIN_STAGED && this.#queued() < MIN_STAGED) await yieldTurn();
        while (this.#queue.length > 0 && staged.length < PIPELINE) {
          const queued = this.#queued();
          // Behind a batch in flight, a few drafts wait to join the next ones rather than
          // cost a transaction (and an fsync) of their own.
          if (staged.length > 0 && queued < MIN_STAGED) break;
          // Each batch is chained after the one staged before it, so none is staged behind one
          // that was not prepared: its end is unknown until it commits.
          const last = staged[staged.length - 1];
          if (last !== undefined && last.prepared === undefined) break;
          // Spread over the free places only where the batches can be chained ahead.
          const places = last === undefined && !this.#canPrepare() ? 1 : PIPELINE - staged.length;
          const batch = this.#takeBatch(Math.ceil(queued / places));
          let prepared: P | undefined;
          try {
            prepared = this.#prepare(
              batch.flatMap((p) => p.drafts),
              last?.prepared,
              batch.flatMap((p) => p.expect),
            );
          } catch {
            // A failed preparation only means sealing in-line.
          }
          staged.push({ batch, prepared });
        }
        const current = staged.shift()!;
        woken = current.batch.length;
        await this.#commitBatch(current.batch, current.prepared);
        await this.#afterBatch().catch(() => {});
      }
    } finally {
      this.#running = undefined;
    }
  }

  /** Drafts queued. */
  #queued(): number {
    return this.#queue.reduce((n, p) => n + p.drafts.length, 0);
  }

  /** Takes the next batch: about `want` drafts, whole submissions, at least one. */
  #takeBatch(want: number): Pending[] {
    let count = 0;
    let n = 0;
    // A submission with an expectation commits alone, so the store's check covers it exactly
    // (no other record of its batch can have moved the row it expects).
    while (
      n < this.#queue.length &&
      (n === 0 ||
        (count < want &&
          count + this.#queue[n]!.drafts.length <= MAX_BATCH &&
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
