/**
 * The HTTP gateway as an OAuth 2.1 resource server (the MCP authorization spec): JWT access
 * tokens from the authorization servers in gateway.toml, verified through their JWKS with
 * `jose` (signature by an allowed asymmetric algorithm, issuer, audience = the gateway's
 * resource URI per RFC 8707, expiry), mapped to a Sigil caller by the issuer's claim table.
 * The token itself stays here: upstreams only ever see their own configured headers.
 */
import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import { SigilError } from '../core/errors.ts';
import { sha256Hex } from '../core/hash.ts';
import type { SignerType } from '../core/typed-signature.ts';
import { isLoa, loaAtLeast } from '../policy/index.ts';
import type { Caller } from '../runtime/index.ts';
import type { OAuthIssuer } from './config.ts';

/** A delegation id as the log names it (hex SHA-256). */
const DELEGATION_ID_RE = /^[0-9a-f]{64}$/;
const MAX_SUBJECT = 256;
const MAX_SCOPES = 64;

/** A JWT in compact form (three base64url parts); Sigil tokens (`sgl_…`) never look like one. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

function refuse(reason: string): SigilError {
  return new SigilError('token_invalid', `the access token is not valid: ${reason}`);
}

function claimString(payload: JWTPayload, claim: string): string | undefined {
  const v = payload[claim];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw refuse(`claim ${claim} is not a string`);
  return v;
}

function scopesOf(payload: JWTPayload, claim: string): string[] {
  const v = payload[claim];
  const list =
    typeof v === 'string'
      ? v.split(' ').filter((s) => s !== '')
      : Array.isArray(v) && v.every((s) => typeof s === 'string')
        ? (v as string[])
        : null;
  if (list === null || list.length > MAX_SCOPES) throw refuse(`claim ${claim} is not a scope list`);
  return list;
}

/** The Sigil caller an issuer's verified claims name. */
export function callerFromClaims(issuer: OAuthIssuer, payload: JWTPayload): Caller {
  const subject = claimString(payload, issuer.subjectClaim);
  if (subject === undefined || subject === '' || subject.length > MAX_SUBJECT) {
    throw refuse(`claim ${issuer.subjectClaim} must name the subject`);
  }
  const loaClaim = claimString(payload, issuer.loaClaim);
  const loa = loaClaim === undefined ? issuer.defaultLoa : loaClaim.toLowerCase();
  if (!isLoa(loa)) throw refuse(`claim ${issuer.loaClaim} is not an LOA`);
  if (!loaAtLeast(issuer.maxLoa, loa)) {
    throw refuse(`issuer ${issuer.issuer} may grant at most ${issuer.maxLoa}, not ${loa}`);
  }
  // A client that does not say it is a human is an AI: it must show its delegation.
  const signerName = claimString(payload, issuer.signerClaim) ?? 'ai';
  const delegation = claimString(payload, issuer.delegationClaim);
  let signer: SignerType;
  if (signerName === 'human') {
    if (delegation !== undefined) throw refuse('a human token names no delegation');
    signer = { type: 'human' };
  } else if (signerName === 'ai') {
    if (delegation === undefined || !DELEGATION_ID_RE.test(delegation)) {
      throw refuse(`an AI client's token names its delegation in ${issuer.delegationClaim}`);
    }
    signer = { type: 'ai', delegationId: delegation };
  } else {
    throw refuse(`claim ${issuer.signerClaim} must be human or ai`);
  }
  return {
    subject,
    loa,
    signer,
    verified: true,
    source: 'oauth',
    // Stable across refreshed tokens of one subject, so an HTTP session outlives a refresh.
    tokenId: `oauth:${sha256Hex(`${issuer.issuer}\n${subject}`).slice(0, 32)}`,
    expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null,
    ...(issuer.scopeClaim === undefined ? {} : { scopes: scopesOf(payload, issuer.scopeClaim) }),
  };
}

export class OAuthVerifier {
  readonly #issuers: ReadonlyMap<
    string,
    { config: OAuthIssuer; jwks: ReturnType<typeof createRemoteJWKSet> }
  >;

  constructor(issuers: readonly OAuthIssuer[]) {
    this.#issuers = new Map(
      issuers.map((config) => [
        config.issuer,
        {
          config,
          jwks: createRemoteJWKSet(new URL(config.jwksUri), {
            timeoutDuration: 5_000,
            cooldownDuration: 30_000,
            cacheMaxAge: 10 * 60_000,
          }),
        },
      ]),
    );
  }

  get enabled(): boolean {
    return this.#issuers.size > 0;
  }

  /** The issuers, as the protected-resource metadata lists them. */
  get issuers(): string[] {
    return [...this.#issuers.keys()];
  }

  /** Verifies an access token and maps it to a caller; 'token_invalid' for any failure. */
  async verify(token: string): Promise<Caller> {
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      throw refuse('not a JWT');
    }
    // The (unverified) issuer only picks whose keys and rules to verify with.
    const entry =
      typeof unverified.iss === 'string' ? this.#issuers.get(unverified.iss) : undefined;
    if (entry === undefined) throw refuse('issuer not trusted');
    const { config, jwks } = entry;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: config.algorithms,
        clockTolerance: config.clockToleranceS,
        requiredClaims: ['exp', config.subjectClaim],
      }));
    } catch (err) {
      const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
      throw refuse(code === '' ? 'verification failed' : code);
    }
    return callerFromClaims(config, payload);
  }
}
