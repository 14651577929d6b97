/**
 * LogTail: calls made in one turn of the event loop share one read of the store, every call
 * still covers each record sealed before it, and a long backlog is applied a page at a time
 * with the event loop let run in between (so a busy log never holds requests back for long).
 */
import { describe, expect, it } from 'vitest';
import type { LogReader, SealedRecord } from '../../src/canon/log.ts';
import { LogTail } from '../../src/runtime/log-tail.ts';

/** A log of `decision` records held in memory, counting the reads made of it. */
function memoryLog() {
  const records: SealedRecord[] = [];
  const reads: number[] = [];
  const log = {
    async size() {
      return records.length;
    },
    async list(opts: { kind?: string; limit?: number; cursor?: string }) {
      const after = opts.cursor === undefined ? -1 : Number(opts.cursor);
      const page = records
        .filter((r) => r.seq > after && (opts.kind === undefined || r.kind === opts.kind))
        .slice(0, opts.limit ?? 100);
      reads.push(page.length);
      return page.length === opts.limit
        ? { records: page, cursor: String(page.at(-1)!.seq) }
        : { records: page };
    },
  } as unknown as LogReader;
  const seal = (kind = 'decision') => {
    const seq = records.length;
    const record = { seq, kind, id: `r${seq}` } as unknown as SealedRecord;
    records.push(record);
    return record;
  };
  return { log, reads, seal };
}

describe('LogTail', () => {
  it('serves the calls of one turn with one read, and each sees what was sealed before it', async () => {
    const { log, reads, seal } = memoryLog();
    const applied: number[] = [];
    const tail = new LogTail('decision', (r) => applied.push(r.seq));
    seal();
    // 50 callbacks of one turn (as requests parsed in one poll phase), microtasks run between
    const first = await new Promise<Promise<boolean>[]>((resolve) => {
      const calls: Promise<boolean>[] = [];
      for (let i = 0; i < 50; i++) {
        setImmediate(() => {
          calls.push(tail.catchUp(log));
          if (calls.length === 50) resolve(calls);
        });
      }
    });
    seal(); // sealed after the calls, before the read starts: read too
    await Promise.all(first);
    expect(reads).toEqual([2]);
    expect(applied).toEqual([0, 1]);
    // a call made while a read runs gets a read of its own, started after it
    const during = tail.catchUp(log);
    seal();
    const late = tail.catchUp(log);
    await Promise.all([during, late]);
    expect(applied).toEqual([0, 1, 2]);
    expect(await tail.catchUp(log)).toBe(false);
  });

  it('applies a backlog page by page, in order, letting the event loop run between pages', async () => {
    const { log, reads, seal } = memoryLog();
    for (let i = 0; i < 1000; i++) seal();
    const applied: number[] = [];
    // Counts turns of the event loop: one check phase per turn runs it (a timer would need a
    // millisecond to pass, and an idle machine reads this backlog in less).
    let turns = 0;
    let ticking = true;
    const tick = () => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const seenAtTurn: number[] = [];
    const tail = new LogTail('decision', (r) => {
      applied.push(r.seq);
      seenAtTurn.push(turns);
    });
    try {
      expect(await tail.catchUp(log)).toBe(true);
    } finally {
      ticking = false;
    }
    expect(applied).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(reads.length).toBeGreaterThan(4);
    expect(Math.max(...reads)).toBeLessThan(1000);
    // records of one page are applied in one go; timers ran while the backlog was read
    expect(new Set(seenAtTurn).size).toBeGreaterThan(1);
  });

  it('applies what this instance sealed without reading it back, and reads whatever else the log holds', async () => {
    const { log, reads, seal } = memoryLog();
    const applied: string[] = [];
    const tail = new LogTail<string>(
      'decision',
      (id) => applied.push(id),
      undefined,
      (r) => r.id,
    );
    seal(); // sealed before the tail was told anything: read from the store
    const told = () => [seal('token_event'), seal(), seal()];
    tail.sealed(told());
    expect(await tail.catchUp(log)).toBe(true);
    expect(applied).toEqual(['r0', 'r2', 'r3']);
    expect(reads).toEqual([3]);
    // only this instance's records past the cursor (any kind): no read at all
    tail.sealed(told());
    expect(await tail.catchUp(log)).toBe(true);
    expect(applied).toEqual(['r0', 'r2', 'r3', 'r5', 'r6']);
    expect(reads).toEqual([3]);
    // another writer's record among them: the store is read, and nothing is applied twice
    tail.sealed([seal()]);
    seal(); // r8, not this instance's
    tail.sealed([seal('token_event')]);
    expect(await tail.catchUp(log)).toBe(true);
    expect(applied).toEqual(['r0', 'r2', 'r3', 'r5', 'r6', 'r7', 'r8']);
    expect(reads).toEqual([3, 2]);
    // a record sealed here but not yet told (its acknowledgement still on its way): read
    const late = seal();
    expect(await tail.catchUp(log)).toBe(true);
    tail.sealed([late]);
    expect(applied).toEqual(['r0', 'r2', 'r3', 'r5', 'r6', 'r7', 'r8', 'r10']);
    expect(reads).toEqual([3, 2, 1]);
    // told after the read covered it: not applied again, and the next own record needs no read
    tail.sealed([seal()]);
    expect(await tail.catchUp(log)).toBe(true);
    expect(await tail.catchUp(log)).toBe(false);
    expect(applied).toEqual(['r0', 'r2', 'r3', 'r5', 'r6', 'r7', 'r8', 'r10', 'r11']);
    expect(reads).toEqual([3, 2, 1]);
  });

  it('reads the store when what it was told cannot be kept', async () => {
    const { log, reads, seal } = memoryLog();
    const applied: string[] = [];
    const tail = new LogTail<string>(
      'decision',
      (id) => applied.push(id),
      undefined,
      (r) => {
        if (r.id === 'r1') throw new Error('unreadable');
        return r.id;
      },
    );
    tail.sealed([seal()]);
    tail.sealed([seal()]); // r1 cannot be kept: all that was told is forgotten
    tail.sealed([seal()]);
    await expect(tail.catchUp(log)).rejects.toThrow('unreadable');
    expect(applied).toEqual(['r0']);
    expect(reads).toEqual([3]);
  });
});
