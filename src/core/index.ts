/** Sigil's cryptographic core: pure primitives, no I/O. (guard.ts stays internal.) */
export * from './errors.ts';
export * from './encoding.ts';
export * from './hash.ts';
export * from './canonical.ts';
export * from './ed25519.ts';
export * from './cbor.ts';
export * from './typed-signature.ts';
export * from './did.ts';
export * from './random.ts';
export * from './aead.ts';
export * from './kdf.ts';
