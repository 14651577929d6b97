import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from '../core/canonical.ts';
import { isDid } from '../core/did.ts';
import { type Ed25519KeyPair, publicKeyToRaw, sign, verify } from '../core/ed25519.ts';
import {
  concatBytes,
  constantTimeEqual,
  fromBase64Url,
  fromHex,
  toBase64Url,
  toHex,
  utf8Encode,
} from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { sha256, sha256Hex } from '../core/hash.ts';
import { hkdfSha256 } from '../core/kdf.ts';
import { LOAS, type Loa } from './loa.ts';

/**
 * Licenses, in the original's shape:
 *
 *   { owner: {id, name}, loa, issuedAt, expiresAt, bindings: {runtimeId, canonFingerprint},
 *     seal: {alg: 'ed25519', sig, pubkey, contentHash} }
 *
 * - `contentHash` = lowercase hex SHA-256 of the RFC 8785 canonical JSON of the license
 *   without `seal`;
 * - `sig` = Ed25519 by the runtime's Root key over `"sigil.license.v1\0" || contentHash bytes`
 *   (the domain prefix keeps a license seal from ever being valid as any other Sigil signature);
 * - `sig` and `pubkey` are unpadded base64url; times are RFC 3339 UTC (`…Z`); `expiresAt` may be
 *   null (no expiry, e.g. the bootstrap Root license); `owner.id` is a DID.
 */
export interface License {
  owner: { id: string; name: string };
  loa: Loa;
  issuedAt: string;
  expiresAt: string | null;
  bindings: { runtimeId: string; canonFingerprint: string };
  seal: { alg: 'ed25519'; sig: string; pubkey: string; contentHash: string };
}

export const LICENSE_SIGNATURE_DOMAIN = 'sigil.license.v1\0';

const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;
const timestamp = z
  .string()
  .regex(RFC3339_UTC)
  .refine((s) => Number.isFinite(Date.parse(s)), 'not a valid time');

const licenseSchema = z.strictObject({
  owner: z.strictObject({
    id: z.string().refine(isDid, 'owner.id must be a DID'),
    name: z.string(),
  }),
  loa: z.enum(LOAS),
  issuedAt: timestamp,
  expiresAt: timestamp.nullable(),
  bindings: z.strictObject({
    runtimeId: z.string().min(1),
    canonFingerprint: z.string().regex(/^[0-9a-f]{64}$/),
  }),
  seal: z.strictObject({
    alg: z.literal('ed25519'),
    sig: z.string().regex(/^[A-Za-z0-9_-]{86}$/),
    pubkey: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
    contentHash: z.string().regex(/^[0-9a-f]{64}$/),
  }),
});

/** The bytes a license seal signs. */
function sealMessage(contentHash: string): Uint8Array {
  return concatBytes(utf8Encode(LICENSE_SIGNATURE_DOMAIN), fromHex(contentHash));
}

function contentHashOf(content: Omit<License, 'seal'>): string {
  return sha256Hex(canonicalJson(content));
}

export interface CreateLicenseInput {
  owner: { id: string; name: string };
  loa: Loa;
  /** Epoch ms. */
  issuedAt: number;
  /** Epoch ms, or null for no expiry. */
  expiresAt: number | null;
  runtimeId: string;
  canonFingerprint: string;
}

/**
 * Issues a license sealed by the Root key pair. Does not check the single-root policy: call
 * {@link assertCanMint} first. Invalid input (owner id not a DID, expiry not after issue, …)
 * throws SigilError 'bad_request'.
 */
export function createLicense(input: CreateLicenseInput, rootKeyPair: Ed25519KeyPair): License {
  const iso = (ms: number, field: string): string => {
    if (!Number.isSafeInteger(ms)) throw new SigilError('bad_request', `${field} must be epoch ms`);
    return new Date(ms).toISOString();
  };
  if (input.expiresAt !== null && !(input.expiresAt > input.issuedAt))
    throw new SigilError('bad_request', 'license must expire after it is issued');
  const content: Omit<License, 'seal'> = {
    owner: { id: input.owner.id, name: input.owner.name },
    loa: input.loa,
    issuedAt: iso(input.issuedAt, 'issuedAt'),
    expiresAt: input.expiresAt === null ? null : iso(input.expiresAt, 'expiresAt'),
    bindings: { runtimeId: input.runtimeId, canonFingerprint: input.canonFingerprint },
  };
  const contentHash = contentHashOf(content);
  const license: License = {
    ...content,
    seal: {
      alg: 'ed25519',
      sig: toBase64Url(sign(rootKeyPair.privateKey, sealMessage(contentHash))),
      pubkey: toBase64Url(publicKeyToRaw(rootKeyPair.publicKey)),
      contentHash,
    },
  };
  const parsed = licenseSchema.safeParse(license);
  if (!parsed.success)
    throw new SigilError('bad_request', `invalid license: ${parsed.error.issues[0]?.message}`, {
      path: parsed.error.issues[0]?.path.join('.'),
    });
  return license;
}

export type LicenseFailure =
  | 'license_missing'
  | 'license_malformed'
  | 'license_wrong_key'
  | 'license_tampered'
  | 'license_foreign_fingerprint'
  | 'license_not_yet_valid'
  | 'license_expired'
  // Decided by the runtime from its log, after the seal holds (see runtime/services/licenses.ts).
  | 'license_revoked'
  | 'license_unknown';

export type LicenseVerification =
  | { ok: true; loa: Loa; owner: License['owner']; expiresAt: string | null; license: License }
  | { ok: false; loa: Loa; reason: LicenseFailure };

export interface VerifyLicenseOptions {
  /** The runtime's Root public key: the only key whose seals count. */
  trustedRootKey: KeyObject;
  runtimeId: string;
  /** This runtime's fingerprint, see {@link canonFingerprint}. */
  canonFingerprint: string;
  /** Epoch ms. */
  now: number;
  /** The level of a caller without a valid license (MMF_TRUST_DEFAULT_LOA). */
  defaultLoa: Loa;
}

/**
 * Validates a license and yields its LOA, or the configured default LOA with the first failing
 * check, in this order: missing → malformed (shape, types, unknown fields) → wrong key (sealed
 * by a key other than the trusted Root key) → tampered (content hash or signature does not
 * match) → foreign fingerprint (issued for another runtime or canon, or under another
 * MMF_LICENSE_SECRET) → not yet valid → expired (at `expiresAt` exactly it has expired).
 * A failure never yields more than `defaultLoa`. Never throws.
 */
export function verifyLicense(license: unknown, opts: VerifyLicenseOptions): LicenseVerification {
  const fail = (reason: LicenseFailure): LicenseVerification => ({
    ok: false,
    loa: opts.defaultLoa,
    reason,
  });
  if (license === undefined || license === null) return fail('license_missing');
  const parsed = licenseSchema.safeParse(license);
  if (!parsed.success) return fail('license_malformed');
  const lic = parsed.data;

  let trustedRaw: Uint8Array;
  try {
    trustedRaw = publicKeyToRaw(opts.trustedRootKey);
  } catch {
    return fail('license_wrong_key');
  }
  if (!constantTimeEqual(fromBase64UrlOrEmpty(lic.seal.pubkey), trustedRaw))
    return fail('license_wrong_key');

  const { seal, ...content } = lic;
  let hash: string;
  try {
    hash = contentHashOf(content);
  } catch {
    return fail('license_malformed'); // e.g. a lone surrogate: no canonical form
  }
  if (!constantTimeEqual(fromHex(hash), fromHex(seal.contentHash))) return fail('license_tampered');
  const sig = fromBase64UrlOrEmpty(seal.sig);
  if (!verify(opts.trustedRootKey, sealMessage(hash), sig)) return fail('license_tampered');

  if (
    lic.bindings.runtimeId !== opts.runtimeId ||
    !constantTimeEqual(utf8Encode(lic.bindings.canonFingerprint), utf8Encode(opts.canonFingerprint))
  )
    return fail('license_foreign_fingerprint');

  if (!(opts.now >= Date.parse(lic.issuedAt))) return fail('license_not_yet_valid');
  if (lic.expiresAt !== null && !(opts.now < Date.parse(lic.expiresAt)))
    return fail('license_expired');

  return { ok: true, loa: lic.loa, owner: lic.owner, expiresAt: lic.expiresAt, license: lic };
}

/** Non-canonical base64url never equals a key or verifies as a signature: map it to no bytes. */
function fromBase64UrlOrEmpty(s: string): Uint8Array {
  try {
    return fromBase64Url(s);
  } catch {
    return new Uint8Array(0);
  }
}

/**
 * Single-root policy: the runtime has exactly one Root license (issued by `init`); minting
 * another Root license throws SigilError 'single_root_violation'. Other levels are unlimited.
 */
export function assertCanMint(loa: Loa, existingRootLicenseCount: number): void {
  if (loa === 'root' && existingRootLicenseCount !== 0)
    throw new SigilError('single_root_violation', 'a Root license already exists', {
      existingRootLicenseCount,
    });
}

const FINGERPRINT_SALT = utf8Encode('sigil.canon-fingerprint.v1');

/**
 * The canon fingerprint a license is bound to: it ties licenses to one runtime and one log.
 *
 * - With MMF_LICENSE_SECRET: HKDF-SHA256(ikm = secret, salt = "sigil.canon-fingerprint.v1",
 *   info = log public key (32 bytes) || SHA-256(runtimeId)), 32 bytes, hex. Only a holder of the secret
 *   can compute it, and changing the secret invalidates every license at once (a deployment-wide
 *   revocation lever).
 * - Without a secret: hex SHA-256("sigil.canon-fingerprint.v1\0" || log public key ||
 *   SHA-256(runtimeId)).
 *   Licenses are still bound to the log key and runtime id, and the Root seal still gates them;
 *   only the revoke-all lever is missing.
 *
 * Both parts are fixed-length, so the concatenation is unambiguous. An empty secret is a
 * configuration error ('config_invalid'), never silently "no secret".
 */
export function canonFingerprint(
  secret: string | undefined,
  logPublicKeyRaw: Uint8Array,
  runtimeId: string,
): string {
  if (!(logPublicKeyRaw instanceof Uint8Array) || logPublicKeyRaw.length !== 32)
    throw new SigilError('invalid_key', 'log public key must be 32 raw bytes');
  if (typeof runtimeId !== 'string' || runtimeId === '')
    throw new SigilError('bad_request', 'runtimeId must be a non-empty string');
  const bound = concatBytes(logPublicKeyRaw, sha256(runtimeId));
  if (secret === undefined)
    return toHex(sha256(concatBytes(FINGERPRINT_SALT, new Uint8Array([0]), bound)));
  if (secret === '')
    throw new SigilError('config_invalid', 'MMF_LICENSE_SECRET is set but empty', {
      key: 'MMF_LICENSE_SECRET',
    });
  return toHex(hkdfSha256(utf8Encode(secret), FINGERPRINT_SALT, bound, 32));
}
