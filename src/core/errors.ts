/**
 * The one error type of the project. `code` is a stable string that callers,
 * HTTP problem bodies and CLI exit paths rely on; `message` is for people.
 */
export class SigilError extends Error {
  override readonly name = 'SigilError';
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

/** True when `err` is a SigilError, optionally with the given code. */
export function isSigilError(err: unknown, code?: string): err is SigilError {
  return err instanceof SigilError && (code === undefined || err.code === code);
}

/**
 * What an error code means to each surface: the HTTP status it answers (500 means a fault of
 * the server, answered as a bare `internal` with no detail) and the CLI's exit code (1 denied or
 * failed, 2 usage or bad input, 3 store).
 */
export interface ErrorContract {
  readonly status: number;
  readonly exit: 1 | 2 | 3;
  /** A 500 that still names its code (stored state failed verification), not a bare fault. */
  readonly disclosed?: true;
}

const contracts = (
  status: number,
  exit: 1 | 2 | 3,
  codes: readonly string[],
  extra: { disclosed?: true } = {},
) => codes.map((code) => [code, { status, exit, ...extra }] as const);

/**
 * The one error registry: every code Sigil raises, with its HTTP status and CLI exit code.
 * A test scans src/ for raised codes and fails on any missing here.
 */
export const ERROR_CODES: ReadonlyMap<string, ErrorContract> = new Map([
  // The request or a document in it is malformed; the CLI calls these usage errors.
  ...contracts(400, 2, ['bad_request', 'usage', 'invalid_did', 'invalid_encoding']),
  // Well-formed but invalid input.
  ...contracts(400, 1, [
    'record_invalid',
    'invalid_loa',
    'invalid_signer_type',
    'not_canonicalizable',
    'model_invalid',
    'invalid_risk',
    'license_malformed',
    'invalid_input',
    'invalid_time',
    'invalid_key',
    'invalid_role',
    'invalid_consent',
    'unknown_setting',
    'setting_invalid',
    'change_invalid',
    'role_unknown',
    'role_branch_unknown',
    'role_branch_mismatch',
    'combinator_invalid',
    'combinator_limit_exceeded',
    'combinator_failed',
    'combinator_input_invalid',
    'combinator_options_invalid',
    'combinator_step_limit',
    'holon_invalid',
    'halt_invalid',
    'approval_invalid',
    'approval_signature_invalid',
    'quorum_requirements_invalid',
    'quorum_ttl_invalid',
    'cbor_invalid',
    // a checkpoint lacks a valid cosignature of a witness the verifier requires
    'witness_missing',
    'witness_invalid',
    'resource_uri_invalid',
    'findings_invalid',
    'findings_attestation_malformed',
    'findings_digest_mismatch',
    'findings_signature_invalid',
    'tee_attestation_malformed',
    'tee_attestation_expired',
    'tee_timestamp_in_future',
    'tee_quote_invalid',
    'tee_signature_invalid',
  ]),
  ...contracts(401, 1, ['unauthenticated', 'token_invalid']),
  // Denials: the decision, a rule, an invariant or the caller's standing says no.
  ...contracts(403, 1, [
    'loa_insufficient',
    'trust_below_threshold',
    'mcp_rule_violated',
    'invariant_violated',
    'csrf_invalid',
    'scope_denied',
    'escalation_required',
    'escalated',
    'action_disabled',
    'unknown_action',
    'feature_missing',
    'internal_deny',
    'forbidden',
    'single_root_violation',
    'halt_not_permitted',
    'witness_not_human',
    'actor_not_human',
    'approver_not_human',
    'approver_not_enrolled',
    'breaker_open',
    'scanner_unknown',
    'credential_requires_human',
    'kind_reserved',
    'delegation_too_wide',
    'delegation_too_deep',
    'tool_not_allowed',
    'policy_condition_false',
    'policy_condition_error',
    'tool_definition_changed',
    'capability_denied',
    'approval_rejected',
    'approval_timeout',
    'tee_measurement_not_allowed',
    'tee_platform_not_accepted',
    'tee_simulated_in_production',
  ]),
  ...contracts(404, 1, [
    'not_found',
    'token_not_found',
    'record_not_found',
    'module_not_found',
    'proposal_not_found',
    'holon_not_found',
    'consent_not_found',
    'memory_not_found',
    'tool_not_found',
    'delegation_not_found',
    'role_not_found',
    'scanner_not_found',
    'license_not_found',
  ]),
  ...contracts(405, 1, ['method_not_allowed']),
  ...contracts(408, 1, ['request_timeout']),
  ...contracts(409, 1, [
    'quorum_required',
    'duplicate_attestation',
    'proposal_expired',
    'proposal_not_pending',
    'proposal_tampered',
    'approval_not_pending',
    'witness_exists',
    'witness_key_reused',
    'witness_unknown',
    'witness_revoked',
    'witness_not_in_force',
    'witness_standing_lost',
    'witness_challenge_invalid',
    'genesis_required',
    'genesis_exists',
    'genesis_incomplete',
    'quorum_unreachable',
    'signature_invalid',
    'record_exists',
    'holon_suspended',
    'holon_terminated',
    'holon_not_suspended',
    'conflict',
    'delegation_invalid',
    'role_branch_conflict',
    'role_held',
    'scanner_exists',
    'findings_replayed',
  ]),
  ...contracts(413, 1, ['payload_too_large']),
  ...contracts(414, 1, ['uri_too_long']),
  ...contracts(415, 1, ['unsupported_media_type']),
  ...contracts(416, 1, ['proof_out_of_range']),
  // The decision is sealed in a form this build cannot re-run (another version, model or constitution).
  ...contracts(422, 1, ['replay_unsupported']),
  ...contracts(429, 1, ['rate_limited']),
  ...contracts(431, 1, ['request_header_fields_too_large']),
  // Faults of the server, never of the request: a bare 500 over HTTP.
  ...contracts(500, 1, [
    'internal',
    'internal_error',
    'decrypt_failed',
    'data_key_exhausted',
    'adjudication_failed',
    'chain_frozen',
    'key_not_found',
    'key_file_invalid',
    'key_file_insecure',
    'key_exists',
    'key_mismatch',
    'checkpoint_invalid',
    'checkpoint_mismatch',
    'invalid_constitution',
    'invalid_invariant_set',
    'circuit_breaker_invalid',
    'quote_verifier_missing',
    'tee_policy_invalid',
    'record_failed',
    'dir_insecure',
  ]),
  ...contracts(500, 1, ['state_invalid'], { disclosed: true }),
  ...contracts(500, 2, ['config_invalid']),
  ...contracts(500, 3, ['store_exists', 'master_key_invalid', 'store_format_old']),
  ...contracts(502, 1, ['upstream_unavailable', 'upstream_error', 'upstream_failed']),
  ...contracts(504, 1, ['upstream_timeout']),
  ...contracts(503, 1, ['log_closed', 'not_ready', 'timeout', 'gateway_closed']),
  // log_rolled_back: a witness has cosigned a checkpoint the tree does not extend; no writes.
  ...contracts(503, 3, ['store_error', 'store_missing', 'log_rolled_back']),
]);

/** The contract of a code; a code missing from the registry is a fault of the server. */
export function errorContract(code: string): ErrorContract {
  return ERROR_CODES.get(code) ?? { status: 500, exit: 1 };
}
