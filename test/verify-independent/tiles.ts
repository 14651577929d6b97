/**
 * A second tlog-tiles verifier, written from the C2SP specs alone and sharing no code with the
 * writer or with sigil/verify: node:crypto only. It builds the tree level by level from the
 * entries (RFC 6962 §2.1), derives every tile the spec says a tree of the checkpoint's size has
 * (MTH(D[(n*256+i)*256^l : (n*256+i+1)*256^l])) and compares each with the served one.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';

export type Fetch = (path: string) => Promise<Uint8Array | undefined>;
export type Result = { ok: true; size: number } | { ok: false; reason: string };

const sha = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

function ed25519Key(raw: Uint8Array) {
  const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]);
  return createPublicKey({ key: der, format: 'der', type: 'spki' });
}

/** signed-note: `<text>\n— <name> base64(keyid[4] || sig)` by the vkey `<name>+<hex id>+<b64(0x01||key)>`. */
function openNote(note: string, vkey: string): { size: number; root: Buffer; key: Buffer } {
  const [name, idHex, keyB64] = [
    vkey.slice(0, vkey.indexOf('+')),
    vkey.split('+')[1]!,
    vkey.slice(vkey.indexOf('+', vkey.indexOf('+') + 1) + 1),
  ];
  const keyBytes = Buffer.from(keyB64, 'base64');
  if (keyBytes[0] !== 0x01 || keyBytes.length !== 33) throw new Error('not an Ed25519 vkey');
  const key = keyBytes.subarray(1);
  const id = sha(Buffer.from(`${name}\n`), Buffer.from([1]), key).subarray(0, 4);
  if (id.toString('hex') !== idHex) throw new Error('vkey id mismatch');
  const split = note.indexOf('\n\n');
  const text = note.slice(0, split + 1);
  const line = note
    .slice(split + 2)
    .split('\n')
    .find((l) => l.startsWith(`\u2014 ${name} `));
  if (!line) throw new Error('no signature by the log');
  const blob = Buffer.from(line.slice(`\u2014 ${name} `.length), 'base64');
  if (!blob.subarray(0, 4).equals(id)) throw new Error('key id mismatch');
  if (!verify(null, Buffer.from(text), ed25519Key(key), blob.subarray(4))) {
    throw new Error('bad checkpoint signature');
  }
  const [, size, root] = text.split('\n');
  return { size: Number(size), root: Buffer.from(root!, 'base64'), key };
}

function mth(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return sha();
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha(Buffer.from([1]), mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

function indexPath(n: number): string {
  const s = String(n);
  const padded = s.padStart(Math.ceil(s.length / 3) * 3, '0');
  const groups = padded.match(/.../g)!;
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

export async function independentVerify(get: Fetch, note: string, vkey: string): Promise<Result> {
  try {
    const { size, root, key } = openNote(note, vkey);
    const pub = ed25519Key(key);
    const leaves: Buffer[] = [];
    for (let n = 0; n * 256 < size; n += 1) {
      const w = Math.min(256, size - n * 256);
      const path = `tile/entries/${indexPath(n)}${w === 256 ? '' : `.p/${w}`}`;
      const bundle = Buffer.from((await get(path)) ?? Buffer.alloc(0));
      for (let at = 0, i = 0; i < w; i += 1) {
        if (at + 2 > bundle.length) throw new Error(`${path} is short`);
        const len = bundle.readUInt16BE(at);
        const entry = bundle.subarray(at + 2, at + 2 + len);
        at += 2 + len;
        const env = JSON.parse(entry.toString('utf8')) as { hash: string; sig: string };
        const msg = Buffer.concat([Buffer.from('sigil.record.v1\0'), Buffer.from(env.hash, 'hex')]);
        if (!verify(null, msg, pub, Buffer.from(env.sig, 'base64url'))) {
          throw new Error(`entry ${n * 256 + i}: bad signature`);
        }
        leaves.push(sha(Buffer.from([0]), entry));
      }
    }
    if (!mth(leaves).equals(root)) return { ok: false, reason: 'root mismatch' };
    // Every tile of every level: full ones, and the partial one on the right edge.
    for (let l = 0, span = 1; span <= size; l += 1, span *= 256) {
      const hashes = Math.floor(size / span);
      for (let n = 0; n * 256 < hashes; n += 1) {
        const w = Math.min(256, hashes - n * 256);
        const path = `tile/${l}/${indexPath(n)}${w === 256 ? '' : `.p/${w}`}`;
        const tile = Buffer.from((await get(path)) ?? Buffer.alloc(0));
        if (tile.length !== w * 32) return { ok: false, reason: `${path}: wrong length` };
        for (let i = 0; i < w; i += 1) {
          const start = (n * 256 + i) * span;
          if (!tile.subarray(i * 32, i * 32 + 32).equals(mth(leaves.slice(start, start + span)))) {
            return { ok: false, reason: `${path}: hash ${i} wrong` };
          }
        }
      }
    }
    return { ok: true, size };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}
