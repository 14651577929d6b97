/** The canon log: records, Merkle tree, checkpoints, proofs, encryption, keys, storage, the log. */
export * from './record.ts';
export * from './merkle.ts';
export * from './checkpoint.ts';
export * from './proof.ts';
export * from './verify.ts';
export * from './envelope.ts';
export * from './masterkey.ts';
export * from './keystore.ts';
export * from './store/index.ts';
export * from './log.ts';
export * from './validate.ts';
export * from './rotate.ts';
export { readyDrafts, type ReadyDraft } from './append.ts';
