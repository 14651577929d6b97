/**
 * Findings reports at the same moment: each reads the breaker, adds its criticals and seals the
 * new breaker under a compare-and-set on the breaker's view row, trying again on the row another
 * report moved. No count is lost, across two runtimes on one store (SQLite file or PostgreSQL
 * database) or within one; a replay racing its original is still taken in once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import { isSigilError } from '../../src/core/errors.ts';
import type { Caller, SigilRuntime } from '../../src/runtime/index.ts';
import { BACKENDS } from '../canon/helpers/log.ts';
import { criticalReport, recordsOfKind, twoInstances, type Instances } from './instances.ts';

const SCANNER = 'did:sigil:race-scanner';
const keys = generateKeyPair();

function report(scan: string, critical: number) {
  return criticalReport(SCANNER, keys, scan, critical);
}

/** What each of the racing reports came to: taken in, or the code it was refused with. */
async function race(reports: Promise<unknown>[]): Promise<string[]> {
  return (await Promise.allSettled(reports)).map((r) =>
    r.status === 'fulfilled' ? 'taken' : isSigilError(r.reason) ? r.reason.code : String(r.reason),
  );
}

describe.each(BACKENDS)('racing findings reports on $name', ({ name, skip }) => {
  let inst: Instances;
  let root: Caller;

  beforeAll(async () => {
    if (skip) return;
    inst = await twoInstances(name);
    root = await inst.a.tokens.authenticate(inst.rootToken);
    await inst.a.governance.registerScanner(root, {
      did: SCANNER,
      public_key: toBase64Url(publicKeyToRaw(keys.publicKey)),
    });
  });
  afterAll(async () => {
    if (!skip) await inst.cleanup();
  });

  async function criticalInWindow(r: SigilRuntime): Promise<number> {
    return (await r.governance.status(root)).critical_in_window;
  }

  it.skipIf(skip)('two runtimes, four reports at once: every critical counts', async () => {
    const start = await criticalInWindow(inst.a);
    const results = await race(
      [inst.a, inst.b, inst.a, inst.b].map((r, i) =>
        r.governance.reportFindings(root, report(`two-${i}`, i + 1)),
      ),
    );
    expect(results, JSON.stringify(results)).toEqual(['taken', 'taken', 'taken', 'taken']);
    for (const r of [inst.a, inst.b]) expect(await criticalInWindow(r)).toBe(start + 10);
    // One trip, sealed once, whatever order the reports committed in.
    const trips = (await recordsOfKind(inst.a.log, 'governance_event')).filter(
      (rec) => (rec.payload as { event?: string }).event === 'breaker_tripped',
    );
    expect(trips).toHaveLength(1);
    expect((await inst.b.governance.status(root)).tripped).toBe(true);
    expect(await inst.b.log.validate()).toMatchObject({ ok: true });
    expect(await inst.a.log.checkViews()).toEqual([]);
  });

  it.skipIf(skip)(
    'concurrent reports on one runtime, and a replay racing its original on the other',
    async () => {
      const start = await criticalInWindow(inst.a);
      const twice = report('one-replayed', 2);
      const results = await race([
        inst.a.governance.reportFindings(root, report('one-0', 1)),
        inst.a.governance.reportFindings(root, twice),
        inst.b.governance.reportFindings(root, twice),
        inst.a.governance.reportFindings(root, report('one-1', 3)),
      ]);
      expect(results[0]).toBe('taken');
      expect(results[3]).toBe('taken');
      expect([results[1], results[2]].sort()).toEqual(['findings_replayed', 'taken']);
      expect(await criticalInWindow(inst.b)).toBe(start + 6);
      expect(await inst.b.log.checkViews()).toEqual([]);
    },
  );
});
