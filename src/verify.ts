/**
 * `sigil/verify`: what an auditor needs to check a Sigil log from the outside, with nothing but
 * the proof, the checkpoints and the log's verifier key. It loads the cryptographic core and the
 * pure verification modules only: no store, no data key, no server.
 */
export * from './canon/verify.ts';
export {
  openCheckpoint,
  parseVerifierKey,
  verifierKey,
  type Checkpoint,
} from './canon/checkpoint.ts';
export {
  recordBytes,
  recordHash,
  verifyRecord,
  verifyWitness,
  type CanonicalRecord,
  type RecordCheck,
  type Witness,
} from './canon/record.ts';
export { leafHash } from './canon/merkle.ts';
export {
  httpTileFetch,
  monitorLog,
  verifyTiles,
  type MonitorState,
  type TileFetch,
  type TlogCheck,
  type TlogFailureCode,
  type WalkResult,
} from './canon/tlog-client.ts';
export {
  decodeEntryBundle,
  encodeTileIndex,
  parseTilePath,
  tilePath,
  type TileRef,
} from './canon/tiles.ts';
export { leafEntry, logEntry, type LogEntry } from './canon/record.ts';
export {
  cosignerVerifierKey,
  parseCosignerKey,
  validCosignatures,
  verifyCosignature,
  verifyWitnessed,
  type CosignerKey,
} from './canon/cosignature.ts';
