import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBase64, toBase64 } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { scryptKey } from '../core/kdf.ts';
import { randomBytes } from '../core/random.ts';

/**
 * Finds the key-encryption key (KEK) that wraps the log's data key and the
 * encrypted signing keys. In order of preference:
 *
 * 1. `SIGIL_MASTER_KEY`: base64 of exactly 32 bytes, or `SIGIL_MASTER_KEY_FILE`: the path of a
 *    file holding it, mode 0600 (refused when group or others may read or write it), so that
 *    no configuration file (a desktop client's, a unit file) has to hold the key itself.
 * 2. `SIGIL_MASTER_PASSPHRASE`: scrypt of the passphrase with the salt and
 *    parameters kept in `<dataDir>/master.salt` (created on init).
 * 3. `<dataDir>/master.key`: a development fallback (base64, mode 0600), created
 *    only when `create` is set, and always reported with a warning.
 *
 * A variable that is set but unusable is an error, never a reason to fall back.
 */

export interface MasterKey {
  kek: Uint8Array;
  source: 'env' | 'key_file' | 'passphrase' | 'file';
  warning?: string;
}

const KEY_BYTES = 32;
const SALT_BYTES = 16;
const MIN_PASSPHRASE_CHARS = 8;
const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
const MAX_SCRYPT_N = 2 ** 20;

function invalid(message: string): SigilError {
  return new SigilError('master_key_invalid', message);
}

/** Refuses a secret file that group or others could read or write. */
export function assertPrivateFile(path: string): void {
  const st = statSync(path);
  if (!st.isFile()) throw new SigilError('key_file_insecure', `${path} is not a regular file`);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new SigilError(
      'key_file_insecure',
      `${path} is accessible to group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
      { path },
    );
  }
}

/**
 * Refuses ('dir_insecure') a directory holding secrets (the data dir, the key dir) that group
 * or others could list or enter; Sigil creates them 0700.
 */
export function assertPrivateDir(path: string): void {
  const st = statSync(path);
  if (!st.isDirectory()) throw new SigilError('dir_insecure', `${path} is not a directory`);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new SigilError(
      'dir_insecure',
      `${path} is accessible to group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 700 it`,
      { path },
    );
  }
}

function fromEnvKey(value: string): Uint8Array {
  let kek: Uint8Array;
  try {
    kek = fromBase64(value.trim());
  } catch {
    throw invalid('SIGIL_MASTER_KEY must be standard base64 of exactly 32 bytes');
  }
  if (kek.length !== KEY_BYTES) {
    throw invalid(`SIGIL_MASTER_KEY must decode to exactly 32 bytes (got ${kek.length})`);
  }
  return kek;
}

interface SaltFile {
  v: 1;
  kdf: 'scrypt';
  salt: string;
  N: number;
  r: number;
  p: number;
}

function readSalt(path: string): SaltFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw invalid(`${path} is not valid JSON`);
  }
  const s = parsed as Partial<SaltFile> | null;
  const ok =
    typeof s === 'object' &&
    s !== null &&
    s.v === 1 &&
    s.kdf === 'scrypt' &&
    typeof s.salt === 'string' &&
    Number.isSafeInteger(s.N) &&
    (s.N as number) <= MAX_SCRYPT_N &&
    s.r === SCRYPT_PARAMS.r &&
    s.p === SCRYPT_PARAMS.p;
  if (!ok) throw invalid(`${path} is not a Sigil scrypt salt file`);
  return s as SaltFile;
}

function fromPassphrase(passphrase: string, dataDir: string, create: boolean): Uint8Array {
  if (passphrase.length < MIN_PASSPHRASE_CHARS) {
    throw invalid(`SIGIL_MASTER_PASSPHRASE must be at least ${MIN_PASSPHRASE_CHARS} characters`);
  }
  const path = join(dataDir, 'master.salt');
  if (!existsSync(path)) {
    if (!create) throw invalid(`SIGIL_MASTER_PASSPHRASE is set but ${path} is missing`);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file: SaltFile = {
      v: 1,
      kdf: 'scrypt',
      salt: toBase64(randomBytes(SALT_BYTES)),
      ...SCRYPT_PARAMS,
    };
    writeFileSync(path, `${JSON.stringify(file)}\n`, { mode: 0o600, flag: 'wx' });
  }
  const salt = readSalt(path);
  let saltBytes: Uint8Array;
  try {
    saltBytes = fromBase64(salt.salt);
  } catch {
    throw invalid(`${path} holds a salt that is not base64`);
  }
  try {
    return scryptKey(passphrase, saltBytes, { N: salt.N, r: salt.r, p: salt.p });
  } catch {
    throw invalid('SIGIL_MASTER_PASSPHRASE could not be turned into a key');
  }
}

const FILE_WARNING =
  'the master key is read from master.key beside the data it protects; ' +
  'in production supply SIGIL_MASTER_KEY (base64 of 32 bytes) or SIGIL_MASTER_PASSPHRASE';

function fromFile(dataDir: string, create: boolean): Uint8Array {
  const path = join(dataDir, 'master.key');
  if (!existsSync(path)) {
    if (!create) {
      throw invalid(
        `no master key: set SIGIL_MASTER_KEY or SIGIL_MASTER_PASSPHRASE (${path} is missing)`,
      );
    }
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(path, `${toBase64(randomBytes(KEY_BYTES))}\n`, { mode: 0o600, flag: 'wx' });
  }
  return readKeyFile(path);
}

/** A private file (0600) holding base64 of exactly 32 bytes. */
function readKeyFile(path: string): Uint8Array {
  if (!existsSync(path)) throw invalid(`master key file ${path} does not exist`);
  assertPrivateFile(path);
  let kek: Uint8Array;
  try {
    kek = fromBase64(readFileSync(path, 'utf8').trim());
  } catch {
    throw invalid(`${path} must hold base64 of exactly 32 bytes`);
  }
  if (kek.length !== KEY_BYTES) throw invalid(`${path} must hold base64 of exactly 32 bytes`);
  return kek;
}

/** Resolves the KEK from the environment or the data directory (see the module comment). */
export function resolveMasterKey(opts: {
  dataDir: string;
  env: NodeJS.ProcessEnv;
  create: boolean;
}): MasterKey {
  const {
    SIGIL_MASTER_KEY: key,
    SIGIL_MASTER_KEY_FILE: keyFile,
    SIGIL_MASTER_PASSPHRASE: passphrase,
  } = opts.env;
  if ([key, keyFile, passphrase].filter((v) => v !== undefined).length > 1) {
    throw invalid(
      'set only one of SIGIL_MASTER_KEY, SIGIL_MASTER_KEY_FILE and SIGIL_MASTER_PASSPHRASE',
    );
  }
  if (key !== undefined) return { kek: fromEnvKey(key), source: 'env' };
  if (keyFile !== undefined) {
    if (keyFile === '') throw invalid('SIGIL_MASTER_KEY_FILE must be a path');
    return { kek: readKeyFile(keyFile), source: 'key_file' };
  }
  if (passphrase !== undefined) {
    return { kek: fromPassphrase(passphrase, opts.dataDir, opts.create), source: 'passphrase' };
  }
  return { kek: fromFile(opts.dataDir, opts.create), source: 'file', warning: FILE_WARNING };
}
