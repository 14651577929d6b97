/**
 * A loopback TCP proxy in front of the test PostgreSQL server that can cut a connection at the
 * worst moment for a writer: at its next COMMIT, either before the server sees it (nothing
 * commits) or after the server has answered it (the commit landed, the answer is lost). It can
 * also stall one, as a frozen writer would: hold back a query, and all it sends after, with the
 * connection left open. It reads the frontend protocol's framing (a startup message, then type
 * byte + int32 length) to find simple Queries by their text.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export type CutAt = 'before-commit' | 'after-commit';

export interface CutProxy {
  /** `url` with its host and port pointed at the proxy. */
  readonly url: string;
  /** Cuts the next connection that sends a COMMIT, once; resolves when it has been cut. */
  cutNextCommit(at: CutAt): Promise<void>;
  /**
   * Holds back the next simple Query whose text `matches`, and everything its connection sends
   * after it, until `release`; `held` resolves when one is held.
   */
  stallNext(matches: (sql: string) => boolean): { held: Promise<void>; release: () => void };
  close(): Promise<void>;
}

interface Stall {
  matches: (sql: string) => boolean;
  hold: () => void;
  /** The messages held back, set while a connection is stalled; sent on release. */
  flush?: () => void;
}

export async function cutProxy(databaseUrl: string): Promise<CutProxy> {
  const target = new URL(databaseUrl);
  let armed: { at: CutAt; done: () => void } | undefined;
  let stall: Stall | undefined;
  const sockets = new Set<Socket>();

  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', cut).on('close', cut);
    upstream.on('error', cut).on('close', cut);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));

    let pending = Buffer.alloc(0);
    // SSLRequest / StartupMessage are untyped; every message after the startup is typed.
    let started = false;
    let dropAnswer: (() => void) | undefined;
    let held: Buffer[] | undefined;
    upstream.on('data', (chunk: Buffer) => {
      if (dropAnswer === undefined) {
        client.write(chunk);
        return;
      }
      // The server answered the COMMIT: it committed. The writer never hears it.
      const done = dropAnswer;
      dropAnswer = undefined;
      cut();
      done();
    });
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const head = started ? 1 : 0;
        if (pending.length < head + 4) return;
        const length = pending.readInt32BE(head);
        if (pending.length < head + length) return;
        const message = pending.subarray(0, head + length);
        pending = pending.subarray(head + length);
        if (!started && message.length > 8 && message.readInt32BE(4) !== 80877103) started = true;
        if (held !== undefined) {
          held.push(message);
          continue;
        }
        const current = stall;
        if (
          head === 1 &&
          message[0] === 0x51 &&
          current !== undefined &&
          current.flush === undefined &&
          current.matches(message.subarray(5, message.length - 1).toString('utf8'))
        ) {
          const queue = [message];
          held = queue;
          current.flush = () => {
            held = undefined;
            for (const m of queue) upstream.write(m);
          };
          current.hold();
          continue;
        }
        const isCommit =
          head === 1 &&
          message[0] === 0x51 &&
          message.subarray(5, 11).toString('latin1').toUpperCase() === 'COMMIT';
        if (isCommit && armed !== undefined) {
          const { at, done } = armed;
          armed = undefined;
          if (at === 'before-commit') {
            cut();
            done();
            return;
          }
          dropAnswer = done;
        }
        upstream.write(message);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(address.port);

  return {
    url: url.toString(),
    cutNextCommit: (at) =>
      new Promise<void>((resolve) => {
        armed = { at, done: resolve };
      }),
    stallNext: (matches) => {
      let hold!: () => void;
      const held = new Promise<void>((resolve) => (hold = resolve));
      const armedStall: Stall = { matches, hold };
      stall = armedStall;
      return {
        held,
        release: () => {
          if (stall === armedStall) stall = undefined;
          armedStall.flush?.();
        },
      };
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
