/**
 * The one error contract (issue 13 §9): every code the sources can raise has a declared HTTP
 * status and CLI exit code in ERROR_CODES, and the HTTP problem and the CLI exit derive from it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, SigilError, errorContract } from '../../src/core/errors.ts';
import { exitCodeFor } from '../../src/cli/output.ts';
import { problemFromSigilError, statusForCode } from '../../src/http/problem.ts';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/**
 * Where a code literal becomes an error: thrown as a SigilError, passed to a deny() helper,
 * named as an attestation fault, or set as an error or denial `code` member.
 */
const RAISE_PATTERNS = [
  /SigilError\(\s*'([a-z0-9_]+)'/g,
  /\bdeny\(\s*(?:chain,\s*base,\s*)?'([a-z0-9_]+)'/g,
  /\bfault:\s*'([a-z0-9_]+)'/g,
  /\bcode:\s*'([a-z0-9_]+)'/g,
  /\bcode\s*\?\?\s*'([a-z0-9_]+)'/g,
  /\bcode:\s*'[a-z0-9_]+'(?:\s*\|\s*'([a-z0-9_]+)')+/g,
  // the branches of a ternary that picks a code: `timedOut ? 'upstream_timeout' : …`
  /\?\s*'([a-z0-9]+_[a-z0-9_]+)'/g,
  /\n\s*:\s*'([a-z0-9]+_[a-z0-9_]+)';/g,
];

/** Literals the patterns meet that are not error codes: zod issue kinds, log-validation findings, record kinds, outcomes. */
const NOT_ERRORS = new Set([
  'custom',
  'invalid',
  'chain_broken',
  'hash_mismatch',
  'missing_record',
  'root_mismatch',
  'not_extended',
  'tile_mismatch',
  'tile_unused',
  'user_data',
  'denied',
]);

function raisedCodes(): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of sources('src')) {
    const text = readFileSync(file, 'utf8');
    for (const pattern of RAISE_PATTERNS) {
      for (const m of text.matchAll(pattern)) {
        const code = m[1];
        if (code !== undefined && !NOT_ERRORS.has(code) && !found.has(code)) found.set(code, file);
      }
    }
  }
  return found;
}

describe('the error registry', () => {
  it('declares every code raised in src/', () => {
    const raised = raisedCodes();
    expect(raised.size).toBeGreaterThan(100);
    const missing = [...raised]
      .filter(([code]) => !ERROR_CODES.has(code))
      .map(([c, f]) => `${c} (${f})`);
    expect(missing).toEqual([]);
  });

  it('sends no client or upstream error to 403 unless it is a denial', () => {
    for (const [code, { status }] of ERROR_CODES) {
      expect([
        400, 401, 403, 404, 405, 408, 409, 413, 414, 415, 416, 422, 429, 431, 500, 502, 503, 504,
      ]).toContain(status);
      // A forged or missing CSRF token is refused like any other denial.
      if (
        code !== 'csrf_invalid' &&
        /invalid|malformed|mismatch|unavailable|limit|not_found|exists|expired/.test(code)
      ) {
        expect(status, code).not.toBe(403);
      }
    }
    expect(statusForCode('witness_invalid')).toBe(400);
    expect(statusForCode('upstream_unavailable')).toBe(502);
    expect(statusForCode('upstream_timeout')).toBe(504);
    expect(statusForCode('combinator_limit_exceeded')).toBe(400);
    expect(statusForCode('loa_insufficient')).toBe(403);
    expect(statusForCode('replay_unsupported')).toBe(422);
  });

  it('is what HTTP problems and CLI exits derive from', () => {
    for (const [code, contract] of ERROR_CODES) {
      const p = problemFromSigilError(new SigilError(code, 'detail'), 'req');
      if (contract.status === 500 && contract.disclosed !== true) {
        expect(p).toMatchObject({ status: 500, code: 'internal', detail: 'internal error' });
      } else {
        expect(p).toMatchObject({ status: contract.status, code, detail: 'detail' });
      }
      expect(exitCodeFor(new SigilError(code, 'x'))).toBe(contract.exit);
    }
    expect(exitCodeFor(new SigilError('bad_request', 'x'))).toBe(2);
    expect(exitCodeFor(new SigilError('store_missing', 'x'))).toBe(3);
  });

  it('treats a code missing from the registry as a fault of the server, never a quiet denial', () => {
    expect(errorContract('no_such_code_anywhere')).toEqual({ status: 500, exit: 1 });
    expect(
      problemFromSigilError(new SigilError('no_such_code_anywhere', 'secret'), 'r'),
    ).toMatchObject({
      status: 500,
      code: 'internal',
    });
  });
});
