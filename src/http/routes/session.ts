/** Browser sessions: sign in with a token, get CSRF tokens, sign out, and who am I. */
import { SigilError } from '../../core/errors.ts';
import { SESSION_COOKIE, sessionCookie } from '../auth.ts';
import type { AddRoute, RouteDeps } from '../route.ts';
import { CsrfToken, Session, SessionRequest, WhoAmI } from '../schemas.ts';
import { wireCaller, wireIdentity, wireTime } from '../../runtime/wire.ts';

export function sessionRoutes(add: AddRoute, deps: RouteDeps): void {
  const { sessions } = deps;

  add({
    method: 'POST',
    url: '/api/session',
    summary: 'Opens a cookie session (HttpOnly, SameSite=Strict) for an API token',
    tag: 'session',
    auth: 'public',
    csrfExempt: true,
    body: SessionRequest,
    responses: {
      201: { description: 'Signed in; send csrf_token as X-CSRF-Token', schema: Session },
    },
    errors: [400, 401, 413, 415, 429],
    handler: async ({ req, body, runtime, reply }) => {
      await sessions.throttle(body.token, req.ip);
      const session = await runtime.sessions.open(body.token, sessions.limits);
      const { caller } = session;
      const csrf = sessions.csrfToken(session.cookie, session.expiresAt);
      reply.setCookie(SESSION_COOKIE, session.cookie, {
        httpOnly: true,
        sameSite: 'strict',
        secure: deps.secureCookies,
        path: '/',
        maxAge: Math.floor(sessions.limits.ttlMs / 1000),
      });
      reply.header('cache-control', 'no-store');
      return {
        subject: caller.subject,
        loa: caller.loa,
        csrf_token: csrf.token,
        expires_at: wireTime(session.expiresAt),
      };
    },
  });

  add({
    method: 'DELETE',
    url: '/api/session',
    summary: 'Ends the cookie session',
    tag: 'session',
    auth: 'caller',
    responses: { 204: { description: 'Signed out' } },
    errors: [401, 403],
    handler: async ({ req, runtime, reply }) => {
      // Closed in the store: the cookie is refused on every instance from now on.
      if (req.viaSession) await runtime.sessions.close(sessionCookie(req));
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send();
    },
  });

  add({
    method: 'POST',
    url: '/api/csrf/token',
    summary: 'Mints a CSRF token for the current cookie session',
    tag: 'session',
    auth: 'caller',
    csrfExempt: true,
    responses: { 200: { description: 'A token for X-CSRF-Token', schema: CsrfToken } },
    errors: [400, 401],
    handler: async ({ req, runtime, reply }) => {
      const cookie = req.viaSession ? sessionCookie(req) : undefined;
      const session = cookie === undefined ? undefined : await runtime.sessions.find(cookie);
      if (cookie === undefined || session === undefined) {
        throw new SigilError(
          'bad_request',
          'CSRF tokens belong to cookie sessions; Bearer requests need none',
        );
      }
      const csrf = sessions.csrfToken(cookie, session.expiresAt);
      reply.header('cache-control', 'no-store');
      return { csrf_token: csrf.token, expires_at: wireTime(csrf.expiresAt) };
    },
  });

  add({
    method: 'GET',
    url: '/api/whoami',
    summary: 'The caller these credentials make (the anonymous Guest without any)',
    tag: 'session',
    auth: 'caller',
    responses: {
      200: {
        description: 'The caller and the runtime identity',
        schema: WhoAmI,
      },
    },
    errors: [401],
    handler: async ({ caller, runtime }) => ({
      caller: wireCaller(caller),
      runtime: wireIdentity(runtime.identity()),
    }),
  });
}
