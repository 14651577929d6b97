/**
 * SigilRuntime: the stateful shell around the pure decide(). It authenticates callers, gathers
 * the decision state (rate buckets, consent, trusted keys, the kernel), freezes every decision
 * into the canon log, and performs the writes a decision allowed. The domain operations live in
 * ./services; this class owns the keys, the log and the per-process state they share.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { canonicalJson, type JsonValue } from '../core/canonical.ts';
import { publicKeyToRaw } from '../core/ed25519.ts';
import { toBase64Url } from '../core/encoding.ts';
import { SigilError, isSigilError } from '../core/errors.ts';
import { CanonLog, type AppendOptions, type LogReader, type SealedRecord } from '../canon/log.ts';
import { VIEW_NS, projectRecord } from '../canon/views.ts';
import {
  SharedRateLimiter,
  pruneBuckets,
  throttleFor,
  type DecisionLimiter,
  type Throttle,
} from './rate-limiter.ts';
import { newRecordId, type RecordDraft, type RecordKind } from '../canon/record.ts';
import type { Config } from '../config/index.ts';
import {
  createKernel,
  mcpActionHash,
  signProvenance,
  type Kernel,
  type Provenance,
  type QuoteVerifier,
} from '../gatekeeper/index.ts';
import {
  RateLimiter,
  authorize,
  type BucketLimit,
  effectiveLoa,
  scopeAllows,
  type PolicyFlags,
} from '../policy/index.ts';
import { CONSTITUTION_BYTES } from './constitution.ts';
import {
  TENANT,
  iso,
  judgeRow,
  refusedRows,
  type AndSeal,
  type FrozenDecision,
  type RuntimeCore,
} from './core.ts';
import {
  decide,
  type Caller,
  type Decision,
  type DecisionRequest,
  type DecisionState,
} from './decide.ts';
import {
  asSealed,
  decisionPayload,
  namedInputs,
  recordedOf,
  replayDecision,
  type DecisionPolicy,
  type SealedDecision,
  type SealedInputs,
} from './frozen.ts';
import { DecisionInputs } from './services/decision-inputs.ts';
import { DecisionPolicies } from './services/decision-policies.ts';
import { decisionPayloadOf } from './decision-record.ts';
import { mayReadBody } from './read-access.ts';
import {
  checkLicense,
  identityOf,
  readLicenseFile,
  runtimeFingerprint,
  type LicenseCheckOptions,
  type RuntimeIdentity,
} from './identity.ts';
import { loadOrCreateRuntimeKeys, openKeyStore, type RuntimeKeys } from './keys.ts';
import { attestationRefusal, loadQuoteVerifier } from './attestation.ts';
import { builtinModules } from './modules.ts';
import { consentBetween, consentService, type ConsentService } from './services/consent.ts';
import { heldRoles, rolesService, type RolesService } from './services/roles.ts';
import {
  delegationsService,
  resolveAuthority,
  type DelegationsService,
  type ResolvedAuthority,
} from './services/delegations.ts';
import { gatewayService, type GatewayService } from './services/gateway-support.ts';
import { approvalsService, type ApprovalsService } from './services/approvals.ts';
import { toolPinsService, type ToolPinsService } from './services/tool-pins.ts';
import { decisionsService, type DecisionsService } from './services/decisions.ts';
import {
  breakerOpen,
  breakerStatus,
  governanceService,
  type GovernanceService,
} from './services/governance.ts';
import { holonsService, type HolonsService } from './services/holons.ts';
import {
  issueLicense,
  licensesService,
  type LicenseAuthority,
  type LicensesService,
} from './services/licenses.ts';
import { memoryService, type MemoryService } from './services/memory.ts';
import { recordsService, type RecordsService } from './services/records.ts';
import { ModelInForce, modelService, type ModelService } from './services/model.ts';
import { modulesService, type ModulesService } from './services/modules.ts';
import { CommittedConfig } from './services/settings.ts';
import { DecisionTally } from './services/decision-tally.ts';
import { ViewMirror } from './view-mirror.ts';
import { VIEWS } from './view-ns.ts';
import { stateService, type StateService } from './services/state.ts';
import { quorumService, type QuorumService } from './services/system-changes.ts';
import { mintToken, standingFor, tokensService, type TokensService } from './services/tokens.ts';
import { sessionsService, type SessionsService } from './services/sessions.ts';

export type { FrozenDecision } from './core.ts';
export type { McpCallEntry } from './services/gateway-support.ts';
export type { ApprovalInfo, ApprovalView } from './services/approvals.ts';
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

/** The decision tally's file in the data dir, how often it follows the log and is saved. */
const TALLY_FILE = 'decision-tally.json';
const TALLY_FOLLOW_MS = 1000;
const TALLY_SAVE_MS = 5000;

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
    witnesses: config.log.witnesses,
    ...(config.log.witnessQuorum !== undefined && { witnessQuorum: config.log.witnessQuorum }),
  };
}

/** Shared through the store when it has shared buckets (postgres), else in this process. */
function limiterFor(config: Config, log: CanonLog): DecisionLimiter {
  const shared = log.rateBuckets;
  if (shared) return new SharedRateLimiter(shared, config.rateLimit.perLoa);
  return new RateLimiter({
    limits: config.rateLimit.perLoa,
    maxKeys: config.rateLimit.maxCallers,
  });
}

export class SigilRuntime {
  /** The log for the surfaces: read-only (no append, no view write, no key). */
  readonly log: LogReader;
  readonly #log: CanonLog;
  // The service rooms: each owns its views and its operations (./services).
  readonly tokens: TokensService;
  readonly sessions: SessionsService;
  readonly delegations: DelegationsService;
  readonly records: RecordsService;
  readonly quorum: QuorumService;
  readonly roles: RolesService;
  readonly licenses: LicensesService;
  readonly model: ModelService;
  readonly memory: MemoryService;
  readonly modules: ModulesService;
  readonly consent: ConsentService;
  readonly holons: HolonsService;
  readonly governance: GovernanceService;
  readonly approvals: ApprovalsService;
  readonly gateway: GatewayService;
  readonly toolPins: ToolPinsService;
  readonly decisions: DecisionsService;
  readonly state: StateService;
  readonly #settings: CommittedConfig;
  readonly #core: RuntimeCore;
  readonly #clock: () => number;
  readonly #keys: RuntimeKeys;
  readonly #provenanceRawKey: Uint8Array;
  /** The [tee] quote-verifier plug-in, when mmf.toml names one. */
  #quoteVerifier: QuoteVerifier | undefined;
  readonly #delegationRawKey: Uint8Array;
  readonly #authority: LicenseAuthority;
  readonly #kernel: Kernel;
  #limiter: DecisionLimiter;
  readonly #listeners = new Set<(d: FrozenDecision, c: Caller, r: DecisionRequest) => void>();
  readonly #tally: DecisionTally;
  readonly #views: ViewMirror;
  #following: ReturnType<typeof setInterval> | undefined;
  #stopPruning: (() => void) | undefined;
  readonly #model = new ModelInForce();
  readonly #policies = new DecisionPolicies();
  readonly #inputs = new DecisionInputs();
  readonly #flagsOf = new WeakMap<Config, PolicyFlags>();
  #identity: RuntimeIdentity;
  #closed = false;
  #sizeAtOpen = 0;

  private constructor(opts: RuntimeOptions, log: CanonLog, keys: RuntimeKeys) {
    this.#settings = new CommittedConfig(opts.config);
    this.log = log;
    this.#log = log;
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
    this.#limiter = limiterFor(opts.config, log);
    const settings = this.#settings;
    // The rows every request reads, from memory the log keeps current (view-mirror.ts). A row
    // older than the record that last wrote it (rolled back) is refused. Roles and the breaker
    // restrict, so a row of theirs deleted while a record made it is refused too; a consent row
    // only permits, so a deleted one is no consent (denied). Only a read of such a row is refused.
    const refuse =
      (kind: RecordKind, ns: string, absentIsNone = false) =>
      (rows: ReadonlyMap<string, { seq: number }>, only?: string) =>
        refusedRows(this.#core, kind, ns, rows, { absentIsNone, only });
    const views = new ViewMirror(log.views, log, [
      {
        ns: VIEW_NS.tokens,
        kind: 'token_event',
        whole: false,
        judge: (key, row) => judgeRow(this.#core, 'token_event', VIEW_NS.tokens, key, row),
      },
      {
        ns: VIEW_NS.consent,
        kind: 'consent_event',
        whole: true,
        parse: VIEWS.consent.parse,
        refuse: refuse('consent_event', VIEW_NS.consent, true),
      },
      {
        ns: VIEW_NS.roles,
        kind: 'role_event',
        whole: true,
        parse: VIEWS.roles.parse,
        refuse: refuse('role_event', VIEW_NS.roles),
      },
      {
        ns: VIEW_NS.governance,
        kind: 'governance_event',
        whole: true,
        parse: VIEWS.governance.parse,
        refuse: refuse('governance_event', VIEW_NS.governance),
      },
    ]);
    this.#views = views;
    // What this instance seals is read again into memory before the append returns.
    const dropping = async (record: SealedRecord): Promise<SealedRecord> => {
      await views.written(projectRecord(record)).catch(() => undefined);
      return record;
    };
    const droppingAll = async (records: SealedRecord[]): Promise<SealedRecord[]> => {
      for (const r of records) await dropping(r);
      return records;
    };
    this.#core = {
      log,
      views,
      get config() {
        return settings.current;
      },
      now: () => this.#clock(),
      flags: () => this.#flags(),
      require: (caller, request) => this.require(caller, request),
      requireAndAppend: (caller, request, drafts) => this.requireAndAppend(caller, request, drafts),
      append: (
        kind: RecordKind,
        payload: JsonValue,
        extra: Partial<RecordDraft> = {},
        opts: AppendOptions = {},
      ) =>
        log.append({ kind, tenant: TENANT, space: 'user', payload, ...extra }, opts).then(dropping),
      appendMany: async (records, opts = {}) =>
        droppingAll(
          await log.appendMany(
            records.map((r) => ({
              kind: r.kind,
              tenant: TENANT,
              space: 'user' as const,
              payload: r.payload,
              ...r.extra,
            })),
            opts,
          ),
        ),
    };
    // The seal alone until open() has asked the log too (revoked, never issued): see #reloadIdentity.
    this.#identity = identityOf(
      this.config.licensePath,
      checkLicense(readLicenseFile(this.config.licensePath), this.#licenseOptions()),
    );
    const core = this.#core;
    const model = () => this.#model.current;
    this.tokens = tokensService(core);
    this.sessions = sessionsService(core);
    this.delegations = delegationsService(core, keys.delegation);
    this.quorum = quorumService(core, model);
    this.records = recordsService(core, model, () => this.#operator());
    this.roles = rolesService(core, this.quorum);
    this.licenses = licensesService(
      core,
      this.#authority,
      () => this.#licenseOptions(),
      () => this.#reloadIdentity(),
    );
    this.model = modelService(core, this.#model, this.quorum);
    this.memory = memoryService(core);
    const modules = builtinModules();
    for (const name of Object.keys(opts.config.moduleAttestations)) {
      if (!modules.has(name)) {
        throw new SigilError('config_invalid', `modules.${name}: no module named ${name}`, {
          key: `modules.${name}`,
        });
      }
    }
    // A module declaring attestation = "required" runs only while its attestation passes [tee].
    this.modules = modulesService(core, modules, (name) =>
      attestationRefusal(
        `module ${name}`,
        Object.hasOwn(this.config.moduleAttestations, name)
          ? this.config.moduleAttestations[name]
          : undefined,
        this.config.tee,
        this.#quoteVerifier,
        this.#clock(),
      ),
    );
    this.consent = consentService(core);
    this.holons = holonsService(core, this.#kernel);
    this.governance = governanceService(core);
    this.approvals = approvalsService(core, () => this.#closed);
    this.gateway = gatewayService(core);
    this.toolPins = toolPinsService(core);
    this.#tally = new DecisionTally({
      file: join(opts.config.dataDir, TALLY_FILE),
      key: log.derivedKey('decision-tally/v1'),
      logId: log.logId,
    });
    // The tally counts this instance's own decisions without reading them back.
    log.onSealed((records) => this.#tally.sealed(records));
    // Each decision refreshes the settings: told what this instance seals, the refresh reads
    // only the head while nothing else was sealed. SQLite only, where the head is a local read;
    // on PostgreSQL it is a round trip more whenever another instance wrote.
    if (log.backend === 'sqlite') log.onSealed((records) => this.#settings.sealed(records));
    this.decisions = decisionsService(core, this.#tally);
    this.state = stateService(core);
  }

  /** Opens an initialised data dir ('store_missing' when it is not). */
  static async open(opts: RuntimeOptions): Promise<SigilRuntime> {
    const log = await CanonLog.open(logOptions(opts));
    try {
      const keys = loadOrCreateRuntimeKeys(
        openKeyStore(opts.config.dataDir, opts.env ?? process.env),
      );
      const runtime = new SigilRuntime(opts, log, keys);
      const verifier = opts.config.tee?.quoteVerifier;
      if (verifier !== undefined) runtime.#quoteVerifier = await loadQuoteVerifier(verifier);
      await runtime.#refreshConfig();
      await runtime.#reloadIdentity();
      await runtime.#model.load(runtime.#core);
      await runtime.#policies.load(runtime.#core);
      await runtime.#inputs.load(runtime.#core);
      runtime.#sizeAtOpen = await log.size();
      await runtime.#views.start();
      runtime.#follow();
      const buckets = log.rateBuckets;
      if (buckets) runtime.#stopPruning = pruneBuckets(buckets);
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
    await this.#reloadIdentity();
    const { token } = await mintToken(this.#core, ROOT_SUBJECT, {
      subject: ROOT_SUBJECT,
      loa: 'root',
      signer: { type: 'human' },
    });
    return token;
  }

  /** Reads the license file and checks it against the seal and the log. */
  async #reloadIdentity(): Promise<void> {
    const path = this.config.licensePath;
    this.#identity = identityOf(path, await this.licenses.validateFile(path));
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
    if (after.maxCallers !== before.maxCallers)
      this.#limiter = limiterFor(this.#settings.current, this.#log);
    else if (after.perLoa !== before.perLoa) this.#limiter.setLimits(after.perLoa);
  }

  /**
   * A throttle for a surface (the sign-ins per token and per address): one system across the
   * instances on a shared store, like the decision limits, and refusing when that store fails.
   */
  throttle(name: string, limit: BucketLimit): Throttle {
    return throttleFor(this.#log.rateBuckets, name, limit, this.#clock);
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
    opts: { clientAddress?: string; andSeal?: AndSeal } = {},
  ): Promise<FrozenDecision> {
    if (this.#closed) throw new SigilError('log_closed', 'the runtime is closed');
    await this.#refreshConfig();
    const now = this.#clock();
    const rateKey = caller.verified
      ? `subject:${caller.subject}`
      : `address:${opts.clientAddress ?? 'unknown'}`;
    const rate = await this.#limiter.take(rateKey, caller.loa, now);
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
        // An agent acts on the data of the human its delegation starts from.
        dataSubject:
          req.dataSubject === undefined
            ? (authority?.principal ?? caller.delegatedBy ?? null)
            : req.dataSubject,
      };
    }
    // Who holds standing matters only to a request that changes someone's (human-override):
    // read from the token view then, and sealed for the subjects the effect names.
    const standing = req.effect ? await standingFor(this.#core, req.effect, now) : null;
    const state: DecisionState = {
      now,
      mode: this.config.irl.enforcementMode,
      threshold: this.config.irl.threshold,
      flags: this.#flags(),
      model: this.#model.current,
      rate,
      kernel: this.#kernel,
      trustedKeys: this.#trustedKeysFor(caller, authority),
      humanRootCount: standing?.humanRootCount ?? (this.#identity.loa === 'root' ? 1 : 0),
      subjects: standing?.subjects ?? new Map(),
      consent: await consentBetween(this.#core, caller.subject, req.dataSubject ?? null),
      systemCritical: SYSTEM_CRITICAL,
      breakerOpen: caller.signer.type === 'ai' && (await breakerOpen(this.#core, now)),
      ...(authority
        ? { authority: { chain: authority.chain, withdrawn: authority.withdrawn } }
        : {}),
      roles: await heldRoles(this.#core, caller.subject),
    };
    if (caller.signer.type === 'ai' && req.provenance === undefined) {
      // Sigil's own provenance, signed in the same synchronous step as decide(): the payload it
      // covers cannot change in between, so the MCP rule is told its action hash, not hashing
      // the arguments again.
      state.actionHash = mcpActionHash(req.action, req.payload ?? null);
      req = { ...req, provenance: this.#provenanceFor(caller, state.actionHash, now) };
    }
    const decision = decide(caller, req, state);
    const [policy, refs] = await Promise.all([
      this.#policies.ensure(this.#core, state),
      this.#inputs.refs(this.#core, decision, state),
    ]);
    const payload = decisionPayload(caller, req, state, decision, policy, refs);
    const record =
      opts.andSeal !== undefined && decision.verdict === 'allow'
        ? await this.#sealWith(payload, opts.andSeal)
        : await this.#core.append('decision', payload);
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
    return this.#deniedThrows(await this.check(caller, request, opts));
  }

  #deniedThrows(d: FrozenDecision): FrozenDecision {
    if (d.verdict === 'deny') {
      throw new SigilError(d.code ?? 'internal_deny', d.reason, {
        decision_id: d.decision_id,
        ...(d.violations.length > 0 ? { violations: d.violations } : {}),
        ...(d.retry_after_ms !== undefined ? { retry_after_ms: d.retry_after_ms } : {}),
      });
    }
    return d;
  }

  /**
   * The allowed decision and the records it permits, in one transaction (one durable commit, not
   * two in turn); the decision comes first in the log and each record may link to it. When that
   * append fails (a record refused, an id taken), the decision is sealed alone, as it would have
   * been before the records were tried, and the failure rethrown.
   */
  async #sealWith(payload: JsonValue, andSeal: AndSeal): Promise<SealedRecord> {
    const id = newRecordId();
    let sealed: SealedRecord[];
    try {
      sealed = await this.#core.appendMany([
        { kind: 'decision', payload, extra: { id } },
        ...andSeal.drafts(id),
      ]);
    } catch (err) {
      andSeal.failed = err;
      return this.#core.append('decision', payload, { id });
    }
    andSeal.sealed = sealed.slice(1);
    return sealed[0]!;
  }

  /**
   * Like require, and the records `drafts(decisionId)` makes sealed with the allowed decision in
   * one transaction. A denial throws as require does and seals nothing else.
   */
  async requireAndAppend(
    caller: Caller,
    request: DecisionRequest,
    drafts: AndSeal['drafts'],
  ): Promise<{ decision: FrozenDecision; records: SealedRecord[] }> {
    const andSeal: AndSeal = { drafts };
    const decision = await this.#deniedThrows(await this.check(caller, request, { andSeal }));
    if (andSeal.failed !== undefined) throw andSeal.failed;
    return { decision, records: andSeal.sealed ?? [] };
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

  /**
   * Re-runs a sealed decision on its recorded inputs and those it names by hash
   * ('record_not_found', 'replay_unsupported'): the decision as sealed, the whole re-run
   * decision, and the re-run in the sealed shape (to compare with the first).
   */
  async replay(
    decisionId: string,
  ): Promise<{ recorded: SealedDecision; replayed: Decision; resealed: SealedDecision }> {
    const record = await this.log.get(decisionId);
    if (!record || record.kind !== 'decision') {
      throw new SigilError('record_not_found', `no decision record ${decisionId}`);
    }
    const payload = decisionPayloadOf(record);
    // A policy another instance sealed after this one opened is read from the log.
    if ('v' in payload && !this.#policies.byHash.has(payload.state.policy)) {
      await this.#policies.load(this.#core);
    }
    if (namedInputs(payload).some((hash) => !this.#inputs.byHash.has(hash))) {
      await this.#inputs.load(this.#core);
    }
    const sealed = this.decisionInputs;
    const replayed = replayDecision(payload, sealed);
    return {
      recorded: recordedOf(payload, sealed),
      replayed,
      resealed: asSealed(payload, replayed),
    };
  }

  /** The decision policies sealed in this log, by hash (what version 2 decisions name). */
  get decisionPolicies(): ReadonlyMap<string, DecisionPolicy> {
    return this.#policies.byHash;
  }

  /** Everything sealed in this log that decision records name by hash, for replayDecision. */
  get decisionInputs(): Required<SealedInputs> {
    return {
      models: this.#model.byHash,
      policies: this.#policies.byHash,
      inputs: this.#inputs.byHash,
    };
  }

  /**
   * Replays a sealed decision for a caller who may read it: the recorded and the re-run
   * decision, and whether they agree (same verdict and code) and are identical (every sealed
   * field equal; the steps and the score's breakdown are the re-run's).
   */
  async replayFor(
    caller: Caller,
    decisionId: string,
  ): Promise<{
    decision_id: string;
    recorded: SealedDecision;
    replayed: Decision;
    matches: boolean;
    identical: boolean;
  }> {
    await this.require(caller, { action: 'canon.read', target: `decisions/${decisionId}/replay` });
    // A replay shows the decision's sealed inputs: only for those who may read its body.
    const record = await this.log.get(decisionId);
    if (
      record?.kind === 'decision' &&
      !(await mayReadBody(caller, record, {
        lookup: (id) => this.log.get(id),
        operator: undefined,
      }))
    ) {
      throw new SigilError('forbidden', 'a decision is replayed only by those who may read it');
    }
    const { recorded, replayed, resealed } = await this.replay(decisionId);
    return {
      decision_id: decisionId,
      recorded,
      replayed,
      matches: recorded.verdict === replayed.verdict && recorded.code === replayed.code,
      identical: canonicalJson(plainJson(recorded)) === canonicalJson(plainJson(resealed)),
    };
  }

  /** One frozen flags object per configuration, so the policy of a decision is found by identity. */
  #flags(): PolicyFlags {
    const config = this.config;
    let flags = this.#flagsOf.get(config);
    if (flags === undefined) {
      flags = Object.freeze({
        allow_operator_canon_write: config.trust.allowOperatorCanonWrite,
        allow_admin_export: config.trust.allowAdminExport,
      });
      this.#flagsOf.set(config, flags);
    }
    return flags;
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

  #provenanceFor(caller: Caller, actionHash: string, now: number): Provenance {
    return signProvenance(
      this.#keys.provenance.privateKey,
      this.#keys.provenance.publicKey,
      caller.signer,
      {
        actor: caller.subject,
        actionHash,
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
      decisions: await this.#tally.totals(this.log),
      threshold: this.config.irl.threshold,
      mode: this.config.irl.enforcementMode,
      model: this.#model.source,
      log_size: await this.log.size(),
      breaker: {
        open: breaker.tripped,
        critical_in_window: breaker.critical_in_window,
        threshold: breaker.threshold,
      },
      runtime: this.#identity,
    };
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
      detail: `log key ${toBase64Url(publicKeyToRaw(this.log.publicKey))}`,
    };
    checks.license = {
      ok: this.#identity.source === 'license',
      detail: `${this.#identity.loa}: ${this.#identity.reason}`,
    };
    checks.open = { ok: !this.#closed, detail: this.#closed ? 'closing' : 'open' };
    return { ready: checks.store.ok && checks.open.ok, checks };
  }

  /**
   * Keeps the decision tally current as records are appended (by this instance or any other on
   * the store): each second it reads the decisions sealed since the last look, and every few
   * seconds saves the tally, so neither a restart nor the overview's first read scans the log.
   */
  #follow(): void {
    let lastSave = this.#clock();
    this.#following = setInterval(() => {
      void (async () => {
        // A license revoked by another instance stops making this one's operator a caller.
        if (this.#identity.source === 'license') await this.#reloadIdentity();
        await this.#tally.catchUp(this.log);
        if (this.#clock() - lastSave >= TALLY_SAVE_MS) {
          lastSave = this.#clock();
          await this.#tally.save(lastSave);
        }
      })().catch(() => {
        // a failed read is the next request's to report (it reads through the same tally)
      });
    }, TALLY_FOLLOW_MS);
    this.#following.unref();
  }

  /** Drains pending appends, writes a final checkpoint and closes the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#following);
    this.#stopPruning?.();
    this.#views.stop();
    try {
      await this.#tally.flush(this.log, this.#clock()).catch(() => undefined);
      // A final checkpoint covers what this process appended; read-only runs add none.
      if ((await this.log.size()) !== this.#sizeAtOpen) await this.#log.checkpoint();
    } finally {
      await this.#log.close();
    }
  }
}
