import { errorContract, type SigilError } from '../core/errors.ts';
import type { Violation } from '../gatekeeper/index.ts';

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
  /** A kernel denial's violations, exactly as sealed in its decision. */
  violations?: Violation[];
}

/**
 * True when an error code is the server's fault (answered as a bare 500 `internal`, so nothing
 * about the server's state leaks); so is any code missing from the registry.
 */
export function isServerFault(code: string): boolean {
  const contract = errorContract(code);
  return contract.status === 500 && contract.disclosed !== true;
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
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The HTTP status for a stable error code, from the one registry (src/core/errors.ts). */
export function statusForCode(code: string): number {
  return errorContract(code).status;
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
 * Maps a SigilError to a problem body, carrying safe details (field, decision id, the kernel's
 * violations, retry after in whole seconds, from `retry_after` seconds or `retry_after_ms`). A server fault becomes a bare
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
  // The caller's own denial: its reasons are already in the sealed decision it may read.
  if (Array.isArray(d.violations) && d.violations.length > 0) {
    extra.violations = d.violations as Violation[];
  }
  if (typeof d.retry_after === 'number') extra.retry_after = Math.max(1, Math.ceil(d.retry_after));
  else if (typeof d.retry_after_ms === 'number')
    extra.retry_after = Math.max(1, Math.ceil(d.retry_after_ms / 1000));
  return problem(err.code, err.message, extra);
}
