/**
 * SigilRuntime: the stateful shell around the pure decide(). It authenticates callers, gathers
 * the decision state (rate buckets, consent, trusted keys, the kernel), freezes every decision
 * into the canon log, and performs the writes a decision allowed. The domain operations live in
 * ./services; this class owns the keys, the log and the per-process state they share.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { canonicalJson, type JsonValue } from '../core/canonical.ts';
import { publicKeyToRaw } from '../core/ed25519.ts';
import { toBase64Url } from '../core/encoding.ts';
import { SigilError, isSigilError } from '../core/errors.ts';
import { CanonLog, type SealedRecord } from '../canon/log.ts';
import type { Link, RecordDraft, RecordKind } from '../canon/record.ts';
import type { Config } from '../config/index.ts';
import {
  createKernel,
  mcpActionHash,
  signProvenance,
  type Bailment,
  type ConsentGrant,
  type ConsentPurpose,
  type FindingsAttestation,
  type Holon,
  type Kernel,
  type Provenance,
  type ScanIntake,
} from '../gatekeeper/index.ts';
import {
  DEFAULT_TRUST_MODEL,
  RateLimiter,
  authorize,
  effectiveLoa,
  scopeAllows,
  parseTrustModel,
  type License,
  type LicenseVerification,
  type PolicyFlags,
  type TrustModel,
} from '../policy/index.ts';
import type { Proposal, QuorumStatus, WitnessEntry } from '../quorum/index.ts';
import { assertUserDraft } from '../canon/views.ts';
import { CONSTITUTION_BYTES } from './constitution.ts';
import { TENANT, asJson, iso, type FrozenDecision, type RuntimeCore } from './core.ts';
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
  readLicenseFile,
  runtimeFingerprint,
  type LicenseCheckOptions,
  type RuntimeIdentity,
} from './identity.ts';
import { loadOrCreateRuntimeKeys, openKeyStore, type RuntimeKeys } from './keys.ts';
import { builtinModules, type SigilModule } from './modules.ts';
import { grantConsent, revokeConsent, consentBetween } from './services/consent.ts';
import { heldRoles, listRoles, revokeRole, type RoleInfo } from './services/roles.ts';
import {
  createDelegation,
  getDelegation,
  resolveAuthority,
  revokeDelegation,
  type DelegationInfo,
  type ResolvedAuthority,
} from './services/delegations.ts';
import {
  approve,
  awaitApproval,
  listApprovals,
  recordMcpCall,
  requestApproval,
  type ApprovalInfo,
  type McpCallEntry,
} from './services/gateway-support.ts';
import {
  DecisionRollup,
  listDecisions,
  type DecisionFilter,
  type DecisionPage,
  type DecisionStats,
} from './services/decisions.ts';
import { breakerStatus, reportFindings } from './services/governance.ts';
import { haltHolon, spawnHolon, stepHolon } from './services/holons.ts';
import { generateLicense, issueLicense, type LicenseAuthority } from './services/licenses.ts';
import { memoryList, memoryRead, memoryWrite, type MemoryEntry } from './services/memory.ts';
import { listRecordViews, readRecord, type RecordViewPage } from './services/records.ts';
import type { RecordView } from './read-access.ts';
import { committedModel } from './services/model.ts';
import { CommittedConfig } from './services/settings.ts';
import { DecisionCounts } from './services/decision-counts.ts';
import {
  attest,
  commit,
  getProposal,
  listProposals,
  propose,
  registerWitness,
} from './services/system-changes.ts';
import {
  authenticate,
  createToken,
  listTokens,
  mintToken,
  revokeToken,
  type TokenInfo,
  type TokenInput,
} from './services/tokens.ts';

export type { FrozenDecision } from './core.ts';
export type { ApprovalInfo, McpCallEntry } from './services/gateway-support.ts';
export type { MemoryEntry } from './services/memory.ts';
export type {
  DecisionFilter,
  DecisionPage,
  DecisionStats,
  DecisionSummary,
} from './services/decisions.ts';
export type { AuthorityLinkInfo, DelegationInfo } from './services/delegations.ts';
export type { RoleInfo } from './services/roles.ts';
export {
  ANONYMOUS_SUBJECT,
  anonymousCaller,
  type TokenInfo,
  type TokenInput,
} from './services/tokens.ts';

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

export const ROOT_SUBJECT = 'did:sigil:root';
/** Actions whose effect is a system change: allowed only as a quorum proposal. */
const SYSTEM_CRITICAL = new Set(['system.propose', 'model.upload']);

/** A JSON copy without `undefined` members (which canonical JSON refuses). */
function plainJson(value: unknown): JsonValue {
  return JSON.parse(JSON.stringify(value)) as JsonValue;
}

/** Writes a file readable by its owner only. */
async function writePrivateFile(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600);
}

function logOptions(opts: RuntimeOptions) {
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

function limiterFor(config: Config): RateLimiter {
  return new RateLimiter({
    limits: config.rateLimit.perLoa,
    maxKeys: config.rateLimit.maxCallers,
  });
}

export class SigilRuntime {
  readonly log: CanonLog;
  readonly #settings: CommittedConfig;
  readonly #core: RuntimeCore;
  readonly #clock: () => number;
  readonly #keys: RuntimeKeys;
  readonly #provenanceRawKey: Uint8Array;
  readonly #delegationRawKey: Uint8Array;
  readonly #authority: LicenseAuthority;
  readonly #kernel: Kernel;
  #limiter: RateLimiter;
  readonly #modules: ReadonlyMap<string, SigilModule>;
  readonly #listeners = new Set<(d: FrozenDecision, c: Caller, r: DecisionRequest) => void>();
  readonly #counts = new DecisionCounts();
  readonly #models = new Map<string, TrustModel>();
  readonly #rollup = new DecisionRollup();
  #identity: RuntimeIdentity;
  #model: TrustModel = DEFAULT_TRUST_MODEL;
  #modelSource = 'default';
  #closed = false;
  #sizeAtOpen = 0;

  private constructor(opts: RuntimeOptions, log: CanonLog, keys: RuntimeKeys) {
    this.#settings = new CommittedConfig(opts.config);
    this.log = log;
    this.#clock = opts.clock ?? Date.now;
    this.#keys = keys;
    this.#provenanceRawKey = publicKeyToRaw(keys.provenance.publicKey);
    this.#delegationRawKey = publicKeyToRaw(keys.delegation.publicKey);
    this.#authority = {
      rootKey: keys.root,
      runtimeId: log.logId,
      fingerprint: runtimeFingerprint(opts.config.licenseSecret, log.signer.publicKey, log.logId),
    };
    this.#kernel = createKernel(CONSTITUTION_BYTES);
    this.#limiter = limiterFor(opts.config);
    this.#modules = builtinModules();
    const settings = this.#settings;
    this.#core = {
      log,
      get config() {
        return settings.current;
      },
      now: () => this.#clock(),
      flags: () => this.#flags(),
      require: (caller, request) => this.require(caller, request),
      append: (kind: RecordKind, payload: JsonValue, extra: Partial<RecordDraft> = {}) =>
        log.append({ kind, tenant: TENANT, space: 'user', payload, ...extra }),
      appendMany: (records) =>
        log.appendMany(
          records.map((r) => ({
            kind: r.kind,
            tenant: TENANT,
            space: 'user' as const,
            payload: r.payload,
            ...r.extra,
          })),
        ),
    };
    this.#identity = this.#loadIdentity();
  }

  /** Opens an initialised data dir ('store_missing' when it is not). */
  static async open(opts: RuntimeOptions): Promise<SigilRuntime> {
    const log = await CanonLog.open(logOptions(opts));
    try {
      const keys = loadOrCreateRuntimeKeys(
        openKeyStore(opts.config.dataDir, opts.env ?? process.env),
      );
      const runtime = new SigilRuntime(opts, log, keys);
      await runtime.#refreshConfig();
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
      await CanonLog.init(logOptions(opts));
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
    const license = await issueLicense(this.#core, this.#authority, ROOT_SUBJECT, {
      subject: ROOT_SUBJECT,
      name: 'Root',
      loa: 'root',
      expiresAt: null,
    });
    await writePrivateFile(this.config.licensePath, `${JSON.stringify(license, null, 2)}\n`);
    this.#identity = this.#loadIdentity();
    const { token } = await mintToken(this.#core, ROOT_SUBJECT, {
      subject: ROOT_SUBJECT,
      loa: 'root',
      signer: { type: 'human' },
    });
    return token;
  }

  #loadIdentity(): RuntimeIdentity {
    return loadRuntimeIdentity(this.config.licensePath, this.#licenseOptions());
  }

  #licenseOptions(): LicenseCheckOptions {
    return {
      rootKey: this.#keys.root.publicKey,
      runtimeId: this.#authority.runtimeId,
      fingerprint: this.#authority.fingerprint,
      now: this.#clock(),
      defaultLoa: this.config.trust.defaultLoa,
    };
  }

  /**
   * The configuration in force: mmf.toml and the environment, with every setting change the
   * quorum committed applied in log order (as of this instance's last decision).
   */
  get config(): Config {
    return this.#settings.current;
  }

  /** Applies setting changes committed since the last look, by this instance or another. */
  async #refreshConfig(): Promise<void> {
    const before = this.#settings.current.rateLimit;
    if (!(await this.#settings.refresh(this.log))) return;
    const after = this.#settings.current.rateLimit;
    if (after.maxCallers !== before.maxCallers) this.#limiter = limiterFor(this.#settings.current);
    else if (after.perLoa !== before.perLoa) this.#limiter.setLimits(after.perLoa);
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

  /** The licensed operator's subject (the writer of records appended with the log key), if any. */
  #operator(): string | undefined {
    return this.#identity.source === 'license' ? (this.#identity.subject ?? undefined) : undefined;
  }

  /** Subscribes to every frozen decision (metrics); returns the unsubscribe function. */
  onDecision(fn: (d: FrozenDecision, caller: Caller, req: DecisionRequest) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  // ── decisions ────────────────────────────────────────────────────────────────

  /** Decides a request and seals the decision into the log, allowed or denied. */
  async check(
    caller: Caller,
    request: DecisionRequest,
    opts: { clientAddress?: string } = {},
  ): Promise<FrozenDecision> {
    if (this.#closed) throw new SigilError('log_closed', 'the runtime is closed');
    await this.#refreshConfig();
    const now = this.#clock();
    const rateKey = caller.verified
      ? `subject:${caller.subject}`
      : `address:${opts.clientAddress ?? 'unknown'}`;
    const rate = this.#limiter.take(rateKey, caller.loa, now);
    const authority =
      caller.signer.type === 'ai'
        ? await resolveAuthority(this.#core, caller.signer.delegationId, now)
        : null;
    let req = request;
    if (caller.signer.type === 'ai') {
      // Every surface of Sigil marks what it returns to an AI caller as AI-mediated (HTTP
      // header, MCP `_meta`); a request may only claim less.
      req = {
        ...req,
        outputMarking: req.outputMarking ?? 'gateway',
        provenance:
          req.provenance === undefined ? this.#provenanceFor(caller, req, now) : req.provenance,
        // An agent acts on the data of the human its delegation starts from.
        dataSubject:
          req.dataSubject === undefined
            ? (authority?.principal ?? caller.delegatedBy ?? null)
            : req.dataSubject,
      };
    }
    const state: DecisionState = {
      now,
      mode: this.config.irl.enforcementMode,
      threshold: this.config.irl.threshold,
      flags: this.#flags(),
      model: this.#model,
      rate,
      kernel: this.#kernel,
      trustedKeys: this.#trustedKeysFor(caller, authority),
      humanRootCount: this.#identity.loa === 'root' ? 1 : 0,
      subjects: new Map(),
      consent: await consentBetween(this.#core, caller.subject, req.dataSubject ?? null),
      systemCritical: SYSTEM_CRITICAL,
      breakerOpen: caller.signer.type === 'ai' && (await breakerStatus(this.#core, now)).tripped,
      ...(authority
        ? { authority: { chain: authority.chain, withdrawn: authority.withdrawn } }
        : {}),
      roles: await heldRoles(this.#core, caller.subject),
    };
    const decision = decide(caller, req, state);
    const record = await this.#core.append(
      'decision',
      decisionPayload(caller, req, state, decision),
    );
    const frozen: FrozenDecision = {
      ...decision,
      decision_id: record.id,
      seq: record.seq,
      hash: record.hash,
    };
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

  /**
   * `trust.check`: decides a request on the caller's behalf without acting on it. The caller
   * must itself hold `trust.check`; that gate is pure, so an allowed check seals one decision
   * (the one asked about), and a refused caller's denial is sealed like any other.
   */
  async trustCheck(
    caller: Caller,
    request: DecisionRequest,
    opts: { clientAddress?: string } = {},
  ): Promise<FrozenDecision> {
    const loa = effectiveLoa(this.config.irl.enforcementMode, caller.loa, caller.verified);
    if (
      !authorize(loa, 'trust.check', this.#flags()).allowed ||
      !scopeAllows(caller.scopes, 'trust.check')
    ) {
      await this.require(caller, { action: 'trust.check', target: 'trust/check' }, opts);
    }
    return this.check(caller, request, opts);
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

  /**
   * Replays a sealed decision for a caller who may read it: the recorded and the re-run
   * decision, and whether they agree (same verdict and code) and are identical.
   */
  async replayFor(
    caller: Caller,
    decisionId: string,
  ): Promise<{
    decision_id: string;
    recorded: Decision;
    replayed: Decision;
    matches: boolean;
    identical: boolean;
  }> {
    await this.require(caller, { action: 'canon.read', target: `decisions/${decisionId}/replay` });
    const { recorded, replayed } = await this.replay(decisionId);
    return {
      decision_id: decisionId,
      recorded,
      replayed,
      matches: recorded.verdict === replayed.verdict && recorded.code === replayed.code,
      identical: canonicalJson(plainJson(recorded)) === canonicalJson(plainJson(replayed)),
    };
  }

  /** Sealed decisions matching `filter`, newest first (see services/decisions.ts). */
  listDecisions(
    caller: Caller,
    opts: DecisionFilter & { before?: number; limit?: number },
  ): Promise<DecisionPage> {
    return listDecisions(this.#core, caller, opts);
  }

  /** Per-minute allowed/denied counts over the last `minutes`, from the log. */
  decisionStats(caller: Caller, minutes: number): Promise<DecisionStats> {
    return this.#rollup.stats(this.#core, caller, minutes);
  }

  #flags(): PolicyFlags {
    return {
      allow_operator_canon_write: this.config.trust.allowOperatorCanonWrite,
      allow_admin_export: this.config.trust.allowAdminExport,
    };
  }

  /**
   * Sigil's provenance key is trusted for the caller it authenticated, and only for it; its
   * delegation key for the grantors of the chain it resolved for that caller, and only for them.
   */
  #trustedKeysFor(caller: Caller, authority: ResolvedAuthority | null): Map<string, Uint8Array[]> {
    const keys = new Map<string, Uint8Array[]>([[caller.subject, [this.#provenanceRawKey]]]);
    for (const link of authority?.chain ?? []) {
      const list = keys.get(link.grantor) ?? [];
      if (!list.includes(this.#delegationRawKey)) list.push(this.#delegationRawKey);
      keys.set(link.grantor, list);
    }
    return keys;
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

  async trustStatus(caller: Caller) {
    await this.require(caller, { action: 'trust.status', target: 'trust/status' });
    const breaker = await breakerStatus(this.#core, this.#clock());
    return {
      decisions: await this.#counts.read(this.log),
      threshold: this.config.irl.threshold,
      mode: this.config.irl.enforcementMode,
      model: this.#modelSource,
      log_size: await this.log.size(),
      breaker: {
        open: breaker.tripped,
        critical_in_window: breaker.critical_in_window,
        threshold: breaker.threshold,
      },
      runtime: this.#identity,
    };
  }

  // ── who is asking ────────────────────────────────────────────────────────────

  /** No token → the anonymous Guest; a bad, expired or revoked token → 'token_invalid'. */
  authenticate(token: string | null | undefined): Promise<Caller> {
    return authenticate(this.#core, token);
  }

  createToken(caller: Caller, input: TokenInput): Promise<{ token: string; info: TokenInfo }> {
    return createToken(this.#core, caller, input);
  }

  listTokens(caller: Caller): Promise<TokenInfo[]> {
    return listTokens(this.#core, caller);
  }

  revokeToken(caller: Caller, id: string): Promise<TokenInfo> {
    return revokeToken(this.#core, caller, id);
  }

  // ── delegations ──────────────────────────────────────────────────────────────

  /** The caller delegates `actions` to `to` (an agent): a signed authority link, sealed. */
  createDelegation(
    caller: Caller,
    input: { to: string; actions: readonly string[]; ttlMs?: number | null },
  ): Promise<DelegationInfo> {
    return createDelegation(this.#core, this.#keys.delegation, caller, input);
  }

  getDelegation(caller: Caller, id: string): Promise<DelegationInfo> {
    return getDelegation(this.#core, caller, id);
  }

  /** Revokes a delegation; every token built on it or on a delegation extending it stops. */
  revokeDelegation(caller: Caller, id: string): Promise<DelegationInfo> {
    return revokeDelegation(this.#core, caller, id);
  }

  // ── canon ────────────────────────────────────────────────────────────────────

  /** A user-space write; a system-space write becomes a quorum proposal, never a direct write. */
  async writeRecord(
    caller: Caller,
    input: {
      id?: string;
      kind?: RecordKind;
      payload: JsonValue;
      links?: Link[];
      space?: 'user' | 'system';
    },
  ): Promise<{ record?: SealedRecord; proposal?: Proposal; decision_id: string }> {
    const kind = input.kind ?? 'user_data';
    assertUserDraft({ kind });
    if (input.space === 'system') {
      return propose(
        this.#core,
        caller,
        { write: input.payload, id: input.id ?? null },
        this.#model,
      );
    }
    const d = await this.require(caller, {
      action: 'canon.user.write',
      target: `canon/user/${input.id ?? 'new'}`,
      payload: input.payload,
    });
    const record = await this.#core.append(kind, input.payload, {
      links: [...(input.links ?? []), { rel: 'decision', id: d.decision_id }],
      ...(input.id !== undefined ? { id: input.id } : {}),
    });
    return { record, decision_id: d.decision_id };
  }

  /**
   * User-data records in one transaction (`sigil canon append`), adjudicated as one
   * `canon.user.write` decision that each record links to. A governing kind or the system space
   * anywhere is 'kind_reserved' (details.index names the draft) and nothing is written.
   */
  async writeRecords(
    caller: Caller,
    drafts: readonly RecordDraft[],
  ): Promise<{ records: SealedRecord[]; decision_id: string }> {
    drafts.forEach((draft, index) => {
      try {
        assertUserDraft(draft);
      } catch (err) {
        if (!isSigilError(err)) throw err;
        throw new SigilError(err.code, err.message, { ...err.details, index });
      }
    });
    const d = await this.require(caller, {
      action: 'canon.user.write',
      target: 'canon/user/batch',
      payload: { records: drafts.length },
    });
    const records = await this.log.appendMany(
      drafts.map((draft) => ({
        ...draft,
        links: [...(draft.links ?? []), { rel: 'decision', id: d.decision_id }],
      })),
    );
    return { records, decision_id: d.decision_id };
  }

  /** One record: its body for its readers (read-access.ts), else its public envelope. */
  getRecord(caller: Caller, id: string): Promise<RecordView> {
    return readRecord(this.#core, caller, id, this.#operator());
  }

  /** A page of records, each body only for its readers. */
  listRecords(
    caller: Caller,
    opts: { kind?: RecordKind; since?: string; limit?: number; cursor?: string },
  ): Promise<RecordViewPage> {
    return listRecordViews(this.#core, caller, opts, this.#operator());
  }

  // ── system changes (quorum) ──────────────────────────────────────────────────

  registerWitness(
    caller: Caller,
    input: { witness_id: string; did: string; role: 'root' | 'mentor'; public_key: string },
  ): Promise<WitnessEntry> {
    return registerWitness(this.#core, caller, input);
  }

  /** Opens a system-change proposal; it takes effect only when committed with a quorum. */
  async propose(caller: Caller, change: JsonValue): Promise<Proposal> {
    return (await propose(this.#core, caller, change, this.#model)).proposal;
  }

  attest(
    caller: Caller,
    input: { proposal_id: string; witness_id: string; signature: string },
  ): Promise<{ proposal: Proposal; status: QuorumStatus }> {
    return attest(this.#core, caller, input);
  }

  commit(
    caller: Caller,
    proposalId: string,
  ): Promise<{ proposal: Proposal; record: SealedRecord }> {
    return commit(this.#core, caller, proposalId);
  }

  /** Proposes granting `role` to `subject`: a system change that takes effect on commit. */
  grantRole(caller: Caller, input: { subject: string; role: string }): Promise<Proposal> {
    return this.propose(caller, { role_grant: { subject: input.subject, name: input.role } });
  }

  /** Revokes a governed role at once (Root). */
  revokeRole(caller: Caller, input: { subject: string; role: string }): Promise<RoleInfo> {
    return revokeRole(this.#core, caller, { subject: input.subject, name: input.role });
  }

  listRoles(caller: Caller): Promise<RoleInfo[]> {
    return listRoles(this.#core, caller);
  }

  listProposals(caller: Caller): Promise<Proposal[]> {
    return listProposals(this.#core, caller);
  }

  getProposal(caller: Caller, id: string): Promise<{ proposal: Proposal; status: QuorumStatus }> {
    return getProposal(this.#core, caller, id);
  }

  // ── licenses and the trust model ─────────────────────────────────────────────

  generateLicense(
    caller: Caller,
    input: { subject: string; loa: string; expiresAt: string | null; name?: string },
  ): Promise<License> {
    return generateLicense(this.#core, this.#authority, caller, input);
  }

  /** Checks a license against this runtime; never throws. */
  validateLicense(license: unknown): LicenseVerification {
    return checkLicense(license, this.#licenseOptions());
  }

  /** Reads a license file and checks it (for `whoami --license`). */
  validateLicenseFile(path: string): LicenseVerification {
    return this.validateLicense(readLicenseFile(path));
  }

  /** A new trust model is a system change: it becomes a proposal. */
  async uploadModel(caller: Caller, model: unknown): Promise<Proposal> {
    return this.propose(caller, { model: asJson(parseTrustModel(model)) });
  }

  async #loadModel(): Promise<void> {
    const committed = await committedModel(this.#core);
    if (!committed) return;
    this.#model = committed.model;
    this.#models.set(modelHash(committed.model), committed.model);
    this.#modelSource = committed.source;
  }

  /** Puts the latest committed trust model in force. */
  async refreshModel(caller: Caller): Promise<{ model: TrustModel; source: string }> {
    await this.require(caller, { action: 'model.upload', target: 'model/refresh' });
    await this.#loadModel();
    return { model: this.#model, source: this.#modelSource };
  }

  // ── memory, modules, consent, holons, governance ─────────────────────────────

  memoryWrite(
    caller: Caller,
    input: { key: string; value: JsonValue },
  ): Promise<{ key: string; owner: string; record_id: string; seq: number }> {
    return memoryWrite(this.#core, caller, input);
  }

  memoryList(caller: Caller): Promise<MemoryEntry[]> {
    return memoryList(this.#core, caller);
  }

  memoryRead(
    caller: Caller,
    key: string,
    owner?: string,
  ): Promise<{ key: string; owner: string; value: JsonValue; record_id: string }> {
    return memoryRead(this.#core, caller, key, owner);
  }

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

  grantConsent(
    caller: Caller,
    input: { bailee: string; scope: string; purpose: ConsentPurpose; expiresAt?: string | null },
  ): Promise<{ id: string; bailment: Bailment; grant: ConsentGrant }> {
    return grantConsent(this.#core, caller, input);
  }

  revokeConsent(caller: Caller, id: string): Promise<{ id: string; revokedAt: string }> {
    return revokeConsent(this.#core, caller, id);
  }

  spawnHolon(
    caller: Caller,
    spec: { id: string; capabilities: string[]; program: unknown },
  ): Promise<Holon> {
    return spawnHolon(this.#core, caller, spec);
  }

  /** Runs one holon step: the kernel adjudicates it (a `kernel_verdict` record), then it runs. */
  stepHolon(caller: Caller, id: string, fields: Record<string, string>): Promise<Holon> {
    return stepHolon(this.#core, this.#kernel, caller, id, fields);
  }

  /** The human override: a human Root suspends or terminates any holon. */
  haltHolon(
    caller: Caller,
    id: string,
    input: { mode: 'suspend' | 'terminate'; reason?: string },
  ): Promise<Holon> {
    return haltHolon(this.#core, caller, id, input);
  }

  /** Signed scanner findings; critical ones feed the breaker that stops AI actors. */
  reportFindings(
    caller: Caller,
    input: { attestation: FindingsAttestation; findings: unknown },
  ): Promise<ScanIntake> {
    return reportFindings(this.#core, caller, input);
  }

  // ── MCP gateway support ──────────────────────────────────────────────────────

  recordMcpCall(caller: Caller, entry: McpCallEntry): Promise<{ record_id: string; seq: number }> {
    return recordMcpCall(this.#core, caller, entry);
  }

  requestApproval(
    caller: Caller,
    input: { decision_id: string; action: string; target: string; summary: string },
  ): Promise<{ id: string }> {
    return requestApproval(this.#core, caller, input);
  }

  approve(
    approver: Caller,
    id: string,
    approved: boolean,
  ): Promise<{ id: string; status: 'approved' | 'rejected' }> {
    return approve(this.#core, approver, id, approved);
  }

  /** Waits for a human decision on an approval request (polling the store); ends on close. */
  awaitApproval(id: string, timeoutMs: number): Promise<'approved' | 'rejected' | 'timeout'> {
    return awaitApproval(this.#core, id, timeoutMs, () => this.#closed);
  }

  listApprovals(caller: Caller): Promise<ApprovalInfo[]> {
    return listApprovals(this.#core, caller);
  }

  /**
   * `state rebuild` (Root, explicit, never automatic): replaces every view row with the
   * projection of the log, e.g. after restoring a backup or once `validate` named bad rows.
   */
  async rebuildState(caller: Caller): Promise<{ rows: number; size: number; decision_id: string }> {
    const d = await this.require(caller, { action: 'state.rebuild', target: 'state/views' });
    return { ...(await this.log.rebuildViews()), decision_id: d.decision_id };
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
