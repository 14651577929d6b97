/** The standing the human-override invariant reads, from the token view's rows. */
import { describe, expect, it } from 'vitest';
import { humanStanding } from '../../src/runtime/services/tokens.ts';
import type { StoredToken } from '../../src/runtime/view-ns.ts';

const NOW = 1_000_000;
let n = 0;
function token(subject: string, loa: string, over: Partial<StoredToken> = {}): StoredToken {
  n++;
  return {
    id: `t${n}`,
    hash: n.toString(16).padStart(64, '0'),
    subject,
    loa: loa as StoredToken['loa'],
    signer: { type: 'human' },
    createdAt: 0,
    expiresAt: null,
    revokedAt: null,
    issuedBy: 'did:sigil:root',
    ...over,
  };
}
const AI = { type: 'ai', delegationId: 'ab'.repeat(32) } as const;

describe('humanStanding', () => {
  it('counts subjects with a live human Root token, once each', () => {
    const s = humanStanding(
      [token('did:sigil:a', 'root'), token('did:sigil:a', 'root'), token('did:sigil:b', 'root')],
      NOW,
    );
    expect(s.humanRootCount).toBe(2);
    expect(s.subjects.get('did:sigil:a')).toEqual({ loa: 'root', human: true });
  });

  it('an AI Root token never makes a human Root; a human is ranked by its human tokens', () => {
    const s = humanStanding(
      [
        token('did:sigil:a', 'root', { signer: AI }),
        token('did:sigil:b', 'operator'),
        token('did:sigil:b', 'root', { signer: AI }),
      ],
      NOW,
    );
    expect(s.humanRootCount).toBe(0);
    expect(s.subjects.get('did:sigil:a')).toEqual({ loa: 'root', human: false });
    expect(s.subjects.get('did:sigil:b')).toEqual({ loa: 'operator', human: true });
  });

  it('revoked, expired and excepted tokens hold nothing', () => {
    const kept = token('did:sigil:c', 'root');
    const s = humanStanding(
      [
        token('did:sigil:a', 'root', { revokedAt: 5 }),
        token('did:sigil:b', 'root', { expiresAt: NOW }),
        kept,
      ],
      NOW,
      kept.id,
    );
    expect(s.humanRootCount).toBe(0);
    expect(s.subjects.size).toBe(0);
  });
});
