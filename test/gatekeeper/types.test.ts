import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSigilError } from '../../src/core/errors.ts';
import {
  actionNamespace,
  actionVerb,
  isHaltPathTarget,
  isKernelTarget,
  targetSegments,
} from '../../src/gatekeeper/request-facts.ts';
import {
  INVARIANT_IDS,
  gatekeeperRequestSchema,
  parseAuthorityChain,
  parseGatekeeperRequest,
  parseProvenance,
  parseQuorumEvidence,
} from '../../src/gatekeeper/types.ts';
import {
  ACTOR,
  AI,
  HUMAN,
  humanVote,
  link,
  party,
  provenanceBy,
  request,
} from './judicial-fixtures.ts';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isSigilError(err) ? err.code : 'other';
  }
  return undefined;
}

describe('invariant ids', () => {
  it('are the nine stable ids', () => {
    expect(INVARIANT_IDS).toEqual([
      'separation-of-powers',
      'consent-required',
      'no-self-grant',
      'human-override',
      'kernel-immutability',
      'authority-chain-valid',
      'quorum-legitimate',
      'provenance-verifiable',
      'human-credentials',
    ]);
  });
});

describe('parseGatekeeperRequest', () => {
  it('accepts a well-formed request', () => {
    const req = request({
      actorSigner: AI,
      payload: { a: [1, null] },
      effect: { grants: [{ subject: ACTOR, loa: 'observer' }] },
    });
    expect(parseGatekeeperRequest(req)).toEqual(req);
  });

  it('rejects asserted facts and malformed fields', () => {
    const bad: unknown[] = [
      { ...request(), is_self_grant: false },
      { ...request(), modifies_kernel: false },
      { ...request(), actor: 'alice' },
      { ...request(), actorSigner: { type: 'robot' } },
      { ...request(), actorSigner: { type: 'ai', delegationId: 'short' } },
      { ...request(), actorSigner: { type: 'human', delegationId: 'a'.repeat(64) } },
      { ...request(), action: '' },
      { ...request(), permissions: 'read' },
      { ...request(), payload: { n: Number.NaN } },
      { ...request(), effect: { grants: [{ subject: ACTOR }], flags: true } },
      { ...request(), effect: { revokes: [{ subject: 'x' }] } },
      null,
    ];
    for (const value of bad)
      expect(codeOf(() => parseGatekeeperRequest(value))).toBe('invalid_request');
  });
});

describe('parseGatekeeperRequest agrees with its schema', () => {
  const field = fc.oneof(
    fc.constant(undefined),
    fc.string(),
    fc.constantFrom('did:sigil:alice', 'did:x:', 'alice', ''),
    fc.integer(),
    fc.double(),
    fc.jsonValue(),
    fc.constantFrom(
      { type: 'human' },
      { type: 'ai', delegationId: 'a'.repeat(64) },
      { type: 'ai' },
    ),
    fc.array(fc.oneof(fc.string(), fc.integer())),
  );
  const candidate = fc.dictionary(
    fc.constantFrom('actor', 'actorSigner', 'action', 'target', 'permissions', 'payload', 'extra'),
    field,
  );

  it('accepts exactly what the schema accepts, and returns what it would', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          candidate,
          candidate.map((c) => ({ ...request(), ...c })),
        ),
        (value) => {
          const schema = gatekeeperRequestSchema.safeParse(value);
          let parsed: unknown;
          let code: string | undefined;
          try {
            parsed = parseGatekeeperRequest(value);
          } catch (err) {
            code = isSigilError(err) ? err.code : 'thrown';
          }
          if (schema.success) expect(parsed).toEqual(schema.data);
          else expect(code).toBe('invalid_request');
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('evidence parsers', () => {
  it('round-trip signed evidence', () => {
    const p = party(ACTOR);
    const prov = provenanceBy(p, HUMAN);
    expect(parseProvenance(prov)).toEqual(prov);
    const chain = [link(p, 'did:sigil:b')];
    expect(parseAuthorityChain(chain)).toEqual(chain);
    const evidence = { threshold: 1, votes: [humanVote(p)] };
    expect(parseQuorumEvidence(evidence)).toEqual(evidence);
  });

  it('reject malformed evidence with their own codes', () => {
    const p = party(ACTOR);
    expect(codeOf(() => parseProvenance({ ...provenanceBy(p, HUMAN), voiceKind: 'robot' }))).toBe(
      'invalid_provenance',
    );
    expect(codeOf(() => parseProvenance({ ...provenanceBy(p, HUMAN), signature: 'a+b=' }))).toBe(
      'invalid_provenance',
    );
    expect(codeOf(() => parseAuthorityChain([{ grantor: ACTOR }]))).toBe('invalid_authority_chain');
    expect(codeOf(() => parseQuorumEvidence({ threshold: 1.5, votes: [] }))).toBe(
      'invalid_quorum_evidence',
    );
  });
});

describe('request facts helpers', () => {
  it('extract verb and namespace', () => {
    expect(actionVerb('kernel.update')).toBe('update');
    expect(actionVerb('Canon:Write')).toBe('write');
    expect(actionVerb('read')).toBe('read');
    expect(actionNamespace('kernel.update')).toBe('kernel');
    expect(actionVerb('')).toBe('');
  });

  it('normalise target paths', () => {
    expect(targetSegments(' /Canon/./user//../System/Halt/ ')).toEqual(['canon', 'system', 'halt']);
    expect(targetSegments('../../kernel')).toEqual(['kernel']);
    expect(targetSegments('a%2Fb')).toEqual(['a', 'b']);
    expect(targetSegments('%E0%A4%A')).toEqual(['%e0%a4%a']);
  });

  it('recognise kernel and halt-path targets', () => {
    expect(isKernelTarget('kernel/config')).toBe(true);
    expect(isKernelTarget('kernels/config')).toBe(false);
    expect(isKernelTarget('constitution-v2')).toBe(true);
    expect(isKernelTarget('canon/kernel')).toBe(false);
    expect(isHaltPathTarget('system/halt')).toBe(true);
    expect(isHaltPathTarget('holon/h1/halt')).toBe(true);
    expect(isHaltPathTarget('system/halting')).toBe(false);
  });
});
