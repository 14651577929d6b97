/**
 * The log's side of C2SP tlog-witness: it sends each new checkpoint to the witnesses in its
 * configuration with `add-checkpoint` (the size the witness last cosigned plus a consistency
 * proof from it), keeps the cosignatures it gets back, and learns from the answers whether its
 * own tree still extends what the witnesses have cosigned. When it does not (a restored older
 * copy of the store, or a fork), the log is rolled back: it refuses writes (`log_rolled_back`).
 *
 * A witness's 409 carries the size it last cosigned; a larger size than the log holds, or a 422
 * (the proof from the witness's checkpoint does not verify), or a 409 at equal size (another
 * root) all mean the tree does not extend a cosigned checkpoint.
 */
import type { KeyObject } from 'node:crypto';
import { openCheckpoint, type Checkpoint } from './checkpoint.ts';
import { noteBody, parseCosignerKey, validCosignatures, type CosignerKey } from './cosignature.ts';
import { toBase64 } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
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
  /** The size the witness last cosigned, as far as the log knows. */
  size?: number;
  /** The last problem talking to it (cleared by a cosignature). */
  problem?: string;
}

interface Witness {
  url: string;
  key: CosignerKey;
  size?: number;
  problem?: string;
}

const TIMEOUT_MS = 5000;
const MAX_BODY = 64 * 1024;
/** Enough resends for a 409 followed by a log that grew meanwhile. */
const MAX_ATTEMPTS = 4;

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
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

type Outcome = 'cosigned' | 'failed' | 'rolled_back';

export class WitnessPusher {
  readonly #log: WitnessLogSide;
  readonly #witnesses: Witness[];
  readonly #warn: (line: string) => void;
  readonly #timeoutMs: number;
  #rolledBack: SigilError | undefined;
  #running: Promise<void> | undefined;
  #pushedSize = -1;

  constructor(
    log: WitnessLogSide,
    endpoints: readonly WitnessEndpoint[],
    opts: { warn?: (line: string) => void; timeoutMs?: number } = {},
  ) {
    this.#log = log;
    this.#witnesses = parseWitnesses(endpoints);
    this.#warn = opts.warn ?? ((line) => process.stderr.write(`${line}\n`));
    this.#timeoutMs = opts.timeoutMs ?? TIMEOUT_MS;
  }

  get keys(): CosignerKey[] {
    return this.#witnesses.map((w) => w.key);
  }

  /** Set once a witness shows the tree does not extend its cosigned checkpoint; never cleared. */
  get rolledBack(): SigilError | undefined {
    return this.#rolledBack;
  }

  status(): WitnessStatus[] {
    return this.#witnesses.map((w) => ({
      name: w.key.name,
      url: w.url,
      ...(w.size !== undefined && { size: w.size }),
      ...(w.problem !== undefined && { problem: w.problem }),
    }));
  }

  /**
   * Before a checkpoint of `size` leaves is signed: refuses ('log_rolled_back') when the log is
   * rolled back or a witness has cosigned more than the tree holds.
   */
  assertExtends(size: number): void {
    for (const w of this.#witnesses) {
      if (w.size !== undefined && w.size > size) this.#rollBack(w, w.size, size);
    }
    if (this.#rolledBack) throw this.#rolledBack;
  }

  /**
   * At start-up: the witnesses' view of the newest stored checkpoint (or a new one when none is
   * stored). Each witness's last size comes from the cosignatures the store kept.
   */
  async start(): Promise<void> {
    for (const row of await this.#log.store.cosigned()) {
      const w = this.#witnesses.find((x) => x.key.name === row.cosigner);
      if (w && this.#verifiedCosigned(row, w) !== undefined) w.size = row.size;
    }
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

  async #tick(): Promise<void> {
    if (this.#rolledBack) return;
    const size = await this.#log.treeSize();
    if (size === this.#pushedSize && this.#witnesses.every((w) => w.size === size)) return;
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

  /** The size of a stored cosigned row when it is our checkpoint with w's valid cosignature. */
  #verifiedCosigned(row: StoredCosigned, w: Witness): number | undefined {
    try {
      const cp = this.#open(row.note);
      if (cp.size !== row.size || !validCosignatures(row.note, [w.key]).has(w.key.name)) {
        return undefined;
      }
      return cp.size;
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
        res = await this.#post(
          w,
          `old ${old}\n${proof.map((h) => `${toBase64(h)}\n`).join('')}\n${note}`,
        );
      } catch (err) {
        return this.#problem(w, `unreachable: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (res.status === 200) {
        const cosigned = `${note}${res.body}`;
        if (!validCosignatures(cosigned, [w.key]).has(w.key.name)) {
          return this.#problem(w, 'answered 200 without a valid cosignature');
        }
        await this.#log.store.putCosigned({ cosigner: w.key.name, size: cp.size, note: cosigned });
        w.size = cp.size;
        delete w.problem;
        return 'cosigned';
      }
      if (res.status === 409) {
        const m = /^(0|[1-9][0-9]{0,15})\n?$/.exec(res.body);
        if (!m || !res.type.startsWith('text/x.tlog.size')) {
          return this.#problem(w, 'answered 409 without a size');
        }
        const known = Number(m[1]);
        if (known === old) {
          // Same size as we sent yet a conflict: it holds another root at that size.
          this.#rollBack(w, known, cp.size);
          return 'rolled_back';
        }
        w.size = known;
        if (known > cp.size) {
          // Another instance may have appended and pushed meanwhile: only a tree still
          // smaller than what the witness cosigned is rolled back.
          if ((await this.#log.treeSize()) < known) {
            this.#rollBack(w, known, await this.#log.treeSize());
            return 'rolled_back';
          }
          note = await this.#log.sign();
          cp = this.#open(note);
        }
        old = known;
        continue;
      }
      if (res.status === 422) {
        this.#rollBack(
          w,
          old,
          cp.size,
          'the consistency proof from its checkpoint does not verify',
        );
        return 'rolled_back';
      }
      if (res.status === 403) return this.#problem(w, 'refuses the log key (403)');
      if (res.status === 404) return this.#problem(w, 'does not know this log origin (404)');
      return this.#problem(w, `answered ${res.status}`);
    }
    return this.#problem(w, 'the witness kept answering 409');
  }

  async #post(w: Witness, body: string): Promise<{ status: number; type: string; body: string }> {
    const res = await fetch(`${w.url}/add-checkpoint`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body,
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

  #rollBack(w: Witness, cosigned: number, size: number, why?: string): void {
    if (this.#rolledBack) return;
    const reason =
      why ??
      `it has cosigned a checkpoint of size ${cosigned} that this log's tree does not extend`;
    this.#rolledBack = new SigilError(
      'log_rolled_back',
      `log_rolled_back: witness ${w.key.name} refuses this log: ${reason} (this log holds ${size} ` +
        'records); writes are refused. Restore the newest copy of the store, or find out who ' +
        'rolled it back.',
      { witness: w.key.name, witness_size: cosigned, log_size: size },
    );
    w.problem = reason;
    this.#warn(`SIGIL LOG ROLLED BACK: ${this.#rolledBack.message}`);
  }

  /**
   * The checkpoint to serve: the one cosigned by the most configured witnesses (the larger on a
   * tie), with the log's own signature and every valid cosignature line; undefined when none is.
   * Rows are verified on every read, so an edited row is never served.
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
    for (const [body, g] of groups) {
      if (
        !best ||
        g.lines.length > best.lines.length ||
        (g.lines.length === best.lines.length && g.size > best.size)
      ) {
        best = { body, ...g };
      }
    }
    return best && `${best.body}\n${best.logLines}${best.lines.join('')}`;
  }
}
