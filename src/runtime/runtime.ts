/**
 * SigilRuntime: the stateful shell around the pure decide(). It authenticates callers, gathers
 * the decision state (rate buckets, consent, trusted keys, the kernel), freezes every decision
 * into the canon log, and performs the writes a decision allowed. All I/O lives here or below.
 */
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { JsonValue } from '../core/canonical.ts';
import { canonicalBytes } from '../core/canonical.ts';
import { publicKeyToRaw } from '../core/ed25519.ts';
import { fromBase64Url, toBase64Url, toHex } from '../core/encoding.ts';
import { SigilError, isSigilError } from '../core/errors.ts';
import { sha256Hex } from '../core/hash.ts';
import { randomBytes } from '../core/random.ts';
import { CanonLog, type RecordPage, type SealedRecord } from '../canon/log.ts';
import type { Link, RecordDraft, RecordKind } from '../canon/record.ts';
import type { Config } from '../config/index.ts';
import {
  checkCircuitBreaker,
  createCircuitBreaker,
  createKernel,
  halt as haltHolonState,
  ingestScan,
  parseCircuitBreaker,
  mcpActionHash,
  parseBailment,
  parseConsentGrant,
  signProvenance,
  spawnHolon as newHolon,
  step as stepHolonState,
  type Bailment,
  type BreakerStatus,
  type CircuitBreaker,
  type ConsentGrant,
  type FindingsAttestation,
  type ScanIntake,
  type ConsentPurpose,
  type Holon,
  type Kernel,
  type Provenance,
} from '../gatekeeper/index.ts';
import {
  DEFAULT_TRUST_MODEL,
  assertCanMint,
  checkToken,
  createLicense,
  isLoa,
  issueToken,
  loaAtLeast,
  parseLoa,
  parseTrustModel,
  RateLimiter,
  type License,
  type LicenseVerification,
  type Loa,
  type TokenRecord,
  type TrustModel,
} from '../policy/index.ts';
import {
  applyWitnessEvent,
  attest as attestProposal,
  commitProposal,
  createProposal,
  emptyRegistry,
  quorumStatus,
  registerWitness as registerWitnessEntry,
  type Proposal,
  type QuorumStatus,
  type WitnessAttestation,
  type WitnessEntry,
  type WitnessRegistry,
} from '../quorum/index.ts';
import type { SignerType } from '../core/typed-signature.ts';
import { CONSTITUTION_BYTES } from './constitution.ts';
import {
  decide,
  type Caller,
  type Decision,
  type DecisionRequest,
  type DecisionState,
} from './decide.ts';
import { decisionPayload, modelHash, replayDecision, type DecisionPayload } from './frozen.ts';
import {
  checkLicense,
  loadRuntimeIdentity,
  runtimeFingerprint,
  type RuntimeIdentity,
} from './identity.ts';
import { loadOrCreateRuntimeKeys, openKeyStore, type RuntimeKeys } from './keys.ts';
import { builtinModules, type SigilModule } from './modules.ts';

/** A decision as sealed in the log. */
export type FrozenDecision = Decision & { decision_id: string; seq: number; hash: string };

/** A token as shown to administrators: never the token or its hash. */
export type TokenInfo = Omit<TokenRecord, 'hash'> & { issuedBy: string };
type StoredToken = TokenRecord & { issuedBy: string };

export interface RuntimeOptions {
  config: Config;
  env?: NodeJS.ProcessEnv;
  /** Epoch ms; tests pin it. */
  clock?: () => number;
}

export interface BootstrapResult {
  runtime: SigilRuntime;
  created: boolean;
  /** The first Root token, set only when this call created it: show it once. */
  rootToken?: string;
  rootSubject: string;
  licensePath: string;
}

export interface ApprovalInfo {
  id: string;
  status: 'pending' | 'approved' | 'rejected';
  action: string;
  target: string;
  summary: string;
  decision_id: string;
  requested_by: string;
  created_at: string;
  decided_by?: string;
  decided_at?: string;
}

export const ROOT_SUBJECT = 'did:sigil:root';
/** The subject of a caller that presented no credentials. */
export const ANONYMOUS_SUBJECT = 'did:sigil:anonymous';
const TENANT = 'default';
const MEMORY_BLOCK_BYTES = 16 * 1024;
const MEMORY_KEY_RE = /^[A-Za-z0-9._:/-]{1,128}$/;
const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const APPROVAL_POLL_MS = 100;
/** Actions whose effect is a system change: allowed only as a quorum proposal. */
const SYSTEM_CRITICAL = new Set(['system.propose', 'model.upload']);

const NS = {
  tokens: 'tokens',
  proposals: 'proposals',
  witnesses: 'witnesses',
  consent: 'consent',
  memory: 'memory',
  holons: 'holons',
  approvals: 'approvals',
  licenses: 'licenses',
  runtime: 'runtime',
  governance: 'governance',
} as const;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function newId(): string {
  return toHex(randomBytes(16));
}

function tokenInfo(t: StoredToken): TokenInfo {
  const { hash: _hash, ...info } = t;
  return info;
}

function attestationsNs(proposalId: string): string {
  return `attestations:${proposalId}`;
}

function withoutAttestations(proposal: Proposal): JsonValue {
  return { ...proposal, attestations: [] } as unknown as JsonValue;
}

function checkId(id: unknown, what: string): string {
  if (typeof id !== 'string' || !ID_RE.test(id)) {
    throw new SigilError('bad_request', `${what} must be 1–128 characters of [A-Za-z0-9._:-]`);
  }
  return id;
}

/** Writes a file readable by its owner only. */
async function writePrivateFile(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600);
}

export class SigilRuntime {
  readonly config: Config;
  readonly log: CanonLog;
  readonly #clock: () => number;
  readonly #keys: RuntimeKeys;
  readonly #kernel: Kernel;
  readonly #limiter: RateLimiter;
  readonly #modules: ReadonlyMap<string, SigilModule>;
  readonly #fingerprint: string;
  readonly #listeners = new Set<(d: FrozenDecision, c: Caller, r: DecisionRequest) => void>();
  readonly #counts = { allow: 0, deny: 0, by_mode: {} as Record<string, number> };
  #identity: RuntimeIdentity;
  #model: TrustModel = DEFAULT_TRUST_MODEL;
  readonly #models = new Map<string, TrustModel>();
  #modelSource = 'default';
  #closed = false;
  #sizeAtOpen = 0;
  readonly #provenanceRawKey: Uint8Array;

  private constructor(opts: RuntimeOptions, log: CanonLog, keys: RuntimeKeys) {
    this.config = opts.config;
    this.log = log;
    this.#clock = opts.clock ?? Date.now;
    this.#keys = keys;
    this.#provenanceRawKey = publicKeyToRaw(keys.provenance.publicKey);
    this.#kernel = createKernel(CONSTITUTION_BYTES);
    this.#limiter = new RateLimiter({
      limits: opts.config.rateLimit.perLoa,
      maxKeys: opts.config.rateLimit.maxCallers,
    });
    this.#modules = builtinModules();
    this.#fingerprint = runtimeFingerprint(
      opts.config.licenseSecret,
      log.signer.publicKey,
      log.logId,
    );
    this.#identity = this.#loadIdentity();
  }

  static #logOptions(opts: RuntimeOptions) {
    const { config } = opts;
    return {
      dataDir: config.dataDir,
      backend: config.dbBackend,
      ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
      env: opts.env ?? process.env,
      checkpointEvery: {
        appends: config.log.checkpointEveryAppends,
        ms: config.log.checkpointEverySeconds * 1000,
      },
      maxPayloadBytes: config.log.maxPayloadBytes,
    };
  }

  /** Opens an initialised data dir ('store_missing' when it is not). */
  static async open(opts: RuntimeOptions): Promise<SigilRuntime> {
    const log = await CanonLog.open(SigilRuntime.#logOptions(opts));
    try {
      const keys = loadOrCreateRuntimeKeys(
        openKeyStore(opts.config.dataDir, opts.env ?? process.env),
      );
      const runtime = new SigilRuntime(opts, log, keys);
      await runtime.#loadModel();
      runtime.#sizeAtOpen = await log.size();
      return runtime;
    } catch (err) {
      await log.close();
      throw err;
    }
  }

  /**
   * Initialises a new store (log key, runtime keys, the single Root license and a Root token)
   * when there is none, then opens it. With `refuseExisting`, an existing store is an error.
   */
  static async bootstrap(
    opts: RuntimeOptions & { refuseExisting?: boolean },
  ): Promise<BootstrapResult> {
    let created = false;
    try {
      await CanonLog.init(SigilRuntime.#logOptions(opts));
      created = true;
    } catch (err) {
      if (!isSigilError(err, 'store_exists') || opts.refuseExisting) throw err;
    }
    const runtime = await SigilRuntime.open(opts);
    const result: BootstrapResult = {
      runtime,
      created,
      rootSubject: ROOT_SUBJECT,
      licensePath: opts.config.licensePath,
    };
    if (created) {
      try {
        result.rootToken = await runtime.#bootstrapRoot();
      } catch (err) {
        await runtime.close();
        throw err;
      }
    }
    return result;
  }

  async #bootstrapRoot(): Promise<string> {
    const now = this.#clock();
    const license = createLicense(
      {
        owner: { id: ROOT_SUBJECT, name: 'Root' },
        loa: 'root',
        issuedAt: now,
        expiresAt: null,
        runtimeId: this.log.logId,
        canonFingerprint: this.#fingerprint,
      },
      this.#keys.root,
    );
    await this.#recordLicense(license, ROOT_SUBJECT);
    await writePrivateFile(this.config.licensePath, `${JSON.stringify(license, null, 2)}\n`);
    this.#identity = this.#loadIdentity();
    const { token, record } = issueToken(
      { subject: ROOT_SUBJECT, loa: 'root', signer: { type: 'human' } },
      now,
    );
    await this.#storeToken({ ...record, issuedBy: ROOT_SUBJECT }, ROOT_SUBJECT);
    return token;
  }

  #loadIdentity(): RuntimeIdentity {
    return loadRuntimeIdentity(this.config.licensePath, this.#licenseOptions());
  }

  #licenseOptions() {
    return {
      rootKey: this.#keys.root.publicKey,
      runtimeId: this.log.logId,
      fingerprint: this.#fingerprint,
      now: this.#clock(),
      defaultLoa: this.config.trust.defaultLoa,
    };
  }

  /** The runtime's own level of access, from its license (or the default, with the reason). */
  identity(): RuntimeIdentity {
    return this.#identity;
  }

  /** The caller the runtime's license makes: the local operator of the CLI. */
  licenseCaller(): Caller {
    const id = this.#identity;
    return {
      subject: id.subject ?? 'did:sigil:local',
      loa: id.loa,
      signer: { type: 'human' },
      verified: id.source === 'license',
      source: id.source === 'license' ? 'license' : 'anonymous',
    };
  }

  /** Subscribes to every frozen decision (metrics); returns the unsubscribe function. */
  onDecision(fn: (d: FrozenDecision, caller: Caller, req: DecisionRequest) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  // ── who is asking ────────────────────────────────────────────────────────────

  /** No token → the anonymous Guest; a bad, expired or revoked token → 'token_invalid'. */
  async authenticate(token: string | null | undefined): Promise<Caller> {
    if (token === undefined || token === null || token === '') {
      return {
        subject: ANONYMOUS_SUBJECT,
        loa: 'guest',
        signer: { type: 'human' },
        verified: false,
        source: 'anonymous',
      };
    }
    const hash = /^sgl_[A-Za-z0-9_-]{43}$/.test(token) ? sha256Hex(token) : undefined;
    const stored = hash
      ? ((await this.log.state.get(NS.tokens, hash)) as StoredToken | undefined)
      : undefined;
    const check = checkToken(token, () => stored, this.#clock());
    if (!check.ok) throw new SigilError('token_invalid', 'the token is not valid');
    const t = check.token as StoredToken;
    return {
      subject: t.subject,
      loa: t.loa,
      signer: t.signer,
      verified: true,
      source: 'token',
      tokenId: t.id,
      delegatedBy: t.issuedBy,
      ...(t.scopes ? { scopes: t.scopes } : {}),
    };
  }

  async #storeToken(record: StoredToken, by: string): Promise<void> {
    await this.log.state.put(NS.tokens, record.hash, record as unknown as JsonValue);
    await this.#append('token_event', {
      event: 'created',
      by,
      token: tokenInfo(record) as unknown as JsonValue,
    });
  }

  async createToken(
    caller: Caller,
    input: {
      subject: string;
      loa: string;
      signer: SignerType;
      ttlMs?: number | null;
      scopes?: string[];
    },
  ): Promise<{ token: string; info: TokenInfo }> {
    await this.require(caller, {
      action: 'token.create',
      target: `tokens/${input.subject}`,
      payload: { subject: input.subject, loa: input.loa, signer_type: input.signer?.type ?? null },
    });
    if (isLoa(input.loa) && !loaAtLeast(caller.loa, input.loa)) {
      throw new SigilError('loa_insufficient', 'a token cannot carry more than its issuer has');
    }
    const { token, record } = issueToken(
      {
        subject: input.subject,
        loa: input.loa,
        signer: input.signer,
        ...(input.ttlMs !== undefined ? { ttlMs: input.ttlMs } : {}),
        ...(input.scopes !== undefined ? { scopes: input.scopes } : {}),
      },
      this.#clock(),
    );
    const stored = { ...record, issuedBy: caller.subject };
    await this.#storeToken(stored, caller.subject);
    return { token, info: tokenInfo(stored) };
  }

  async #allTokens(): Promise<StoredToken[]> {
    const rows = await this.log.state.list(NS.tokens);
    return rows.map((r) => r.value as unknown as StoredToken);
  }

  async listTokens(caller: Caller): Promise<TokenInfo[]> {
    await this.require(caller, { action: 'token.list', target: 'tokens' });
    return (await this.#allTokens()).map(tokenInfo).sort((a, b) => a.createdAt - b.createdAt);
  }

  async revokeToken(caller: Caller, id: string): Promise<TokenInfo> {
    await this.require(caller, { action: 'token.revoke', target: `tokens/${id}` });
    const found = (await this.#allTokens()).find((t) => t.id === id);
    if (!found) throw new SigilError('token_not_found', `no token with id ${id}`);
    if (found.revokedAt !== null) return tokenInfo(found);
    const revoked = { ...found, revokedAt: this.#clock() };
    await this.log.state.put(NS.tokens, revoked.hash, revoked as unknown as JsonValue);
    await this.#append('token_event', {
      event: 'revoked',
      by: caller.subject,
      token: tokenInfo(revoked) as unknown as JsonValue,
    });
    return tokenInfo(revoked);
  }

  // ── decisions ────────────────────────────────────────────────────────────────

  /** Decides a request and seals the decision into the log, allowed or denied. */
  async check(
    caller: Caller,
    request: DecisionRequest,
    opts: { clientAddress?: string } = {},
  ): Promise<FrozenDecision> {
    this.#assertOpen();
    const now = this.#clock();
    const rateKey = caller.verified
      ? `subject:${caller.subject}`
      : `address:${opts.clientAddress ?? 'unknown'}`;
    const rate = this.#limiter.take(rateKey, caller.loa, now);
    let req = request;
    if (caller.signer.type === 'ai') {
      req = {
        ...req,
        provenance:
          req.provenance === undefined ? this.#provenanceFor(caller, req, now) : req.provenance,
        dataSubject: req.dataSubject === undefined ? (caller.delegatedBy ?? null) : req.dataSubject,
      };
    }
    const state: DecisionState = {
      now,
      mode: this.config.irl.enforcementMode,
      threshold: this.config.irl.threshold,
      flags: {
        allow_operator_canon_write: this.config.trust.allowOperatorCanonWrite,
        allow_admin_export: this.config.trust.allowAdminExport,
      },
      model: this.#model,
      rate,
      kernel: this.#kernel,
      trustedKeys: this.#trustedKeysFor(caller),
      humanRootCount: this.#identity.loa === 'root' ? 1 : 0,
      subjects: new Map(),
      consent: await this.#consentFor(caller.subject, req.dataSubject ?? null),
      systemCritical: SYSTEM_CRITICAL,
      breakerOpen: caller.signer.type === 'ai' && (await this.#breakerStatus(now)).tripped,
    };
    const decision = decide(caller, req, state);
    const record = await this.#append('decision', decisionPayload(caller, req, state, decision));
    const frozen: FrozenDecision = {
      ...decision,
      decision_id: record.id,
      seq: record.seq,
      hash: record.hash,
    };
    this.#counts[decision.verdict] += 1;
    this.#counts.by_mode[decision.mode] = (this.#counts.by_mode[decision.mode] ?? 0) + 1;
    for (const fn of this.#listeners) fn(frozen, caller, req);
    return frozen;
  }

  /** Like check, but a denial throws SigilError(code) carrying the decision id. */
  async require(
    caller: Caller,
    request: DecisionRequest,
    opts: { clientAddress?: string } = {},
  ): Promise<FrozenDecision> {
    const d = await this.check(caller, request, opts);
    if (d.verdict === 'deny') {
      throw new SigilError(d.code ?? 'internal_deny', d.reason, {
        decision_id: d.decision_id,
        ...(d.retry_after_ms !== undefined ? { retry_after_ms: d.retry_after_ms } : {}),
      });
    }
    return d;
  }

  /** Re-runs a sealed decision on its recorded inputs ('record_not_found', 'replay_unsupported'). */
  async replay(decisionId: string): Promise<{ recorded: Decision; replayed: Decision }> {
    const record = await this.log.get(decisionId);
    if (!record || record.kind !== 'decision') {
      throw new SigilError('record_not_found', `no decision record ${decisionId}`);
    }
    const payload = record.payload as unknown as DecisionPayload;
    return { recorded: payload.decision, replayed: replayDecision(payload, this.#models) };
  }

  #provenanceFor(caller: Caller, req: DecisionRequest, now: number): Provenance {
    return signProvenance(
      this.#keys.provenance.privateKey,
      this.#keys.provenance.publicKey,
      caller.signer,
      {
        actor: caller.subject,
        actionHash: mcpActionHash(req.action, req.payload ?? null),
        timestamp: iso(now),
        voiceKind: 'synthetic',
        reviewOrder: 'first-order',
      },
    );
  }

  /** Sigil's provenance key is trusted for the caller it authenticated, and only for it. */
  #trustedKeysFor(caller: Caller): ReadonlyMap<string, readonly Uint8Array[]> {
    return new Map([[caller.subject, [this.#provenanceRawKey]]]);
  }

  async #consentFor(
    bailee: string,
    bailor: string | null,
  ): Promise<{ bailments: Bailment[]; grants: ConsentGrant[] }> {
    if (bailor === null) return { bailments: [], grants: [] };
    const rows = await this.log.state.list(NS.consent);
    const bailments: Bailment[] = [];
    const grants: ConsentGrant[] = [];
    for (const { value } of rows) {
      const pair = value as unknown as { bailment: Bailment; grant: ConsentGrant };
      if (pair.bailment.bailor !== bailor || pair.bailment.bailee !== bailee) continue;
      bailments.push(pair.bailment);
      grants.push(pair.grant);
    }
    return { bailments, grants };
  }

  async trustStatus(caller: Caller) {
    await this.require(caller, { action: 'trust.status', target: 'trust/status' });
    return {
      decisions: { ...this.#counts, by_mode: { ...this.#counts.by_mode } },
      threshold: this.config.irl.threshold,
      mode: this.config.irl.enforcementMode,
      model: this.#modelSource,
      log_size: await this.log.size(),
      breaker: await this.#breakerSummary(),
      runtime: this.#identity,
    };
  }

  // ── governance monitor ───────────────────────────────────────────────────────

  async #breaker(): Promise<CircuitBreaker> {
    const stored = await this.log.state.get(NS.governance, 'breaker');
    return stored === undefined ? createCircuitBreaker() : parseCircuitBreaker(stored);
  }

  async #breakerStatus(now: number): Promise<BreakerStatus> {
    return checkCircuitBreaker(await this.#breaker(), now);
  }

  async #breakerSummary(): Promise<{
    open: boolean;
    critical_in_window: number;
    threshold: number;
  }> {
    const { tripped, critical_in_window, threshold } = await this.#breakerStatus(this.#clock());
    return { open: tripped, critical_in_window, threshold };
  }

  /**
   * Takes in a scanner's signed findings. The signer must be a registered witness (its key
   * comes from the registry, never the request); the digest and signature are checked before
   * anything is counted. Critical findings feed the circuit breaker, which stops AI actors
   * when it trips.
   */
  async reportFindings(
    caller: Caller,
    input: { attestation: FindingsAttestation; findings: unknown },
  ): Promise<ScanIntake> {
    await this.require(caller, { action: 'governance.report', target: 'governance/findings' });
    const signer = [...(await this.#registry()).entries.values()].find(
      (w) => w.did === input.attestation?.signer_did && w.revoked_at === null,
    );
    if (!signer) {
      throw new SigilError('witness_unknown', 'the findings signer is not a registered witness');
    }
    const now = this.#clock();
    const intake = ingestScan(
      await this.#breaker(),
      input.attestation,
      input.findings,
      fromBase64Url(signer.public_key),
      now,
    );
    await this.log.state.put(NS.governance, 'breaker', intake.breaker as unknown as JsonValue);
    await this.#append(
      'governance_event',
      {
        event: 'findings',
        signer_did: intake.verified.signer_did,
        counts: intake.verified.counts as unknown as JsonValue,
        findings: intake.verified.findings as unknown as JsonValue,
        breaker: intake.status as unknown as JsonValue,
        approval_required: intake.approval_required,
      },
      { space: 'system' },
    );
    return intake;
  }

  // ── canon ────────────────────────────────────────────────────────────────────

  async #append(kind: RecordKind, payload: JsonValue, extra: Partial<RecordDraft> = {}) {
    return this.log.append({ kind, tenant: TENANT, space: 'user', payload, ...extra });
  }

  /** A user-space write; a system-space write becomes a quorum proposal, never a direct write. */
  async writeRecord(
    caller: Caller,
    input: { id?: string; payload: JsonValue; links?: Link[]; space?: 'user' | 'system' },
  ): Promise<{ record?: SealedRecord; proposal?: Proposal; decision_id: string }> {
    if (input.space === 'system') {
      return this.#propose(caller, { write: input.payload, id: input.id ?? null });
    }
    const d = await this.require(caller, {
      action: 'canon.user.write',
      target: `canon/user/${input.id ?? 'new'}`,
      payload: input.payload,
    });
    const record = await this.log.append({
      kind: 'user_data',
      tenant: TENANT,
      space: 'user',
      payload: input.payload,
      links: [...(input.links ?? []), { rel: 'decision', id: d.decision_id }],
      ...(input.id !== undefined ? { id: input.id } : {}),
    });
    return { record, decision_id: d.decision_id };
  }

  async getRecord(caller: Caller, id: string): Promise<SealedRecord> {
    await this.require(caller, { action: 'canon.read', target: `canon/records/${id}` });
    const record = await this.log.get(id);
    if (!record) throw new SigilError('record_not_found', `no record with id ${id}`);
    return record;
  }

  async listRecords(
    caller: Caller,
    opts: { kind?: RecordKind; since?: string; limit?: number; cursor?: string },
  ): Promise<RecordPage> {
    await this.require(caller, { action: 'canon.read', target: 'canon/records' });
    return this.log.list(opts);
  }

  // ── quorum ───────────────────────────────────────────────────────────────────

  async #registry(): Promise<WitnessRegistry> {
    let registry = emptyRegistry();
    for (const { value } of await this.log.state.list(NS.witnesses)) {
      registry = applyWitnessEvent(registry, {
        type: 'witness_registered',
        entry: value as unknown as WitnessEntry,
      });
    }
    return registry;
  }

  async registerWitness(
    caller: Caller,
    input: { witness_id: string; did: string; role: 'root' | 'mentor'; public_key: string },
  ): Promise<WitnessEntry> {
    await this.require(caller, {
      action: 'witness.register',
      target: `witnesses/${input.witness_id}`,
      payload: { did: input.did, witness_id: input.witness_id, role: input.role },
    });
    const registry = await this.#registry();
    const { event } = registerWitnessEntry(registry, input, caller, this.#clock());
    const entry = (event as { entry: WitnessEntry }).entry;
    await this.log.state.put(NS.witnesses, entry.witness_id, entry as unknown as JsonValue);
    await this.#append('witness_event', event as unknown as JsonValue, { space: 'system' });
    return entry;
  }

  /** Opens a system-change proposal; it takes effect only when committed with a quorum. */
  async propose(caller: Caller, change: JsonValue): Promise<Proposal> {
    return (await this.#propose(caller, change)).proposal;
  }

  async #propose(
    caller: Caller,
    change: JsonValue,
  ): Promise<{ proposal: Proposal; decision_id: string }> {
    const d = await this.require(caller, {
      action: 'system.propose',
      target: 'system/proposals',
      payload: change,
    });
    const proposal = createProposal({
      change,
      proposer: caller,
      now: this.#clock(),
      requirements: { root: 1, mentors: this.config.quorum.mentorsRequired },
      ttlMs: this.config.quorum.proposalTtlSeconds * 1000,
    });
    await this.log.state.put(NS.proposals, proposal.id, withoutAttestations(proposal));
    await this.#append(
      'quorum_event',
      { event: 'proposed', proposal: proposal as unknown as JsonValue },
      { space: 'system', links: [{ rel: 'decision', id: d.decision_id }] },
    );
    return { proposal, decision_id: d.decision_id };
  }

  async #proposal(id: string): Promise<Proposal> {
    const p = await this.log.state.get(NS.proposals, checkId(id, 'proposal id'));
    if (!p) throw new SigilError('proposal_not_found', `no proposal with id ${id}`);
    // Each attestation is its own entry, so concurrent witnesses (other processes) never
    // overwrite one another's signatures.
    const rows = await this.log.state.list(attestationsNs(id));
    const attestations = rows
      .map((r) => r.value as unknown as WitnessAttestation)
      .sort((a, b) => a.attested_at.localeCompare(b.attested_at));
    return { ...(p as unknown as Proposal), attestations };
  }

  async attest(
    caller: Caller,
    input: { proposal_id: string; witness_id: string; signature: string },
  ): Promise<{ proposal: Proposal; status: QuorumStatus }> {
    await this.require(caller, {
      action: 'system.attest',
      target: `system/proposals/${input.proposal_id}`,
    });
    if (caller.signer.type !== 'human') {
      throw new SigilError('witness_not_human', 'only human witnesses count');
    }
    const registry = await this.#registry();
    const proposal = attestProposal(
      await this.#proposal(input.proposal_id),
      { witness_id: input.witness_id, signature: input.signature, signer_type: { type: 'human' } },
      registry,
      this.#clock(),
    );
    const added = proposal.attestations.at(-1)!;
    await this.log.state.put(
      attestationsNs(proposal.id),
      added.witness_id,
      added as unknown as JsonValue,
    );
    await this.#append(
      'quorum_event',
      {
        event: 'attested',
        proposal_id: proposal.id,
        witness_id: input.witness_id,
        by: caller.subject,
        signature: input.signature,
      },
      { space: 'system' },
    );
    return { proposal, status: quorumStatus(proposal, registry) };
  }

  async commit(
    caller: Caller,
    proposalId: string,
  ): Promise<{ proposal: Proposal; record: SealedRecord }> {
    await this.require(caller, {
      action: 'system.commit',
      target: `system/proposals/${proposalId}`,
    });
    const registry = await this.#registry();
    const { proposal, record } = commitProposal(
      await this.#proposal(proposalId),
      registry,
      this.#clock(),
    );
    // Witnesses signed the proposal (id and change hash), so their signatures travel in the
    // payload where anyone can re-check them against the registry.
    const sealed = await this.#append(
      'system_config',
      { ...record.payload, attestations: record.witnesses } as unknown as JsonValue,
      { space: 'system' },
    );
    await this.log.state.put(NS.proposals, proposal.id, withoutAttestations(proposal));
    const change = proposal.change as { model?: unknown } | null;
    if (change && typeof change === 'object' && 'model' in change) {
      await this.log.state.put(NS.runtime, 'model', { record_id: sealed.id });
    }
    return { proposal, record: sealed };
  }

  async listProposals(caller: Caller): Promise<Proposal[]> {
    await this.require(caller, { action: 'canon.read', target: 'system/proposals' });
    const rows = await this.log.state.list(NS.proposals);
    return Promise.all(rows.map((r) => this.#proposal(r.key)));
  }

  async getProposal(
    caller: Caller,
    id: string,
  ): Promise<{ proposal: Proposal; status: QuorumStatus }> {
    await this.require(caller, { action: 'canon.read', target: `system/proposals/${id}` });
    const proposal = await this.#proposal(id);
    return { proposal, status: quorumStatus(proposal, await this.#registry()) };
  }

  // ── licenses and the trust model ─────────────────────────────────────────────

  async #recordLicense(license: License, by: string): Promise<void> {
    await this.log.state.put(NS.licenses, license.seal.contentHash, {
      owner: license.owner.id,
      loa: license.loa,
      expiresAt: license.expiresAt,
    });
    await this.#append('license_event', {
      event: 'issued',
      by,
      license: license as unknown as JsonValue,
    });
  }

  async generateLicense(
    caller: Caller,
    input: { subject: string; loa: string; expiresAt: string | null; name?: string },
  ): Promise<License> {
    await this.require(caller, {
      action: 'license.generate',
      target: `licenses/${input.subject}`,
      payload: { subject: input.subject, loa: input.loa },
    });
    let loa: Loa;
    try {
      loa = parseLoa(input.loa);
    } catch {
      throw new SigilError('bad_request', `not a level of access: ${String(input.loa)}`);
    }
    const licenses = await this.log.state.list(NS.licenses);
    assertCanMint(loa, licenses.filter((l) => (l.value as { loa?: string }).loa === 'root').length);
    const expires = input.expiresAt === null ? null : Date.parse(input.expiresAt);
    if (expires !== null && !Number.isFinite(expires)) {
      throw new SigilError('bad_request', `not a date: ${input.expiresAt}`);
    }
    const license = createLicense(
      {
        owner: { id: input.subject, name: input.name ?? input.subject },
        loa,
        issuedAt: this.#clock(),
        expiresAt: expires,
        runtimeId: this.log.logId,
        canonFingerprint: this.#fingerprint,
      },
      this.#keys.root,
    );
    await this.#recordLicense(license, caller.subject);
    return license;
  }

  /** Checks a license against this runtime; never throws. */
  validateLicense(license: unknown): LicenseVerification {
    return checkLicense(license, this.#licenseOptions());
  }

  /** Reads a license file and checks it (for `whoami --license`). */
  validateLicenseFile(path: string): LicenseVerification {
    let license: unknown;
    if (existsSync(path)) {
      try {
        license = JSON.parse(readFileSync(path, 'utf8'));
      } catch {
        license = { malformed: true };
      }
    }
    return this.validateLicense(license);
  }

  async uploadModel(caller: Caller, model: unknown): Promise<Proposal> {
    const parsed = parseTrustModel(model);
    return this.propose(caller, { model: parsed as unknown as JsonValue });
  }

  async #loadModel(): Promise<void> {
    const pointer = (await this.log.state.get(NS.runtime, 'model')) as
      { record_id?: string } | undefined;
    if (!pointer?.record_id) return;
    const record = await this.log.get(pointer.record_id);
    const change = (record?.payload as { change?: { model?: unknown } } | undefined)?.change;
    if (!change?.model) return;
    this.#model = parseTrustModel(change.model);
    this.#models.set(modelHash(this.#model), this.#model);
    this.#modelSource = pointer.record_id;
  }

  async refreshModel(caller: Caller): Promise<{ model: TrustModel; source: string }> {
    await this.require(caller, { action: 'model.upload', target: 'model/refresh' });
    await this.#loadModel();
    return { model: this.#model, source: this.#modelSource };
  }

  // ── memory ───────────────────────────────────────────────────────────────────

  async memoryWrite(
    caller: Caller,
    input: { key: string; value: JsonValue },
  ): Promise<{ key: string; owner: string; record_id: string; seq: number }> {
    if (typeof input.key !== 'string' || !MEMORY_KEY_RE.test(input.key)) {
      throw new SigilError(
        'bad_request',
        'memory key must be 1–128 characters of [A-Za-z0-9._:/-]',
      );
    }
    if (canonicalBytes(input.value ?? null).length > MEMORY_BLOCK_BYTES) {
      throw new SigilError('payload_too_large', 'a memory block holds at most 16 KiB');
    }
    await this.require(caller, {
      action: 'memory.write',
      target: `memory/${input.key}`,
      payload: input.value,
    });
    const record = await this.#append('memory_block', {
      owner: caller.subject,
      key: input.key,
      value: input.value,
    });
    await this.log.state.put(NS.memory, `${caller.subject} ${input.key}`, {
      owner: caller.subject,
      key: input.key,
      record_id: record.id,
      updated_at: record.ts,
    });
    return { key: input.key, owner: caller.subject, record_id: record.id, seq: record.seq };
  }

  async memoryList(
    caller: Caller,
  ): Promise<Array<{ key: string; owner: string; updated_at: string; record_id: string }>> {
    await this.require(caller, { action: 'memory.read', target: 'memory' });
    const rows = await this.log.state.list(NS.memory);
    return rows
      .map((r) => r.value as { key: string; owner: string; updated_at: string; record_id: string })
      .filter((m) => caller.loa === 'root' || m.owner === caller.subject);
  }

  async memoryRead(
    caller: Caller,
    key: string,
    owner?: string,
  ): Promise<{ key: string; owner: string; value: JsonValue; record_id: string }> {
    const whose = owner ?? caller.subject;
    await this.require(caller, { action: 'memory.read', target: `memory/${key}` });
    if (whose !== caller.subject && caller.loa !== 'root') {
      throw new SigilError('forbidden', 'memory blocks are readable by their owner or Root only');
    }
    const pointer = (await this.log.state.get(NS.memory, `${whose} ${key}`)) as
      { record_id: string } | undefined;
    const record = pointer ? await this.log.get(pointer.record_id) : undefined;
    if (!record) throw new SigilError('memory_not_found', `no memory block ${key}`);
    const payload = record.payload as { value: JsonValue };
    return { key, owner: whose, value: payload.value, record_id: record.id };
  }

  // ── modules ──────────────────────────────────────────────────────────────────

  modules(): string[] {
    return [...this.#modules.keys()].sort();
  }

  async runModule(
    caller: Caller,
    name: string,
    input: JsonValue,
  ): Promise<{ module: string; output: JsonValue; decision_id: string }> {
    const module = this.#modules.get(name);
    if (!module) throw new SigilError('module_not_found', `no module named ${name}`);
    const d = await this.require(caller, {
      action: 'module.run',
      target: `modules/${name}`,
      payload: input,
    });
    const output = await module.run(input, {
      logSize: () => this.log.size(),
      latestCheckpoint: () => this.log.latestCheckpoint(),
    });
    return { module: name, output, decision_id: d.decision_id };
  }

  // ── consent ──────────────────────────────────────────────────────────────────

  async grantConsent(
    caller: Caller,
    input: { bailee: string; scope: string; purpose: ConsentPurpose; expiresAt?: string | null },
  ): Promise<{ id: string; bailment: Bailment; grant: ConsentGrant }> {
    await this.require(caller, {
      action: 'consent.grant',
      target: `consent/${input.bailee}`,
      payload: { bailee: input.bailee, scope: input.scope, purpose: input.purpose },
    });
    const id = newId();
    const shape = {
      id,
      bailor: caller.subject,
      bailee: input.bailee,
      scope: input.scope,
      purpose: input.purpose,
      createdAt: iso(this.#clock()),
      expiresAt: input.expiresAt ?? null,
      revokedAt: null,
    };
    const bailment = parseBailment({ kind: 'bailment', ...shape });
    const grant = parseConsentGrant({ kind: 'consent', ...shape });
    await this.#append('consent_event', { event: 'granted', bailment, grant });
    await this.log.state.put(NS.consent, id, { bailment, grant });
    return { id, bailment, grant };
  }

  async revokeConsent(caller: Caller, id: string): Promise<{ id: string; revokedAt: string }> {
    await this.require(caller, { action: 'consent.revoke', target: `consent/${id}` });
    const pair = (await this.log.state.get(NS.consent, checkId(id, 'consent id'))) as
      { bailment: Bailment; grant: ConsentGrant } | undefined;
    if (!pair) throw new SigilError('consent_not_found', `no consent with id ${id}`);
    if (pair.bailment.bailor !== caller.subject && caller.loa !== 'root') {
      throw new SigilError('forbidden', 'only the bailor or Root may revoke a consent');
    }
    const revokedAt = pair.grant.revokedAt ?? iso(this.#clock());
    const revoked = {
      bailment: { ...pair.bailment, revokedAt },
      grant: { ...pair.grant, revokedAt },
    };
    await this.log.state.put(NS.consent, id, revoked);
    await this.#append('consent_event', { event: 'revoked', id, by: caller.subject, revokedAt });
    return { id, revokedAt };
  }

  // ── holons ───────────────────────────────────────────────────────────────────

  async #holon(id: string): Promise<Holon> {
    const stored = await this.log.state.get(NS.holons, checkId(id, 'holon id'));
    if (!stored) throw new SigilError('holon_not_found', `no holon with id ${id}`);
    const h = stored as unknown as Holon;
    return {
      ...newHolon({ id: h.id, capabilities: h.capabilities, program: h.program }),
      state: h.state,
      last_output: h.last_output,
    };
  }

  async #saveHolon(holon: Holon, transitions: readonly unknown[]): Promise<void> {
    await this.log.state.put(NS.holons, holon.id, holon as unknown as JsonValue);
    for (const t of transitions) await this.#append('holon_event', t as JsonValue);
  }

  async spawnHolon(
    caller: Caller,
    spec: { id: string; capabilities: string[]; program: unknown },
  ): Promise<Holon> {
    await this.require(caller, { action: 'module.run', target: `holons/${spec.id}` });
    checkId(spec.id, 'holon id');
    if (await this.log.state.get(NS.holons, spec.id)) {
      throw new SigilError('conflict', `holon ${spec.id} already exists`);
    }
    const holon = newHolon(spec);
    await this.#saveHolon(holon, [{ holon: holon.id, from: null, to: 'idle', by: caller.subject }]);
    return holon;
  }

  /** Runs one holon step: the kernel adjudicates it (a `kernel_verdict` record), then it runs. */
  async stepHolon(caller: Caller, id: string, input: Record<string, string>): Promise<Holon> {
    await this.require(caller, { action: 'holon.step', target: `holons/${id}` });
    const now = this.#clock();
    let verdict: JsonValue = null;
    const update = stepHolonState(
      await this.#holon(id),
      { fields: input },
      (req) => {
        const v = this.#kernel.adjudicate(
          {
            actor: `did:sigil:holon:${req.actor}`,
            actorSigner: { type: 'human' },
            action: req.action,
            target: `holons/${id}`,
            permissions: [...req.permissions],
          },
          {
            roles: [],
            actorPermissions: [...req.permissions],
            trustedKeys: new Map(),
            humanRootCount: 1,
            subjects: new Map(),
            now,
            requires: [],
          },
        );
        verdict = v as unknown as JsonValue;
        return v;
      },
      now,
    );
    await this.#append('kernel_verdict', { holon: id, by: caller.subject, verdict });
    await this.#saveHolon(update.holon, update.transitions);
    return update.holon;
  }

  /** The human override: a human Root suspends or terminates any holon. */
  async haltHolon(
    caller: Caller,
    id: string,
    input: { mode: 'suspend' | 'terminate'; reason?: string },
  ): Promise<Holon> {
    await this.require(caller, {
      action: 'holon.halt',
      target: `holons/${id}`,
      payload: { mode: input.mode },
    });
    const update = haltHolonState(await this.#holon(id), caller, input.mode, this.#clock());
    await this.#saveHolon(
      update.holon,
      update.transitions.map((t) => ({ ...(t as object), reason: input.reason ?? null })),
    );
    return update.holon;
  }

  // ── MCP gateway support ──────────────────────────────────────────────────────

  /** Seals one gateway tool call; arguments and results live only in the encrypted body. */
  async recordMcpCall(
    caller: Caller,
    entry: {
      upstream: string;
      tool: string;
      decision_id: string;
      arguments: JsonValue;
      result?: JsonValue;
      outcome: 'ok' | 'denied' | 'error' | 'timeout';
      latency_ms: number;
      error?: string;
    },
  ): Promise<{ record_id: string; seq: number }> {
    const record = await this.log.append({
      kind: 'mcp_call',
      tenant: TENANT,
      space: 'user',
      payload: {
        caller: caller.subject,
        upstream: entry.upstream,
        tool: entry.tool,
        arguments_hash: sha256Hex(canonicalBytes(entry.arguments ?? null)),
        result_hash: entry.result === undefined ? null : sha256Hex(canonicalBytes(entry.result)),
        arguments: entry.arguments ?? null,
        result: entry.result ?? null,
        outcome: entry.outcome,
        latency_ms: entry.latency_ms,
        error: entry.error ?? null,
      },
      links: [{ rel: 'decision', id: entry.decision_id }],
    });
    return { record_id: record.id, seq: record.seq };
  }

  async requestApproval(
    caller: Caller,
    input: { decision_id: string; action: string; target: string; summary: string },
  ): Promise<{ id: string }> {
    const approval: ApprovalInfo = {
      id: newId(),
      status: 'pending',
      action: input.action,
      target: input.target,
      summary: input.summary,
      decision_id: input.decision_id,
      requested_by: caller.subject,
      created_at: iso(this.#clock()),
    };
    await this.log.state.put(NS.approvals, approval.id, approval as unknown as JsonValue);
    await this.#append('governance_event', {
      event: 'approval_requested',
      approval: approval as unknown as JsonValue,
    });
    return { id: approval.id };
  }

  async approve(
    approver: Caller,
    id: string,
    approved: boolean,
  ): Promise<{ id: string; status: 'approved' | 'rejected' }> {
    if (approver.signer.type !== 'human') {
      throw new SigilError('approver_not_human', 'only a human may approve');
    }
    if (!loaAtLeast(approver.loa, 'mentor') || !approver.verified) {
      throw new SigilError('loa_insufficient', 'approvals need a human Mentor or Root');
    }
    const current = (await this.log.state.get(NS.approvals, checkId(id, 'approval id'))) as
      ApprovalInfo | undefined;
    if (!current) throw new SigilError('not_found', `no approval request ${id}`);
    if (current.status !== 'pending') {
      throw new SigilError('conflict', `approval ${id} is already ${current.status}`);
    }
    const status = approved ? 'approved' : 'rejected';
    const next: ApprovalInfo = {
      ...current,
      status,
      decided_by: approver.subject,
      decided_at: iso(this.#clock()),
    };
    await this.log.state.put(NS.approvals, id, next as unknown as JsonValue);
    await this.#append('governance_event', {
      event: `approval_${status}`,
      approval: next as unknown as JsonValue,
    });
    return { id, status };
  }

  /** Waits for a decision on an approval, polling the store so another process may decide. */
  async awaitApproval(id: string, timeoutMs: number): Promise<'approved' | 'rejected' | 'timeout'> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const a = (await this.log.state.get(NS.approvals, id)) as ApprovalInfo | undefined;
      if (a && a.status !== 'pending') return a.status;
      if (Date.now() >= deadline || this.#closed) return 'timeout';
      await new Promise((r) =>
        setTimeout(r, Math.min(APPROVAL_POLL_MS, Math.max(1, deadline - Date.now()))),
      );
    }
  }

  async listApprovals(caller: Caller): Promise<ApprovalInfo[]> {
    if (!loaAtLeast(caller.loa, 'mentor') || !caller.verified) {
      throw new SigilError('loa_insufficient', 'approvals are listed for Mentors and Root');
    }
    return (await this.log.state.list(NS.approvals)).map((r) => r.value as unknown as ApprovalInfo);
  }

  // ── lifecycle ────────────────────────────────────────────────────────────────

  async readiness(): Promise<{
    ready: boolean;
    checks: Record<string, { ok: boolean; detail: string }>;
  }> {
    const checks: Record<string, { ok: boolean; detail: string }> = {};
    try {
      checks.store = { ok: true, detail: `log size ${await this.log.size()}` };
    } catch (err) {
      checks.store = { ok: false, detail: isSigilError(err) ? err.code : 'store unavailable' };
    }
    checks.keys = {
      ok: true,
      detail: `log key ${toBase64Url(publicKeyToRaw(this.log.signer.publicKey))}`,
    };
    checks.license = {
      ok: this.#identity.source === 'license',
      detail: `${this.#identity.loa}: ${this.#identity.reason}`,
    };
    checks.open = { ok: !this.#closed, detail: this.#closed ? 'closing' : 'open' };
    return { ready: checks.store.ok && checks.open.ok, checks };
  }

  #assertOpen(): void {
    if (this.#closed) throw new SigilError('log_closed', 'the runtime is closed');
  }

  /** Drains pending appends, writes a final checkpoint and closes the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      // A final checkpoint covers what this process appended; read-only runs add none.
      if ((await this.log.size()) !== this.#sizeAtOpen) await this.log.checkpoint();
    } finally {
      await this.log.close();
    }
  }
}
