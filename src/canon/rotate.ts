/**
 * Master key rotation: the data key and every key-store file are re-wrapped under a new KEK;
 * records are never touched. The new KEK comes from SIGIL_NEW_MASTER_KEY, or
 * SIGIL_NEW_MASTER_PASSPHRASE, or — when the current key is the master.key file — is generated
 * into master-next/master.key, which replaces master.key once everything is re-wrapped.
 *
 * A rotation interrupted part-way can be run again with the same old and new keys: key files
 * and the data key already under the new KEK are recognised and skipped. With postgres, every
 * instance must switch to the new master key.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Ed25519KeyPair } from '../core/ed25519.ts';
import { publicKeyToRaw } from '../core/ed25519.ts';
import { constantTimeEqual, toBase64Url } from '../core/encoding.ts';
import { isSigilError, SigilError } from '../core/errors.ts';
import { kekId, unwrapDataKey, wrapDataKey } from './envelope.ts';
import { KeyStore } from './keystore.ts';
import { KEYS_DIR, LOG_KEY_ID } from './log.ts';
import { resolveMasterKey, type MasterKey } from './masterkey.ts';
import { openStore, type StoreOptions } from './store/index.ts';

export interface RotateResult {
  source: MasterKey['source'];
  /** Id of the new KEK (envelope.kekId). */
  kekId: string;
  /** Key-store files now under the new KEK. */
  keyFiles: number;
  /** With the file fallback: the file that now holds the new master key. */
  masterKeyFile?: string;
  /** Moving off the file fallback: master.key still holds the old, now useless key. */
  staleMasterKeyFile?: string;
}

/** Where a generated new master key waits until the rotation completes. */
const NEXT_KEY_DIR = 'master-next';

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The new KEK, from the environment or (file fallback) a generated master.key.next. */
function newMasterKey(dataDir: string, env: NodeJS.ProcessEnv, current: MasterKey): MasterKey {
  const { SIGIL_NEW_MASTER_KEY: key, SIGIL_NEW_MASTER_PASSPHRASE: passphrase } = env;
  if (key !== undefined && passphrase !== undefined) {
    throw new SigilError(
      'bad_request',
      'set only one of SIGIL_NEW_MASTER_KEY and SIGIL_NEW_MASTER_PASSPHRASE',
    );
  }
  if (key !== undefined) {
    return resolveMasterKey({ dataDir, env: { SIGIL_MASTER_KEY: key }, create: false });
  }
  if (passphrase !== undefined) {
    return resolveMasterKey({
      dataDir,
      env: { SIGIL_MASTER_PASSPHRASE: passphrase },
      create: true,
    });
  }
  if (current.source !== 'file') {
    throw new SigilError(
      'bad_request',
      'set SIGIL_NEW_MASTER_KEY (base64 of 32 bytes) or SIGIL_NEW_MASTER_PASSPHRASE',
    );
  }
  // The new key is created (0600) and read back by the same code as master.key itself.
  const { kek } = resolveMasterKey({ dataDir: join(dataDir, NEXT_KEY_DIR), env: {}, create: true });
  return { kek, source: 'file' };
}

/** Loads every key file; those still under the old KEK are returned for re-wrapping. */
function keysToRewrap(
  dir: string,
  oldKek: Uint8Array,
  newKek: Uint8Array,
): Map<string, Ed25519KeyPair> {
  const oldStore = new KeyStore(dir, oldKek);
  const newStore = new KeyStore(dir, newKek);
  const pending = new Map<string, Ed25519KeyPair>();
  for (const id of oldStore.list()) {
    try {
      pending.set(id, oldStore.load(id));
    } catch (err) {
      if (!isSigilError(err, 'master_key_invalid')) throw err;
      newStore.load(id); // already re-wrapped by an interrupted rotation, or neither key: throws
    }
  }
  return pending;
}

/** Rotates the master key of the log in `opts.dataDir` (see the module comment). */
export async function rotateMasterKey(opts: StoreOptions): Promise<RotateResult> {
  const env = opts.env ?? process.env;
  const { dataDir } = opts;
  const current = resolveMasterKey({ dataDir, env, create: false });
  const store = await openStore(opts, { create: false });
  try {
    const meta = await store.readMeta();
    if (meta === undefined) {
      throw new SigilError('store_missing', 'the canon store is not initialised; run `sigil init`');
    }
    const next = newMasterKey(dataDir, env, current);
    if (constantTimeEqual(next.kek, current.kek)) {
      throw new SigilError('bad_request', 'the new master key is the current one');
    }
    const newId = kekId(next.kek);
    const rotated = meta.wrappedKey.kek_id === newId;
    const dataKey = unwrapDataKey(meta.wrappedKey, rotated ? next.kek : current.kek);

    const keysDir = join(dataDir, KEYS_DIR);
    const pending = keysToRewrap(keysDir, current.kek, next.kek);
    const logPair = pending.get(LOG_KEY_ID) ?? new KeyStore(keysDir, next.kek).load(LOG_KEY_ID);
    if (toBase64Url(publicKeyToRaw(logPair.publicKey)) !== meta.publicKey) {
      throw new SigilError(
        'key_mismatch',
        "the log key in this data dir is not the store's log key",
      );
    }
    const target = new KeyStore(keysDir, next.kek);
    for (const [id, pair] of pending) target.save(id, pair, { overwrite: true });
    if (!rotated) await store.replaceWrappedKey(meta.wrappedKey, wrapDataKey(dataKey, next.kek));

    const result: RotateResult = {
      source: next.source,
      kekId: newId,
      keyFiles: target.list().length,
    };
    if (next.source === 'file') {
      const keyFile = join(dataDir, 'master.key');
      renameSync(join(dataDir, NEXT_KEY_DIR, 'master.key'), keyFile);
      rmSync(join(dataDir, NEXT_KEY_DIR), { recursive: true, force: true });
      syncDir(dataDir);
      result.masterKeyFile = keyFile;
    } else if (current.source === 'file') {
      result.staleMasterKeyFile = join(dataDir, 'master.key');
    }
    return result;
  } finally {
    await store.close();
  }
}
