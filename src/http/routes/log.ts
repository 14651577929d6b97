/**
 * The public audit surface: the latest signed checkpoint and Merkle proofs, with no
 * authentication, so anyone holding the log's verifier key can check the log from outside.
 */
import { openCheckpoint } from '../../canon/checkpoint.ts';
import { parseCosignerKey, validCosignatures } from '../../canon/cosignature.ts';
import type { LogReader } from '../../canon/log.ts';
import { parseTilePath } from '../../canon/tiles.ts';
import { toHex } from '../../core/encoding.ts';
import { SigilError } from '../../core/errors.ts';
import type { AddRoute } from '../route.ts';
import {
  Checkpoint,
  ConsistencyProof,
  ConsistencyQuery,
  InclusionProof,
  InclusionQuery,
  LogWitnessList,
} from '../schemas.ts';

/** Tiles and entry bundles never change once they exist: caches may keep them for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** The checkpoint moves on: a cache may hold it a few seconds at most (tlog-tiles). */
const CHECKPOINT_CACHE = 'public, max-age=2';

/** Least time between two checkpoints signed on demand (bounds what anonymous reads can write). */
const MIN_SIGN_INTERVAL_MS = 1000;

/**
 * The checkpoint to serve: for a witnessed log, the newest one its witnesses cosigned, with
 * their cosignature lines; otherwise (or before any cosignature) the newest stored one, or a
 * fresh one when the log has grown since and none was signed on demand in the last second.
 * Concurrent requests share one signing.
 */
class CheckpointSource {
  readonly #log: LogReader;
  #pending: Promise<string> | undefined;
  #lastSigned = 0;

  constructor(log: LogReader) {
    this.#log = log;
  }

  async latest(): Promise<string> {
    // A witnessed log serves what its witnesses cosigned; the pusher signs as the log grows.
    if (this.#log.witnessed) {
      const cosigned = await this.#log.cosignedCheckpoint();
      if (cosigned !== undefined) return cosigned;
    }
    const [note, size] = await Promise.all([this.#log.latestCheckpoint(), this.#log.size()]);
    if (note !== undefined) {
      const fresh = this.#open(note).size >= size;
      if (fresh || Date.now() - this.#lastSigned < MIN_SIGN_INTERVAL_MS) return note;
    }
    if (this.#pending === undefined) {
      this.#lastSigned = Date.now();
      this.#pending = this.#log.checkpoint().finally(() => {
        this.#pending = undefined;
      });
    }
    return this.#pending;
  }

  #open(note: string) {
    return openCheckpoint(note, this.#log.keyName, this.#log.publicKey);
  }

  describe(note: string) {
    const cp = this.#open(note);
    return {
      origin: cp.origin,
      size: cp.size,
      root_hash: toHex(cp.rootHash),
      timestamp: cp.timestamp ?? null,
      note,
      verifier_key: this.#log.verifierKey,
    };
  }
}

const isoTime = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/**
 * This instance's view of its witnesses, the checkpoint it serves and whether it refuses writes.
 * Public, as the cosignatures themselves are, and it seals nothing: it must answer when the log
 * is rolled back, when no decision can be sealed.
 */
async function witnessList(log: LogReader) {
  const status = log.witnessStatus();
  const quorum = log.witnessQuorum ?? null;
  const note = await log.cosignedCheckpoint();
  let checkpoint = null;
  if (note !== undefined) {
    const found = validCosignatures(
      note,
      status.map((w) => parseCosignerKey(w.key)),
    );
    checkpoint = {
      size: openCheckpoint(note, log.keyName, log.publicKey).size,
      cosigned_by: [...found.keys()].sort(),
      quorum_met: quorum !== null && found.size >= quorum,
    };
  }
  return {
    witnessed: log.witnessed,
    quorum,
    rolled_back: log.rolledBack?.message ?? null,
    checkpoint,
    witnesses: status.map((w) => ({
      name: w.name,
      url: w.url,
      key: w.key,
      cosigned_size: w.size ?? null,
      cosigned_at: isoTime(w.cosigned_at === undefined ? undefined : w.cosigned_at * 1000),
      last_push_at: isoTime(w.last_push_at),
      last_error: w.problem ?? null,
      claim: w.claim ?? null,
    })),
  };
}

export function logRoutes(add: AddRoute, log: LogReader): void {
  const checkpoints = new CheckpointSource(log);

  add({
    method: 'GET',
    url: '/api/log/checkpoint',
    summary: 'The latest signed checkpoint (C2SP signed note) and the verifier key',
    tag: 'log',
    auth: 'public',
    responses: { 200: { description: 'The checkpoint', schema: Checkpoint } },
    errors: [],
    handler: async () => checkpoints.describe(await checkpoints.latest()),
  });

  add({
    method: 'GET',
    url: '/api/log/witnesses',
    summary:
      'Each configured witness as this instance knows it (last cosigned size and time, last push, last error, an unproven claim), the cosigned checkpoint served and whether writes are refused (log_rolled_back)',
    tag: 'log',
    auth: 'public',
    responses: { 200: { description: 'The witnesses', schema: LogWitnessList } },
    errors: [],
    handler: () => witnessList(log),
  });

  add({
    method: 'GET',
    url: '/api/log/proof/inclusion',
    summary: 'RFC 6962 inclusion proof of the record at seq in the tree of size records',
    tag: 'log',
    auth: 'public',
    querystring: InclusionQuery,
    responses: { 200: { description: 'The proof', schema: InclusionProof } },
    errors: [400, 416],
    handler: async ({ query }) =>
      log.proveInclusion(
        Number(query.seq),
        query.size === undefined ? undefined : Number(query.size),
      ),
  });

  add({
    method: 'GET',
    url: '/api/log/proof/consistency',
    summary: 'RFC 6962 consistency proof between the trees of from and to records',
    tag: 'log',
    auth: 'public',
    querystring: ConsistencyQuery,
    responses: { 200: { description: 'The proof', schema: ConsistencyProof } },
    errors: [400, 416],
    handler: async ({ query }) => log.proveConsistency(Number(query.from), Number(query.to)),
  });

  // C2SP tlog-tiles, with <prefix> = /log: the checkpoint, the Merkle tree as tiles, and the
  // entries as bundles of public envelopes (never a payload).
  add({
    method: 'GET',
    url: '/log/checkpoint',
    summary: 'tlog-tiles: the latest signed checkpoint as a C2SP signed note',
    tag: 'log',
    auth: 'public',
    responses: { 200: { description: 'The note', contentType: 'text/plain; charset=utf-8' } },
    errors: [],
    handler: async ({ reply }) => {
      const note = await checkpoints.latest();
      reply.type('text/plain; charset=utf-8').header('cache-control', CHECKPOINT_CACHE);
      return note;
    },
  });

  add({
    method: 'GET',
    url: '/log/tile/*',
    summary:
      'tlog-tiles: tile/<L>/<N>[.p/<W>] (256 hashes of level 8L) or tile/entries/<N>[.p/<W>] (entry bundle)',
    tag: 'log',
    auth: 'public',
    responses: {
      200: { description: 'The tile or entry bundle', contentType: 'application/octet-stream' },
    },
    errors: [404],
    handler: async ({ req, reply }) => {
      const rest = (req.params as { '*': string })['*'];
      const ref = parseTilePath(rest);
      if (ref === undefined) {
        reply.header('cache-control', 'no-store');
        throw new SigilError('not_found', 'not a tlog-tiles path');
      }
      const body =
        ref.level === 'entries'
          ? await log.entryBundle(ref.index, ref.width)
          : await log.tile(ref.level, ref.index, ref.width);
      if (body === undefined) {
        reply.header('cache-control', 'no-store');
        throw new SigilError('not_found', `the log does not hold tile/${rest} yet`);
      }
      reply.type('application/octet-stream').header('cache-control', IMMUTABLE);
      return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    },
  });
}
