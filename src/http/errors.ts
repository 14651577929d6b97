/**
 * Every failure as RFC 9457 problem JSON. SigilErrors keep their stable code; fastify's own
 * errors (bad JSON, body too large, wrong media type, schema validation) get stable codes too;
 * anything unexpected is a bare 500 `internal` with the request id, logged but never echoed.
 */
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isSigilError } from '../core/errors.ts';
import { problem, problemFromSigilError, type Problem } from './problem.ts';

export const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';

const CODE_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'request_timeout',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  431: 'request_header_fields_too_large',
};

const FASTIFY_CODES: Record<string, { status: number; code: string; detail: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    code: 'payload_too_large',
    detail: 'the body is larger than the configured limit',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'unsupported_media_type',
    detail: 'bodies must be application/json',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    code: 'bad_request',
    detail: 'Content-Length does not match the body',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'bad_request', detail: 'empty JSON body' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'bad_request', detail: 'invalid JSON body' },
  FST_ERR_BAD_URL: { status: 400, code: 'bad_request', detail: 'the URL is malformed' },
  FST_ERR_MAX_PARAM_LENGTH: {
    status: 414,
    code: 'uri_too_long',
    detail: 'a path parameter is longer than any id',
  },
  FST_ERR_ASYNC_CONSTRAINT: { status: 400, code: 'bad_request', detail: 'bad request' },
};

interface ValidationIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** The field a schema validation error is about, as `body.links[0].id`-style text. */
function validationProblem(err: FastifyError, requestId: string): Problem {
  const issue = (err.validation?.[0] ?? {}) as ValidationIssue;
  const part = err.validationContext ?? 'body';
  const path = (issue.instancePath ?? '')
    .split('/')
    .filter((s) => s !== '')
    .map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s.replace(/~1/g, '/').replace(/~0/g, '~')}`))
    .join('');
  const extra =
    typeof issue.params?.missingProperty === 'string'
      ? `.${issue.params.missingProperty}`
      : typeof issue.params?.additionalProperty === 'string'
        ? `.${issue.params.additionalProperty}`
        : '';
  const field = `${part}${path}${extra}`;
  const why =
    issue.keyword === 'additionalProperties'
      ? 'is not a known field'
      : (issue.message ?? 'is invalid');
  return problem('bad_request', `${field} ${why}`.slice(0, 300), { field, request_id: requestId });
}

/** The problem for any error thrown while handling a request. */
export function problemFor(err: unknown, req: FastifyRequest): Problem {
  if (isSigilError(err)) return problemFromSigilError(err, req.id);
  const fe = err as FastifyError;
  if (fe && Array.isArray(fe.validation)) return validationProblem(fe, req.id);
  const known = typeof fe?.code === 'string' ? FASTIFY_CODES[fe.code] : undefined;
  if (known) return problem(known.code, known.detail, { status: known.status, request_id: req.id });
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    const code = CODE_BY_STATUS[status] ?? 'bad_request';
    return problem(code, 'the request was rejected', { status, request_id: req.id });
  }
  return problem('internal', 'internal error', { status: 500, request_id: req.id });
}

/** Sends a problem with its content type, Retry-After when limited, and no caching. */
export function sendProblem(reply: FastifyReply, body: Problem): FastifyReply {
  reply.code(body.status).type(PROBLEM_TYPE).header('cache-control', 'no-store');
  if (body.retry_after !== undefined) reply.header('retry-after', String(body.retry_after));
  return reply.send(body);
}

/** Installs the error, not-found and client-error handlers on `app`. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    const body = problemFor(err, req);
    if (body.status === 500) {
      req.log.error(
        { err: { message: (err as Error)?.message, code: (err as FastifyError)?.code } },
        'request failed',
      );
    }
    return sendProblem(reply, body);
  });
  app.setNotFoundHandler((req, reply) =>
    sendProblem(
      reply,
      problem('not_found', `no route ${req.method} ${req.url.split('?')[0]!.slice(0, 200)}`, {
        request_id: req.id,
      }),
    ),
  );
}

/** Framework errors raised before routing (malformed URLs): problem JSON too. */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  void sendProblem(reply, problemFor(err, req));
}

/**
 * Errors on the raw connection (unparseable HTTP, headers too large, timeouts): a problem
 * response when the socket can still take one, then the connection is closed.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code, detail] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'request_header_fields_too_large', 'request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'the request took too long to arrive']
        : [400, 'bad_request', 'malformed HTTP request'];
  const body = JSON.stringify(problem(code, detail, { status }));
  socket.end(
    `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\n` +
      `Content-Type: ${PROBLEM_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
