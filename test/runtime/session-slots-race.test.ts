/**
 * Sign-ins of one subject at the same moment on two runtimes over one store (PostgreSQL
 * database or SQLite file): each is a compare-and-set on the subject's session_slots row,
 * retried when the other moved it, so every open session is listed in the row and the
 * per-subject cap holds however the sign-ins interleave.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SigilRuntime } from '../../src/runtime/index.ts';
import { VIEWS } from '../../src/runtime/view-ns.ts';
import { BACKENDS } from '../canon/helpers/log.ts';
import { humanCaller } from '../quorum/ceremony.ts';
import { twoInstances, type Instances } from './instances.ts';

const TTL = { ttlMs: 3_600_000 };

describe.each(BACKENDS)('racing sign-ins on $name', ({ name, skip }) => {
  let inst: Instances;

  beforeAll(async () => {
    if (skip) return;
    inst = await twoInstances(name);
  });
  afterAll(async () => {
    if (!skip) await inst.cleanup();
  });

  async function tokenFor(subject: string): Promise<string> {
    const root = await inst.a.tokens.authenticate(inst.rootToken);
    return (await humanCaller(inst.a, root, subject, 'operator')).token;
  }

  /** The ids of the subject's sessions that are open (not closed), from the sessions rows. */
  async function openIds(r: SigilRuntime, subject: string): Promise<string[]> {
    return (await VIEWS.sessions.list(r.log.views))
      .map((e) => e.value)
      .filter((s) => s.subject === subject && s.closed_at === null)
      .map((s) => s.id)
      .sort();
  }

  async function slotIds(r: SigilRuntime, subject: string): Promise<string[]> {
    const row = await VIEWS.sessionSlots.get(r.log.views, subject);
    return (row?.sessions ?? []).map((s) => s.id).sort();
  }

  it.skipIf(skip)(
    'two instances, many sign-ins at once: every session is in the slots row',
    async () => {
      const subject = 'did:sigil:race-signin';
      const token = await tokenFor(subject);
      const limits = { ...TTL, perSubject: 100 };
      const opened = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          (i % 2 === 0 ? inst.a : inst.b).sessions.open(token, limits),
        ),
      );
      expect(new Set(opened.map((o) => o.cookie)).size).toBe(24);
      const open = await openIds(inst.b, subject);
      expect(open).toHaveLength(24);
      expect(await slotIds(inst.a, subject)).toEqual(open);
      expect(await slotIds(inst.b, subject)).toEqual(open);
      // Each cookie works on the other instance too.
      for (const [i, o] of opened.entries()) {
        expect(await (i % 2 === 0 ? inst.b : inst.a).sessions.find(o.cookie)).toBeDefined();
      }

      // Sign-outs at once on both: none lingers in the row.
      await Promise.all(
        opened.slice(0, 12).map((o, i) => (i % 2 === 0 ? inst.b : inst.a).sessions.close(o.cookie)),
      );
      const left = await openIds(inst.a, subject);
      expect(left).toHaveLength(12);
      expect(await slotIds(inst.b, subject)).toEqual(left);
      expect(await inst.a.log.checkViews()).toEqual([]);
    },
  );

  it.skipIf(skip)('the cap holds under the race: at most perSubject open, all listed', async () => {
    const subject = 'did:sigil:race-capped';
    const token = await tokenFor(subject);
    const limits = { ...TTL, perSubject: 3 };
    await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        (i % 2 === 0 ? inst.a : inst.b).sessions.open(token, limits),
      ),
    );
    const open = await openIds(inst.a, subject);
    expect(open).toHaveLength(3);
    expect(await slotIds(inst.b, subject)).toEqual(open);
    expect(await inst.b.log.validate()).toMatchObject({ ok: true });
  });
});
