import { SigilError } from '../core/errors.ts';

/** RFC 9457 problem details, with Sigil's stable `code`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  request_id?: string;
  field?: string;
  decision_id?: string;
  retry_after?: number;
}

const STATUS_BY_CODE: Record<string, number> = {
  bad_request: 400,
  record_invalid: 400,
  invalid_did: 400,
  invalid_loa: 400,
  invalid_encoding: 400,
  invalid_signer_type: 400,
  not_canonicalizable: 400,
  model_invalid: 400,
  license_malformed: 400,
  invalid_input: 400,
  invalid_time: 400,
  invalid_key: 400,
  invalid_role: 400,
  invalid_consent: 400,
  role_unknown: 400,
  combinator_invalid: 400,
  holon_invalid: 400,
  halt_invalid: 400,
  approval_invalid: 400,
  quorum_requirements_invalid: 400,
  quorum_ttl_invalid: 400,
  unknown_setting: 400,
  setting_invalid: 400,
  change_invalid: 400,
  cbor_invalid: 400,
  unauthenticated: 401,
  token_invalid: 401,
  loa_insufficient: 403,
  trust_below_threshold: 403,
  mcp_rule_violated: 403,
  invariant_violated: 403,
  credential_requires_human: 403,
  csrf_invalid: 403,
  scope_denied: 403,
  escalation_required: 403,
  action_disabled: 403,
  unknown_action: 403,
  feature_missing: 403,
  internal_deny: 403,
  forbidden: 403,
  single_root_violation: 403,
  halt_not_permitted: 403,
  witness_not_human: 403,
  actor_not_human: 403,
  approver_not_human: 403,
  breaker_open: 403,
  kind_reserved: 403,
  delegation_too_wide: 403,
  delegation_too_deep: 403,
  not_found: 404,
  token_not_found: 404,
  record_not_found: 404,
  module_not_found: 404,
  proposal_not_found: 404,
  holon_not_found: 404,
  consent_not_found: 404,
  delegation_not_found: 404,
  memory_not_found: 404,
  method_not_allowed: 405,
  quorum_required: 409,
  duplicate_attestation: 409,
  proposal_expired: 409,
  proposal_not_pending: 409,
  proposal_tampered: 409,
  witness_exists: 409,
  record_exists: 409,
  holon_suspended: 409,
  holon_terminated: 409,
  witness_unknown: 409,
  witness_revoked: 409,
  delegation_invalid: 409,
  signature_invalid: 409,
  conflict: 409,
  payload_too_large: 413,
  uri_too_long: 414,
  unsupported_media_type: 415,
  proof_out_of_range: 416,
  rate_limited: 429,
  request_timeout: 408,
  request_header_fields_too_large: 431,
  internal: 500,
  state_invalid: 500,
  store_error: 503,
  store_missing: 503,
  log_closed: 503,
  not_ready: 503,
  timeout: 503,
};

/**
 * Codes that describe a fault of the server, not of the request (a store or key failure): they
 * answer 500 `internal` with no detail, so nothing about the server's state leaks.
 */
const SERVER_FAULTS = new Set([
  'internal',
  'internal_error',
  'decrypt_failed',
  'data_key_exhausted',
  'adjudication_failed',
  'chain_frozen',
  'replay_unsupported',
  'key_not_found',
  'key_file_invalid',
  'key_file_insecure',
  'dir_insecure',
  'key_exists',
  'key_mismatch',
  'master_key_invalid',
  'config_invalid',
  'checkpoint_invalid',
  'checkpoint_mismatch',
  'store_exists',
]);

/** True when an error code is the server's fault (answered as a bare 500 `internal`). */
export function isServerFault(code: string): boolean {
  return SERVER_FAULTS.has(code);
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The HTTP status for a stable error code; unknown codes are denials (403), never 500. */
export function statusForCode(code: string): number {
  return STATUS_BY_CODE[code] ?? 403;
}

/** Builds the problem body for an error code. */
export function problem(code: string, detail: string, extra: Partial<Problem> = {}): Problem {
  const status = extra.status ?? statusForCode(code);
  return {
    type: `https://sigil.dev/problems/${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    ...extra,
  };
}

/**
 * Maps a SigilError to a problem body, carrying safe details (field, decision id, retry after
 * in whole seconds, from `retry_after` seconds or `retry_after_ms`). A server fault becomes a bare
 * 500 `internal` naming only the request id.
 */
export function problemFromSigilError(err: SigilError, requestId: string): Problem {
  if (isServerFault(err.code)) {
    return problem('internal', 'internal error', { request_id: requestId });
  }
  const d = err.details ?? {};
  const extra: Partial<Problem> = { request_id: requestId };
  if (typeof d.field === 'string') extra.field = d.field;
  if (typeof d.decision_id === 'string') extra.decision_id = d.decision_id;
  if (typeof d.retry_after === 'number') extra.retry_after = Math.max(1, Math.ceil(d.retry_after));
  else if (typeof d.retry_after_ms === 'number')
    extra.retry_after = Math.max(1, Math.ceil(d.retry_after_ms / 1000));
  return problem(err.code, err.message, extra);
}
