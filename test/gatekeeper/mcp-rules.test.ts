import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/hash.ts';
import {
  AI_OUTPUT_MARKER,
  AI_OUTPUT_META_KEY,
  MCP_RULES,
  audit,
  enforce,
  isOutputMarked,
  markOutput,
} from '../../src/gatekeeper/mcp-rules.ts';
import type { McpContext, McpRuleId } from '../../src/gatekeeper/mcp-rules.ts';
import { mcpActionHash } from '../../src/gatekeeper/provenance.ts';
import type { GatekeeperRequest } from '../../src/gatekeeper/types.ts';
import {
  ACTOR,
  AI,
  BAILOR,
  HUMAN,
  NOW,
  bailment,
  grant,
  party,
  provenanceBy,
} from './judicial-fixtures.ts';

const agent = party(ACTOR);
const ARGS = { query: 'blood pressure', limit: 5 };

function aiRequest(over: Partial<GatekeeperRequest> = {}): GatekeeperRequest {
  return {
    actor: ACTOR,
    actorSigner: AI,
    action: 'search_records',
    target: 'mcp/tools/search_records',
    permissions: ['data:medical:read'],
    payload: ARGS,
    ...over,
  };
}

/** A context in which an AI tool call passes all six rules. */
function valid(over: Partial<McpContext> = {}): McpContext {
  return {
    request: aiRequest(),
    scope: 'tools:search_records, tools:fetch_record',
    provenance: provenanceBy(agent, AI, { actionHash: mcpActionHash('search_records', ARGS) }),
    output: 'gateway',
    consent: { bailor: BAILOR, bailments: [bailment()], grants: [grant()], now: NOW },
    ...over,
  };
}

function failing(ctx: McpContext): McpRuleId | null {
  const r = enforce(ctx);
  return r.ok ? null : r.violation.rule;
}

describe('MCP rules', () => {
  it('are six, in order, with the reference severities', () => {
    expect(MCP_RULES.map((r) => [r.rule, r.severity])).toEqual([
      ['mcp-001-bcts-scope', 5],
      ['mcp-002-no-self-escalation', 5],
      ['mcp-003-provenance-required', 4],
      ['mcp-004-no-identity-forge', 5],
      ['mcp-005-distinguishable', 3],
      ['mcp-006-consent-boundaries', 5],
    ]);
  });

  it('a well-formed AI call passes every rule', () => {
    expect(enforce(valid())).toEqual({ ok: true });
    expect(audit(valid()).every((r) => r.passed && !r.exempt)).toBe(true);
  });

  it('human signers are exempt', () => {
    const human: McpContext = {
      request: aiRequest({ actorSigner: HUMAN, effect: { grants: [{ subject: ACTOR }] } }),
      scope: null,
      provenance: null,
      output: 'none',
      consent: { bailor: null, bailments: [], grants: [], now: NOW },
    };
    expect(enforce(human)).toEqual({ ok: true });
    const results = audit(human);
    expect(results).toHaveLength(6);
    expect(results.every((r) => r.passed && r.exempt)).toBe(true);
  });

  describe('mcp-001-bcts-scope', () => {
    it('passes when the declared scope covers the action', () => {
      expect(failing(valid({ scope: 'search_records' }))).toBeNull();
    });
    it('fails without a declared scope', () => {
      expect(failing(valid({ scope: null }))).toBe('mcp-001-bcts-scope');
      expect(failing(valid({ scope: '  ' }))).toBe('mcp-001-bcts-scope');
    });
    it('fails when the action is outside the scope', () => {
      expect(failing(valid({ scope: 'tools:fetch_record' }))).toBe('mcp-001-bcts-scope');
    });
  });

  describe('mcp-002-no-self-escalation', () => {
    it('passes a call that grants nothing to the actor', () => {
      const req = aiRequest({
        effect: { grants: [{ subject: 'did:sigil:bob', permissions: ['read'] }] },
      });
      expect(failing(valid({ request: req }))).toBeNull();
    });
    it('fails a call raising the actor itself', () => {
      const req = aiRequest({ effect: { raises: [{ subject: ACTOR, loa: 'mentor' }] } });
      expect(failing(valid({ request: req }))).toBe('mcp-002-no-self-escalation');
    });
    it('fails a token minted for itself', () => {
      const payload = { subject: ACTOR, loa: 'root' };
      const req = aiRequest({ action: 'token.create', payload });
      const ctx = valid({
        request: req,
        scope: 'token.create',
        provenance: provenanceBy(agent, AI, { actionHash: mcpActionHash('token.create', payload) }),
      });
      expect(failing(ctx)).toBe('mcp-002-no-self-escalation');
    });
  });

  describe('mcp-003-provenance-required', () => {
    it('fails without provenance', () => {
      expect(failing(valid({ provenance: null }))).toBe('mcp-003-provenance-required');
    });
    it('fails provenance for other arguments (replayed)', () => {
      const replay = provenanceBy(agent, AI, {
        actionHash: mcpActionHash('search_records', { query: 'x' }),
      });
      expect(failing(valid({ provenance: replay }))).toBe('mcp-003-provenance-required');
    });
    it('leaves the signature to provenance-verifiable: a forged one for this call passes the rule', () => {
      const forged = provenanceBy(party(ACTOR), HUMAN, {
        actionHash: mcpActionHash('search_records', ARGS),
      });
      expect(failing(valid({ provenance: forged }))).toBeNull();
    });
  });

  describe('mcp-004-no-identity-forge', () => {
    it('passes a claim matching the authenticated identity', () => {
      expect(
        failing(
          valid({
            claimed: {
              subject: ACTOR,
              signerType: 'ai',
              delegationId: AI.type === 'ai' ? AI.delegationId : '',
            },
          }),
        ),
      ).toBeNull();
    });
    it('fails claiming another subject', () => {
      expect(failing(valid({ claimed: { subject: 'did:sigil:alice' } }))).toBe(
        'mcp-004-no-identity-forge',
      );
    });
    it('fails an AI claiming to be human', () => {
      const r = enforce(valid({ claimed: { signerType: 'human' } }));
      expect(r).toMatchObject({
        ok: false,
        violation: { rule: 'mcp-004-no-identity-forge', severity: 5 },
      });
    });
    it('fails claiming another delegation', () => {
      expect(failing(valid({ claimed: { delegationId: sha256Hex('x') } }))).toBe(
        'mcp-004-no-identity-forge',
      );
    });
  });

  describe('mcp-005-distinguishable', () => {
    it('passes when the gateway marks output, or the output carries the marker', () => {
      expect(failing(valid({ output: 'gateway' }))).toBeNull();
      expect(failing(valid({ output: { metadata: markOutput({ other: 1 }) } }))).toBeNull();
    });
    it('fails unmarked output', () => {
      expect(failing(valid({ output: 'none' }))).toBe('mcp-005-distinguishable');
      for (const metadata of [
        null,
        undefined,
        [],
        {},
        { [AI_OUTPUT_META_KEY]: 'sigil:human' },
        { marker: AI_OUTPUT_MARKER },
      ]) {
        expect(failing(valid({ output: { metadata } }))).toBe('mcp-005-distinguishable');
      }
    });
    it('marks without changing the input', () => {
      const meta = { a: 1 };
      expect(markOutput(meta)).toEqual({ a: 1, [AI_OUTPUT_META_KEY]: AI_OUTPUT_MARKER });
      expect(meta).toEqual({ a: 1 });
      expect(isOutputMarked(markOutput(null))).toBe(true);
    });
  });

  describe('mcp-006-consent-boundaries', () => {
    it('fails with no bailor or no consent', () => {
      expect(failing(valid({ consent: { ...valid().consent, bailor: null } }))).toBe(
        'mcp-006-consent-boundaries',
      );
      expect(failing(valid({ consent: { ...valid().consent, grants: [] } }))).toBe(
        'mcp-006-consent-boundaries',
      );
    });
    it('leaves the scope to consent-required: a consent in force not covering the action passes', () => {
      const req = aiRequest({ permissions: ['profile:delete'] });
      expect(failing(valid({ request: req }))).toBeNull();
    });
    it('fails once consent is revoked or expired', () => {
      const revoked = {
        ...valid().consent,
        grants: [grant({ revokedAt: '2025-05-31T00:00:00Z' })],
      };
      expect(failing(valid({ consent: revoked }))).toBe('mcp-006-consent-boundaries');
      expect(
        failing(
          valid({
            consent: {
              ...valid().consent,
              now: Date.parse('2099-01-01T00:00:00Z'),
              grants: [grant({ expiresAt: '2030-01-01T00:00:00Z' })],
            },
          }),
        ),
      ).toBe('mcp-006-consent-boundaries');
    });
  });

  it('enforce returns the first violation in rule order; audit reports all', () => {
    const ctx = valid({ scope: null, provenance: null, output: 'none' });
    expect(enforce(ctx)).toMatchObject({
      ok: false,
      violation: { rule: 'mcp-001-bcts-scope', severity: 5 },
    });
    const failed = audit(ctx)
      .filter((r) => !r.passed)
      .map((r) => r.rule);
    expect(failed).toEqual([
      'mcp-001-bcts-scope',
      'mcp-003-provenance-required',
      'mcp-005-distinguishable',
    ]);
    expect(audit(ctx).find((r) => r.rule === 'mcp-003-provenance-required')?.severity).toBe(4);
  });

  it('refuses a malformed request', () => {
    expect(() => enforce(valid({ request: { ...aiRequest(), actor: 'alice' } }))).toThrowError(
      /invalid request/,
    );
  });
});
