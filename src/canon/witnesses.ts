/**
 * The log's side of C2SP tlog-witness: it sends each new checkpoint to the witnesses in its
 * configuration with `add-checkpoint` (the size the witness last cosigned plus a consistency
 * proof from it), keeps the cosignatures it gets back, and learns from the answers whether its
 * own tree still extends what the witnesses have cosigned. When it does not (a restored older
 * copy of the store, or a fork), the log is rolled back: it refuses writes (`log_rolled_back`).
 *
 * What a witness can prove: a 409's size and a 422 are unsigned words. A checkpoint signed by
 * the log's own key is proof: the log signs only trees it holds, so one that the current tree
 * does not extend (larger than it, or another root at its size) shows a rollback or a fork. On
 * a 409 or 422 the log fetches the witness's cosigned checkpoint (tlog-witness monitoring, the
 * same URL prefix: `GET <prefix>/<hex sha256(origin)>/checkpoint`). One such proof, from any
 * witness, rolls the log back. A claim without it (no checkpoint served, or one the tree does
 * extend) is counted; only `quorum` distinct witnesses with standing claims roll the log back,
 * so one lying witness cannot stop writes.
 */
import type { KeyObject } from 'node:crypto';
import { openCheckpoint, type Checkpoint } from './checkpoint.ts';
import { noteBody, parseCosignerKey, validCosignatures, type CosignerKey } from './cosignature.ts';
import { constantTimeEqual, toBase64 } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { sha256Hex } from '../core/hash.ts';
import type { CanonStore, StoredCosigned } from './store/types.ts';

/** A witness as configured: where its add-checkpoint lives and its cosigner vkey. */
export interface WitnessEndpoint {
  url: string;
  key: string;
}

/** What the pusher needs from the log. */
export interface WitnessLogSide {
  origin: string;
  keyName: string;
  publicKey: KeyObject;
  store: CanonStore;
  /** The number of leaves in the tree, after loading what other writers appended. */
  treeSize(): Promise<number>;
  /** The root of the tree of `size` leaves (size <= treeSize()). */
  rootAt(size: number): Promise<Uint8Array>;
  /** The consistency proof between two sizes of the tree. */
  consistency(from: number, to: number): Promise<Uint8Array[]>;
  /** The newest stored checkpoint note, if any. */
  latestNote(): Promise<string | undefined>;
  /** Signs and stores a checkpoint of the whole tree; returns its note. */
  sign(): Promise<string>;
}

/** One witness's state as this process knows it. */
export interface WitnessStatus {
  name: string;
  url: string;
  /** Its cosigner vkey. */
  key: string;
  /** The size of the newest checkpoint it cosigned (verified line, log-signed checkpoint). */
  size?: number;
  /** That cosignature's timestamp (POSIX seconds, the witness's clock). */
  cosigned_at?: number;
  /** When this process last sent it a checkpoint (ms since the epoch). */
  last_push_at?: number;
  /** The last problem talking to it (cleared by a cosignature). */
  problem?: string;
  /** An unproven claim that the tree does not extend what it cosigned (cleared likewise). */
  claim?: { size: number; reason: string };
}

interface Witness {
  url: string;
  key: CosignerKey;
  size?: number;
  cosignedAt?: number;
  lastPushAt?: number;
  problem?: string;
  claim?: { size: number; reason: string };
}

const TIMEOUT_MS = 5000;
const MAX_BODY = 64 * 1024;
/** Enough resends for a 409 followed by a log that grew meanwhile. */
const MAX_ATTEMPTS = 4;

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The default quorum: a majority of the configured witnesses. */
export function defaultWitnessQuorum(count: number): number {
  return Math.floor(count / 2) + 1;
}

/** Parses the configured witnesses; 'config_invalid' names the bad one. */
export function parseWitnesses(endpoints: readonly WitnessEndpoint[]): Array<Witness> {
  const names = new Set<string>();
  return endpoints.map((e, i) => {
    const bad = (why: string) =>
      new SigilError('config_invalid', `log.witnesses[${i}]: ${why}`, { index: i });
    let url: URL;
    try {
      url = new URL(e.url);
    } catch {
      throw bad('url is not a URL');
    }
    // The answers steer the log (a 409 can stop its writes): only TLS, or loopback.
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
      throw bad('url must be https:// (http:// only on loopback)');
    }
    let key: CosignerKey;
    try {
      key = parseCosignerKey(e.key);
    } catch (err) {
      throw bad(err instanceof Error ? err.message : 'bad key');
    }
    if (names.has(key.name)) throw bad(`witness ${key.name} is configured twice`);
    names.add(key.name);
    return { url: url.href.replace(/\/+$/, ''), key };
  });
}

type Outcome = 'cosigned' | 'failed' | 'claimed' | 'rolled_back';

/** What a witness's own checkpoint shows about the tree. */
type Evidence =
  | { kind: 'none'; why: string }
  | { kind: 'extended'; cp: Checkpoint }
  | { kind: 'proof'; cp: Checkpoint; size: number; why: string };

export class WitnessPusher {
  readonly #log: WitnessLogSide;
  readonly #witnesses: Witness[];
  readonly #quorum: number;
  readonly #warn: (line: string) => void;
  readonly #timeoutMs: number;
  #rolledBack: SigilError | undefined;
  #running: Promise<void> | undefined;
  #pushedSize = -1;

  constructor(
    log: WitnessLogSide,
    endpoints: readonly WitnessEndpoint[],
    opts: { quorum?: number; warn?: (line: string) => void; timeoutMs?: number } = {},
  ) {
    this.#log = log;
    this.#witnesses = parseWitnesses(endpoints);
    const quorum = opts.quorum ?? defaultWitnessQuorum(this.#witnesses.length);
    if (!Number.isInteger(quorum) || quorum < 1 || quorum > this.#witnesses.length) {
      throw new SigilError(
        'config_invalid',
        `log.witness_quorum must be between 1 and the ${this.#witnesses.length} witnesses configured`,
      );
    }
    this.#quorum = quorum;
    this.#warn = opts.warn ?? ((line) => process.stderr.write(`${line}\n`));
    this.#timeoutMs = opts.timeoutMs ?? TIMEOUT_MS;
  }

  get keys(): CosignerKey[] {
    return this.#witnesses.map((w) => w.key);
  }

  /** How many witnesses' standing claims roll the log back, and a served checkpoint needs. */
  get quorum(): number {
    return this.#quorum;
  }

  /** Set once the tree is shown not to extend a cosigned checkpoint; never cleared. */
  get rolledBack(): SigilError | undefined {
    return this.#rolledBack;
  }

  status(): WitnessStatus[] {
    return this.#witnesses.map((w) => ({
      name: w.key.name,
      url: w.url,
      key: w.key.vkey,
      ...(w.size !== undefined && { size: w.size }),
      ...(w.cosignedAt !== undefined && { cosigned_at: w.cosignedAt }),
      ...(w.lastPushAt !== undefined && { last_push_at: w.lastPushAt }),
      ...(w.problem !== undefined && { problem: w.problem }),
      ...(w.claim !== undefined && { claim: { ...w.claim } }),
    }));
  }

  /**
   * Before a checkpoint of `size` leaves is signed: refuses ('log_rolled_back') when the log is
   * rolled back or a witness has cosigned (verified) a checkpoint larger than the tree.
   */
  assertExtends(size: number): void {
    for (const w of this.#witnesses) {
      if (w.size !== undefined && w.size > size) {
        this.#rollBack(
          w,
          `it cosigned a checkpoint of size ${w.size} signed by this log's key that its tree ` +
            'does not extend',
          { witness_size: w.size, log_size: size },
        );
      }
    }
    if (this.#rolledBack) throw this.#rolledBack;
  }

  /**
   * At start-up: the witnesses' view of the newest stored checkpoint (or a new one when none is
   * stored). Each witness's last size comes from the cosignatures the store kept.
   */
  async start(): Promise<void> {
    await this.#loadStored();
    const note = (await this.#log.latestNote()) ?? (await this.#log.sign());
    await this.#round(note);
  }

  /** Called every second: pushes a new checkpoint when the tree grew or a witness lags. */
  tick(): Promise<void> {
    this.#running ??= this.#tick().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Resolves once no push is in flight. */
  async idle(): Promise<void> {
    await this.#running?.catch(() => {});
  }

  /** The newest verified cosignature of each witness kept in the store (any instance's). */
  async #loadStored(): Promise<void> {
    for (const row of await this.#log.store.cosigned()) {
      const w = this.#witnesses.find((x) => x.key.name === row.cosigner);
      const v = w && this.#verifiedCosigned(row, w);
      if (w && v && (w.size === undefined || v.size >= w.size)) {
        w.size = v.size;
        w.cosignedAt = v.timestamp;
      }
    }
  }

  async #tick(): Promise<void> {
    if (this.#rolledBack) return;
    const size = await this.#log.treeSize();
    if (size === this.#pushedSize && this.#witnesses.every((w) => w.size === size)) return;
    // Other instances push too: start from what they got cosigned.
    await this.#loadStored();
    const latest = await this.#log.latestNote();
    const note =
      latest !== undefined && this.#open(latest).size === size ? latest : await this.#log.sign();
    await this.#round(note);
  }

  async #round(note: string): Promise<void> {
    const cp = this.#open(note);
    this.#pushedSize = cp.size;
    await Promise.all(this.#witnesses.map((w) => this.#push(w, note)));
  }

  #open(note: string): Checkpoint {
    return openCheckpoint(note, this.#log.keyName, this.#log.publicKey);
  }

  /** A stored cosigned row's size and timestamp when it is our checkpoint with w's line. */
  #verifiedCosigned(
    row: StoredCosigned,
    w: Witness,
  ): { size: number; timestamp: number } | undefined {
    try {
      const cp = this.#open(row.note);
      const line = validCosignatures(row.note, [w.key]).get(w.key.name);
      if (cp.size !== row.size || line === undefined) return undefined;
      return { size: cp.size, timestamp: line.timestamp };
    } catch {
      return undefined;
    }
  }

  async #push(w: Witness, first: string): Promise<Outcome> {
    let note = first;
    let cp = this.#open(note);
    let old = w.size !== undefined && w.size <= cp.size ? w.size : 0;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
      let res: { status: number; type: string; body: string };
      try {
        const proof = old === 0 ? [] : await this.#log.consistency(old, cp.size);
        w.lastPushAt = Date.now();
        res = await this.#request(w, 'POST', '/add-checkpoint', {
          body: `old ${old}\n${proof.map((h) => `${toBase64(h)}\n`).join('')}\n${note}`,
        });
      } catch (err) {
        return this.#problem(w, `unreachable: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (res.status === 200) {
        const cosigned = `${note}${res.body}`;
        const line = validCosignatures(cosigned, [w.key]).get(w.key.name);
        if (line === undefined) return this.#problem(w, 'answered 200 without a valid cosignature');
        await this.#log.store.putCosigned({ cosigner: w.key.name, size: cp.size, note: cosigned });
        w.size = cp.size;
        w.cosignedAt = line.timestamp;
        delete w.problem;
        delete w.claim;
        return 'cosigned';
      }
      if (res.status !== 409 && res.status !== 422) {
        if (res.status === 403) return this.#problem(w, 'refuses the log key (403)');
        if (res.status === 404) return this.#problem(w, 'does not know this log origin (404)');
        return this.#problem(w, `answered ${res.status}`);
      }
      const m = /^(0|[1-9][0-9]{0,15})\n?$/.exec(res.body);
      if (res.status === 409 && (!m || !res.type.startsWith('text/x.tlog.size'))) {
        return this.#problem(w, 'answered 409 without a size');
      }
      // The answer is the witness's word; its own cosigned checkpoint is the proof.
      const ev = await this.#evidence(w);
      if (ev.kind === 'proof') {
        this.#rollBack(w, ev.why, { witness_size: ev.cp.size, log_size: ev.size });
        return 'rolled_back';
      }
      const said =
        res.status === 422
          ? 'says the consistency proof from its checkpoint does not verify'
          : `says it cosigned size ${m![1]}`;
      let known: number;
      if (ev.kind === 'extended') {
        known = ev.cp.size;
      } else {
        known = res.status === 409 ? Number(m![1]) : old;
        const size = await this.#log.treeSize();
        // A size the tree holds is only a state to resend from; anything else is a claim.
        if (res.status === 422 || known === old || known > size) {
          return this.#claim(w, known, `${said}, and shows no checkpoint (${ev.why})`);
        }
      }
      if (known === old && ev.kind === 'extended') {
        // Its own checkpoint is one the tree extends, yet it refuses: a claim it cannot prove.
        return this.#claim(w, known, `${said}, but its checkpoint is one this tree extends`);
      }
      if (known > cp.size) {
        // Another instance appended and pushed meanwhile: sign the tree as it is now.
        note = await this.#log.sign();
        cp = this.#open(note);
      }
      old = known;
    }
    return this.#problem(w, 'the witness kept answering 409');
  }

  /**
   * The witness's latest cosigned checkpoint, judged against the tree: a proof of rollback
   * when the log's key signed it and the tree does not extend it.
   */
  async #evidence(w: Witness): Promise<Evidence> {
    let cp: Checkpoint;
    try {
      const res = await this.#request(w, 'GET', `/${sha256Hex(this.#log.origin)}/checkpoint`);
      if (res.status !== 200) return { kind: 'none', why: `checkpoint answered ${res.status}` };
      cp = this.#open(res.body);
      // With its own valid line, it is what the witness last cosigned.
      const line = validCosignatures(res.body, [w.key]).get(w.key.name);
      if (line !== undefined && (w.size === undefined || cp.size >= w.size)) {
        w.size = cp.size;
        w.cosignedAt = line.timestamp;
      }
    } catch (err) {
      const why = err instanceof SigilError ? 'not signed by this log' : 'unreachable';
      return { kind: 'none', why: `its checkpoint is ${why}` };
    }
    const size = await this.#log.treeSize();
    if (cp.size > size) {
      return {
        kind: 'proof',
        cp,
        size,
        why: `it shows a checkpoint of size ${cp.size} signed by this log's key, larger than its tree`,
      };
    }
    if (!constantTimeEqual(await this.#log.rootAt(cp.size), cp.rootHash)) {
      return {
        kind: 'proof',
        cp,
        size,
        why: `it shows a checkpoint of size ${cp.size} signed by this log's key with another root (a fork)`,
      };
    }
    return { kind: 'extended', cp };
  }

  async #request(
    w: Witness,
    method: 'GET' | 'POST',
    path: string,
    init: { body?: string } = {},
  ): Promise<{ status: number; type: string; body: string }> {
    const res = await fetch(`${w.url}${path}`, {
      method,
      ...(init.body !== undefined && {
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: init.body,
      }),
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const text = await res.text();
    if (text.length > MAX_BODY) throw new Error('answer too large');
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: text };
  }

  #problem(w: Witness, problem: string): Outcome {
    if (w.problem !== problem) this.#warn(`sigil log: witness ${w.key.name} (${w.url}) ${problem}`);
    w.problem = problem;
    return 'failed';
  }

  /** A claim without proof: counted; `quorum` standing claims roll the log back. */
  #claim(w: Witness, size: number, reason: string): Outcome {
    w.claim = { size, reason };
    this.#problem(w, `${reason} (unproven; ${this.#claims().length} of ${this.#quorum} needed)`);
    const claims = this.#claims();
    if (claims.length < this.#quorum) return 'claimed';
    this.#rollBack(
      w,
      `${claims.length} witnesses (${claims.map((c) => c.key.name).join(', ')}), the quorum of ` +
        `${this.#quorum}, say its tree does not extend what they cosigned`,
      { witness_size: Math.max(...claims.map((c) => c.claim!.size)) },
    );
    return 'rolled_back';
  }

  #claims(): Witness[] {
    return this.#witnesses.filter((w) => w.claim !== undefined);
  }

  #rollBack(w: Witness, reason: string, detail: Record<string, number>): void {
    if (this.#rolledBack) return;
    this.#rolledBack = new SigilError(
      'log_rolled_back',
      `log_rolled_back: witness ${w.key.name} refuses this log: ${reason}; writes are ` +
        'refused. Restore the newest copy of the store, or find out who rolled it back.',
      { witness: w.key.name, ...detail },
    );
    w.problem = reason;
    this.#warn(`SIGIL LOG ROLLED BACK: ${this.#rolledBack.message}`);
  }

  /**
   * The checkpoint to serve: the largest one cosigned by at least `quorum` configured witnesses;
   * before one is, the one cosigned by the most (the larger on a tie). It carries the log's own
   * signature and every valid cosignature line; undefined when none is cosigned. Rows are
   * verified on every read, so an edited row is never served.
   */
  async cosignedNote(): Promise<string | undefined> {
    const groups = new Map<string, { size: number; logLines: string; lines: string[] }>();
    for (const row of await this.#log.store.cosigned()) {
      const w = this.#witnesses.find((x) => x.key.name === row.cosigner);
      if (!w || this.#verifiedCosigned(row, w) === undefined) continue;
      const body = noteBody(row.note);
      const line = validCosignatures(row.note, [w.key]).get(w.key.name)!.line;
      const g = groups.get(body);
      if (g) g.lines.push(line);
      else {
        const own = row.note
          .slice(body.length + 1)
          .split('\n')
          .filter((l) => l.startsWith(`\u2014 ${this.#log.keyName} `))
          .map((l) => `${l}\n`)
          .join('');
        groups.set(body, { size: row.size, logLines: own, lines: [line] });
      }
    }
    let best: { body: string; size: number; logLines: string; lines: string[] } | undefined;
    // Quorum first, then the larger; below quorum, the most lines, then the larger.
    const rank = (g: { size: number; lines: string[] }) =>
      g.lines.length >= this.#quorum ? [1, g.size, 0] : [0, g.lines.length, g.size];
    const better = (a: number[], b: number[]) => {
      const i = a.findIndex((x, j) => x !== b[j]);
      return i >= 0 && a[i]! > b[i]!;
    };
    for (const [body, g] of groups) {
      if (!best || better(rank(g), rank(best))) best = { body, ...g };
    }
    return best && `${best.body}\n${best.logLines}${best.lines.join('')}`;
  }
}
