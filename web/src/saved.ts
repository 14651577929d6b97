/**
 * The checkpoint this browser saw last, per log origin, in IndexedDB: public data only (a signed
 * tree head), kept so the next visit can ask for a consistency proof from it.
 */
const DB = 'sigil-dashboard';
const STORE = 'checkpoints';

export interface SavedCheckpoint {
  origin: string;
  size: number;
  root_hash: string;
  note: string;
  saved_at: string;
}

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'origin' });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const req = fn(db.transaction(STORE, mode).objectStore(STORE));
      req.onsuccess = () => resolve(req.result as T);
      req.onerror = () => reject(req.error);
    });
  } finally {
    db.close();
  }
}

export function loadSaved(origin: string): Promise<SavedCheckpoint | undefined> {
  return run('readonly', (s) => s.get(origin));
}

export async function save(cp: SavedCheckpoint): Promise<void> {
  await run('readwrite', (s) => s.put(cp));
}
