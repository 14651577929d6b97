/**
 * `sigil generate-key`, `sigil sign`, `sigil verify`: Ed25519 keys in the data dir's encrypted
 * key store, and plain signatures over data (the seed's commands, one to one).
 */
import type { Command } from 'commander';
import type { KeyObject } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  generateKeyPair,
  publicKeyFromRaw,
  publicKeyToRaw,
  sign,
  verify,
} from '../../core/ed25519.ts';
import { fromBase64Url, toBase64Url, utf8Encode } from '../../core/encoding.ts';
import { SigilError } from '../../core/errors.ts';
import { LOG_KEY_ID } from '../../canon/log.ts';
import { openKeyStore, PROVENANCE_KEY_ID, ROOT_KEY_ID } from '../../runtime/keys.ts';
import { dataDirOf, withLogOptions } from '../context.ts';
import { EXIT, printResult, type GlobalOptions } from '../output.ts';

/** Keys that sign only what the runtime itself seals; `sign` never uses them on arbitrary data. */
const RESERVED_KEY_IDS = new Set([LOG_KEY_ID, ROOT_KEY_ID, PROVENANCE_KEY_ID]);

interface KeyOptions extends GlobalOptions {
  keyId: string;
  output?: string;
}

interface DataOptions extends GlobalOptions {
  data?: string;
  file?: string;
}

interface SignOptions extends DataOptions, KeyOptions {}

interface VerifyOptions extends DataOptions {
  keyId?: string;
  publicKey?: string;
  signature: string;
}

/** The bytes to sign or verify: exactly one of --data (UTF-8) or --file (raw bytes). */
function dataOf(opts: DataOptions): Uint8Array {
  if ((opts.data === undefined) === (opts.file === undefined)) {
    throw new SigilError('bad_request', 'give exactly one of --data and --file');
  }
  if (opts.data !== undefined) return utf8Encode(opts.data);
  try {
    return new Uint8Array(readFileSync(opts.file!));
  } catch (err) {
    throw new SigilError('bad_request', `cannot read ${opts.file}: ${(err as Error).message}`);
  }
}

function writeOutput(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    throw new SigilError('bad_request', `cannot write ${path}: ${(err as Error).message}`);
  }
}

/** `--output` names a file, or a directory that receives `<key-id>.pub` (the seed's form). */
function publicKeyPath(output: string, keyId: string): string {
  return existsSync(output) && statSync(output).isDirectory()
    ? join(output, `${keyId}.pub`)
    : output;
}

function registerGenerateKey(program: Command): void {
  withLogOptions(
    program
      .command('generate-key')
      .description('create an Ed25519 key pair in the encrypted key store (<data-dir>/keys)')
      .requiredOption('--key-id <id>', 'name of the key (1..64 of A-Z a-z 0-9 . _ -)')
      .option('--output <file|dir>', 'also write the public key (base64url) to this file or dir')
      .addHelpText(
        'after',
        '\nExample:\n  sigil generate-key --key-id alice --output ./alice.pub\n' +
          '\nThe private key never leaves the key store; it is encrypted under the master key.',
      ),
  ).action((opts: KeyOptions) => {
    const store = openKeyStore(dataDirOf(opts), process.env);
    const pair = generateKeyPair();
    store.save(opts.keyId, pair);
    const publicKey = toBase64Url(publicKeyToRaw(pair.publicKey));
    const output = opts.output === undefined ? null : publicKeyPath(opts.output, opts.keyId);
    if (output !== null) writeOutput(output, `${publicKey}\n`);
    printResult(
      opts,
      [
        `created key ${opts.keyId} in ${store.dir}`,
        `public key: ${publicKey}`,
        ...(output === null ? [] : [`written to: ${output}`]),
      ].join('\n'),
      { key_id: opts.keyId, public_key: publicKey, output },
    );
  });
}

function registerSign(program: Command): void {
  withLogOptions(
    program
      .command('sign')
      .description('sign data with a key from the key store (Ed25519, base64url signature)')
      .requiredOption('--key-id <id>', 'key to sign with')
      .option('--data <text>', 'the data to sign (UTF-8)')
      .option('--file <file>', 'sign the bytes of this file instead')
      .option('--output <file>', 'write the signature to this file')
      .addHelpText(
        'after',
        '\nExamples:\n  sigil sign --key-id alice --data "hello"\n' +
          '  sigil sign --key-id alice --file report.pdf --output report.sig',
      ),
  ).action((opts: SignOptions) => {
    if (RESERVED_KEY_IDS.has(opts.keyId)) {
      throw new SigilError(
        'bad_request',
        `key ${opts.keyId} is reserved for what the runtime seals; generate a key of your own`,
      );
    }
    const data = dataOf(opts);
    const pair = openKeyStore(dataDirOf(opts), process.env).load(opts.keyId);
    const signature = toBase64Url(sign(pair.privateKey, data));
    if (opts.output !== undefined) writeOutput(opts.output, `${signature}\n`);
    printResult(
      opts,
      opts.output === undefined ? signature : `signature written to ${opts.output}`,
      {
        key_id: opts.keyId,
        signature,
        public_key: toBase64Url(publicKeyToRaw(pair.publicKey)),
        output: opts.output ?? null,
      },
    );
  });
}

function decodeOrEmpty(text: string): Uint8Array {
  try {
    return fromBase64Url(text.trim());
  } catch {
    return new Uint8Array(0);
  }
}

function rawPublicKey(text: string): KeyObject {
  try {
    return publicKeyFromRaw(fromBase64Url(text.trim()));
  } catch {
    throw new SigilError('bad_request', '--public-key must be a base64url raw Ed25519 public key');
  }
}

function registerVerify(program: Command): void {
  withLogOptions(
    program
      .command('verify')
      .description('check an Ed25519 signature (exit 1 when it does not verify)')
      .option('--key-id <id>', 'key from the key store to verify with')
      .option('--public-key <b64url>', 'verify with this raw public key instead of the key store')
      .option('--data <text>', 'the signed data (UTF-8)')
      .option('--file <file>', 'the signed file instead')
      .requiredOption('--signature <sig>', 'base64url signature, as printed by `sigil sign`')
      .addHelpText(
        'after',
        '\nExample:\n  sigil verify --key-id alice --data "hello" --signature "$(sigil sign --key-id alice --data hello)"',
      ),
  ).action((opts: VerifyOptions) => {
    if ((opts.keyId === undefined) === (opts.publicKey === undefined)) {
      throw new SigilError('bad_request', 'give exactly one of --key-id and --public-key');
    }
    const data = dataOf(opts);
    const key =
      opts.publicKey !== undefined
        ? rawPublicKey(opts.publicKey)
        : openKeyStore(dataDirOf(opts), process.env).load(opts.keyId!).publicKey;
    const valid = verify(key, data, decodeOrEmpty(opts.signature));
    printResult(opts, valid ? 'ok: signature valid' : 'FAILED: signature does not verify', {
      valid,
      key_id: opts.keyId ?? null,
      public_key: toBase64Url(publicKeyToRaw(key)),
    });
    if (!valid) process.exitCode = EXIT.failed;
  });
}

export function registerKeypair(program: Command): void {
  registerGenerateKey(program);
  registerSign(program);
  registerVerify(program);
}
