/**
 * The runtime's own Ed25519 keys, kept in the data dir's encrypted key store beside the log key:
 * `root` seals licenses; `provenance` signs the provenance Sigil attaches to the requests of
 * AI callers it has authenticated (its public key is trusted for those callers only);
 * `delegation` signs the authority links of delegations, on behalf of the grantor Sigil
 * authenticated (its public key is trusted for the grantors on a chain it resolved, only there).
 */
import { join } from 'node:path';
import { generateKeyPair, type Ed25519KeyPair } from '../core/ed25519.ts';
import { KeyStore } from '../canon/keystore.ts';
import { KEYS_DIR } from '../canon/log.ts';
import { resolveMasterKey } from '../canon/masterkey.ts';

export const ROOT_KEY_ID = 'root';
export const PROVENANCE_KEY_ID = 'provenance';
export const DELEGATION_KEY_ID = 'delegation';

export interface RuntimeKeys {
  root: Ed25519KeyPair;
  provenance: Ed25519KeyPair;
  delegation: Ed25519KeyPair;
}

/** The data dir's key store, unlocked with the master key from the environment or data dir. */
export function openKeyStore(dataDir: string, env: NodeJS.ProcessEnv): KeyStore {
  const master = resolveMasterKey({ dataDir, env, create: false });
  return new KeyStore(join(dataDir, KEYS_DIR), master.kek);
}

/** Loads the runtime keys, creating any that do not exist yet (first start after `init`). */
export function loadOrCreateRuntimeKeys(store: KeyStore): RuntimeKeys & { createdRoot: boolean } {
  const createdRoot = !store.has(ROOT_KEY_ID);
  for (const id of [ROOT_KEY_ID, PROVENANCE_KEY_ID, DELEGATION_KEY_ID]) {
    if (!store.has(id)) store.save(id, generateKeyPair());
  }
  return {
    root: store.load(ROOT_KEY_ID),
    provenance: store.load(PROVENANCE_KEY_ID),
    delegation: store.load(DELEGATION_KEY_ID),
    createdRoot,
  };
}
