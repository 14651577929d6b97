/**
 * A log witness (a C2SP tlog-witness cosigner, not the quorum's Mentor witnesses): for each log it
 * is configured with (origin and verifier key) it keeps the latest checkpoint it cosigned, and
 * cosigns a new one only with a consistency proof from that one. The check of the old size and
 * the update are one SQLite IMMEDIATE transaction, so two concurrent submissions can never roll
 * the stored size back.
 */
import Database from 'better-sqlite3';
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { closeSync, existsSync, openSync } from 'node:fs';
import { fromBase64 } from '../core/encoding.ts';
import { sha256Hex } from '../core/hash.ts';
import { openCheckpoint, parseVerifierKey, type Checkpoint } from '../canon/checkpoint.ts';
import { cosign, noteBody } from '../canon/cosignature.ts';
import { verifyConsistencyPath } from '../canon/verify.ts';

/** An answer of the witness API: status, content type, body. */
export interface WitnessAnswer {
  status: number;
  type: string;
  body: string;
}

const TEXT = 'text/plain; charset=utf-8';
const MAX_PROOF_LINES = 63;
const EMPTY_ROOT = sha256Hex(new Uint8Array(0));

function answer(status: number, body: string, type = TEXT): WitnessAnswer {
  return { status, type, body: body.endsWith('\n') ? body : `${body}\n` };
}

export interface LogWitnessOptions {
  /** The SQLite file of cosigned checkpoints (created 0600). */
  file: string;
  /** The cosigner's name (a schema-less URL, per tlog-cosignature) and key pair. */
  name: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Verifier keys of the logs to witness; each key's name is its log's origin. */
  logs: readonly string[];
  now?: () => number;
}

export class LogWitness {
  readonly name: string;
  readonly #db: Database.Database;
  readonly #logs = new Map<string, KeyObject>();
  readonly #opts: LogWitnessOptions;

  constructor(opts: LogWitnessOptions) {
    this.#opts = opts;
    this.name = opts.name;
    for (const vkey of opts.logs) {
      const { keyName, publicKey } = parseVerifierKey(vkey);
      this.#logs.set(keyName, publicKey);
    }
    if (!existsSync(opts.file)) closeSync(openSync(opts.file, 'wx', 0o600));
    this.#db = new Database(opts.file);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = FULL');
    this.#db.pragma('busy_timeout = 10000');
    this.#db.exec(
      'CREATE TABLE IF NOT EXISTS cosigned (origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root TEXT NOT NULL, note TEXT NOT NULL)',
    );
  }

  /** POST add-checkpoint (tlog-witness): `old <n>`, proof lines, a blank line, the checkpoint. */
  addCheckpoint(request: string): WitnessAnswer {
    const split = request.indexOf('\n\n');
    if (split < 0) return answer(400, 'malformed request');
    const head = request.slice(0, split).split('\n');
    const note = request.slice(split + 2);
    const old = /^old (0|[1-9][0-9]{0,15})$/.exec(head[0] ?? '');
    if (!old || head.length - 1 > MAX_PROOF_LINES)
      return answer(400, 'malformed old size or proof');
    let proof: Uint8Array[];
    try {
      proof = head.slice(1).map((line) => {
        const h = fromBase64(line);
        if (h.length !== 32) throw new Error('not a hash');
        return h;
      });
    } catch {
      return answer(400, 'malformed proof line');
    }
    const origin = note.slice(0, note.indexOf('\n'));
    const logKey = this.#logs.get(origin);
    if (logKey === undefined) return answer(404, 'unknown log origin');
    let cp: Checkpoint;
    try {
      cp = openCheckpoint(note, origin, logKey);
    } catch {
      return answer(403, 'no valid signature by the log key');
    }
    const oldSize = Number(old[1]);
    if (oldSize > cp.size) return answer(400, 'old size is larger than the checkpoint');
    const root = Buffer.from(cp.rootHash).toString('hex');
    const run = this.#db.transaction((): WitnessAnswer => {
      const known = this.#db
        .prepare<[string], { size: number; root: string }>(
          'SELECT size, root FROM cosigned WHERE origin = ?',
        )
        .get(origin);
      const knownSize = known?.size ?? 0;
      if (oldSize !== knownSize) return answer(409, `${knownSize}`, 'text/x.tlog.size');
      if (cp.size === 0 && root !== EMPTY_ROOT) return answer(422, 'size 0 needs the empty root');
      // tlog-witness: the same size with another root is a conflict, not a bad proof.
      if (known !== undefined && oldSize === cp.size && root !== known.root) {
        return answer(409, `${knownSize}`, 'text/x.tlog.size');
      }
      if (
        oldSize === 0
          ? proof.length !== 0
          : !verifyConsistencyPath(
              oldSize,
              cp.size,
              Buffer.from(known!.root, 'hex'),
              cp.rootHash,
              proof,
            )
      ) {
        return answer(422, 'the consistency proof does not verify');
      }
      const timestamp = Math.floor((this.#opts.now?.() ?? Date.now()) / 1000);
      const line = cosign(
        noteBody(note),
        this.name,
        this.#opts.privateKey,
        this.#opts.publicKey,
        timestamp,
      );
      this.#db
        .prepare(
          'INSERT INTO cosigned (origin, size, root, note) VALUES (?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note',
        )
        .run(origin, cp.size, root, note + line);
      return answer(200, line);
    });
    return run.immediate();
  }

  /** GET <sha256(origin) hex>/checkpoint: the latest cosigned checkpoint, with both signatures. */
  latest(originHash: string): WitnessAnswer {
    for (const origin of this.#logs.keys()) {
      if (sha256Hex(origin) !== originHash) continue;
      const row = this.#db
        .prepare<[string], { note: string }>('SELECT note FROM cosigned WHERE origin = ?')
        .get(origin);
      if (row) return { status: 200, type: TEXT, body: row.note };
    }
    return answer(404, 'no checkpoint cosigned for this log');
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

const MAX_BODY = 64 * 1024;

/**
 * The witness's HTTP interface: POST /add-checkpoint and GET /<sha256(origin) hex>/checkpoint;
 * anything else is 404, a body over 64 KiB is cut off, and a fault is a bare 500.
 */
export function witnessHttpHandler(
  w: LogWitness,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const send = (a: WitnessAnswer) =>
      res.writeHead(a.status, { 'content-type': a.type, 'cache-control': 'no-store' }).end(a.body);
    const url = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'GET') {
      const m = /^\/([0-9a-f]{64})\/checkpoint$/.exec(url);
      send(m ? w.latest(m[1]!) : answer(404, 'not found'));
      return;
    }
    if (req.method !== 'POST' || url !== '/add-checkpoint') {
      send(answer(404, 'not found'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      try {
        send(w.addCheckpoint(Buffer.concat(chunks).toString('utf8')));
      } catch {
        send(answer(500, 'internal'));
      }
    });
  };
}
