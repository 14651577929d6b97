import { describe, expect, it } from 'vitest';
import * as sigil from '../src/index.ts';

describe('package entry point', () => {
  it('exports the core, the log, the policy layer and the runtime', () => {
    for (const name of [
      'canonicalJson',
      'canonicalBytes',
      'sha256',
      'sign',
      'verify',
      'encodeCbor',
      'signTyped',
      'verifyTyped',
      'CanonLog',
      'verifyRecord',
      'authorize',
      'SigilRuntime',
      'decide',
      'loadConfig',
    ]) {
      expect(typeof (sigil as Record<string, unknown>)[name], name).toBe('function');
    }
    expect(typeof sigil.gatekeeper.createKernel).toBe('function');
    expect(typeof sigil.quorum.commitProposal).toBe('function');
  });
});
