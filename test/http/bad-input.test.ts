/**
 * 2,000 generated malformed requests against the real server (a child process): broken JSON,
 * wrong types, huge and deep bodies, bad tokens and cookies, bad ids and query strings, invalid
 * UTF-8 and unicode edge cases, wrong media types and methods, and malformed HTTP on raw
 * sockets. Every answer must be a 4xx RFC 9457 problem; the process must stay up, stop cleanly,
 * and `sigil validate` must pass on its data dir afterwards. Deterministic (seeded).
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  ROOMY_LIMITS,
  call,
  problemIssues,
  runCli,
  startServer,
  tempDataDir,
  type Answer,
  type ServerProcess,
} from './helpers.ts';

const TOTAL = 2000;
const SEED = 0x51617;
const BODY_LIMIT = 64 * 1024;
const MAX_DEPTH = 32;
const IN_FLIGHT = 16;

/** mulberry32: a small seeded PRNG, so every run sends the same requests. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(SEED);
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const ascii = (n: number) =>
  Array.from({ length: n }, () => String.fromCharCode(int(0x21, 0x7e))).join('');

/** One malformed request: over fetch, or raw bytes over a socket. */
type Case =
  | {
      transport: 'fetch';
      kind: string;
      method: string;
      path: string;
      headers: Record<string, string>;
      body?: string | Uint8Array;
      auth: 'root' | 'none' | 'given';
    }
  | { transport: 'socket'; kind: 'raw'; raw: Buffer };

type FieldType = 'string' | 'integer' | 'boolean' | 'object' | 'array';

/** POST endpoints with a valid body and the typed (non-any, non-nullable) fields of it. */
const TEMPLATES: Array<{
  path: string;
  body: Record<string, unknown>;
  fields: Record<string, FieldType>;
}> = [
  {
    path: '/api/trust/check',
    body: { action: 'canon.read', target: 't' },
    fields: { action: 'string', target: 'string' },
  },
  {
    path: '/api/canon/user/write',
    body: { payload: { a: 1 }, id: 'x-1', links: [] },
    fields: { id: 'string', links: 'array' },
  },
  {
    path: '/api/canon/system/propose',
    body: { change: { setting: 'irl.threshold', value: 0.4 } },
    fields: {},
  },
  {
    path: '/api/canon/system/attest',
    body: { proposal_id: 'p', signature: 's', provenance_signature: 's' },
    fields: { proposal_id: 'string', signature: 'string', provenance_signature: 'string' },
  },
  {
    path: '/api/canon/system/commit',
    body: { proposal_id: 'p' },
    fields: { proposal_id: 'string' },
  },
  {
    path: '/api/canon/system/witnesses',
    body: { challenge_id: 'c', public_key: 'A'.repeat(43), proof: 'p' },
    fields: { challenge_id: 'string', public_key: 'string', proof: 'string' },
  },
  {
    path: '/api/license/create',
    body: { subject: 'did:sigil:a', loa: 'observer' },
    fields: { subject: 'string', loa: 'string', name: 'string' },
  },
  { path: '/api/memory/write', body: { key: 'k', value: 1 }, fields: { key: 'string' } },
  {
    path: '/api/consent',
    body: { bailee: 'did:sigil:b', scope: 's', purpose: 'retrieval' },
    fields: { bailee: 'string', scope: 'string', purpose: 'string' },
  },
  {
    path: '/api/holons',
    body: { id: 'h', capabilities: [], program: { type: 'identity' } },
    fields: { id: 'string', capabilities: 'array', program: 'object' },
  },
  {
    path: '/api/tokens',
    body: { subject: 'did:sigil:t', loa: 'guest' },
    fields: { subject: 'string', loa: 'string', scopes: 'array', signer: 'object' },
  },
  { path: '/api/session', body: { token: 'sgl_x' }, fields: { token: 'string' } },
  {
    path: '/api/approvals/x',
    body: { verdict: 'approved', signature: 'AAAA' },
    fields: { verdict: 'string', signature: 'string' },
  },
  {
    path: '/api/holons/h/halt',
    body: { mode: 'suspend' },
    fields: { mode: 'string', reason: 'string' },
  },
  { path: '/api/module/echo/run', body: { input: 1 }, fields: {} },
];
const PROTECTED: Array<[string, string]> = [
  ['POST', '/api/trust/check'],
  ['GET', '/api/trust/status'],
  ['GET', '/api/canon/records'],
  ['GET', '/api/canon/records/x'],
  ['POST', '/api/canon/user/write'],
  ['GET', '/api/memory/list'],
  ['GET', '/api/tokens'],
  ['POST', '/api/model/refresh'],
  ['GET', '/api/whoami'],
  ['DELETE', '/api/session'],
  ['POST', '/api/csrf/token'],
];
const WEIRD = [
  '\u0000',
  '\u202e',
  '\ufeff',
  '\ud83d\ude00',
  '\u0301',
  'Ω',
  '\u200b',
  '漢字',
  '\uffff',
  '..',
  '%',
  ' ',
  '\\',
  '"',
  '\n',
];

function wrongValue(type: FieldType): unknown {
  const all: Array<[FieldType | 'null' | 'number', unknown]> = [
    ['string', 'wrong'],
    ['integer', 42],
    ['number', 1.5],
    ['boolean', true],
    ['object', { nested: [1] }],
    ['array', ['x', 2]],
    ['null', null],
  ];
  return pick(all.filter(([t]) => t !== type))[1];
}

function jsonPost(path: string, body: string | Uint8Array, kind: string): Case {
  return {
    transport: 'fetch',
    kind,
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json' },
    body,
    auth: 'root',
  };
}

const generators: Array<[number, () => Case]> = [
  // broken JSON
  [
    300,
    () => {
      const t = pick(TEMPLATES);
      const text = JSON.stringify(t.body);
      for (;;) {
        const at = int(0, text.length - 1);
        const broken = pick([
          () => text.slice(0, at),
          () =>
            text.slice(0, at) +
            pick(['{', '}', ',', ':', '"', "'", 'NaN', 'undefined', '//']) +
            text.slice(at),
          () => text.replace(/"/g, "'"),
          () => `${text},`,
          () => text.replace(':', ''),
          () => `{"a":1}{"b":2}`,
          () => `[${text}`,
          () => ascii(int(1, 40)),
        ])();
        try {
          JSON.parse(broken);
        } catch {
          if (broken.trim() !== '') return jsonPost(t.path, broken, 'broken-json');
        }
      }
    },
  ],
  // wrong types, missing fields, unknown fields
  [
    400,
    () => {
      const t = pick(TEMPLATES);
      const body: Record<string, unknown> = { ...t.body };
      const names = Object.keys(t.fields);
      const mode =
        names.length === 0
          ? pick(['extra', 'notobject'])
          : pick(['type', 'type', 'missing', 'extra', 'notobject']);
      if (mode === 'type') {
        const f = pick(names);
        body[f] = wrongValue(t.fields[f]!);
      } else if (mode === 'missing') {
        const required = Object.keys(t.body).filter(
          (k) =>
            k in t.fields && !['links', 'id', 'name', 'scopes', 'signer', 'reason'].includes(k),
        );
        if (required.length === 0) body[`x${ascii(3)}`] = 1;
        else delete body[pick(required)];
      } else if (mode === 'extra') {
        body[pick(['__extra', 'admin', 'loa_override', 'x'])] = pick([1, 'y', null, {}]);
      }
      const text =
        mode === 'notobject'
          ? JSON.stringify(pick([1, 'str', [t.body], true]))
          : JSON.stringify(body);
      return jsonPost(t.path, text, 'wrong-type');
    },
  ],
  // huge bodies
  [
    60,
    () => {
      const t = pick(TEMPLATES);
      const size = int(BODY_LIMIT + 1, BODY_LIMIT * 4);
      return jsonPost(t.path, JSON.stringify({ ...t.body, pad: 'x'.repeat(size) }), 'huge');
    },
  ],
  // deep bodies
  [
    150,
    () => {
      const t = pick(TEMPLATES);
      const depth = int(MAX_DEPTH + 1, 3000);
      const open = Array.from({ length: depth }, () => (rand() < 0.5 ? '[' : '{"k":')).join('');
      const close = [...open.matchAll(/\[|\{"k":/g)]
        .map((m) => (m[0] === '[' ? ']' : '}'))
        .reverse()
        .join('');
      return jsonPost(t.path, `{"payload":${open}1${close}}`, 'deep');
    },
  ],
  // bad tokens and cookies
  [
    400,
    () => {
      const [method, path] = pick(PROTECTED);
      const latin1 = () =>
        Array.from({ length: int(1, 30) }, () => String.fromCharCode(int(0xa1, 0xff))).join('');
      const header = pick([
        () => ({ authorization: `Bearer sgl_${ascii(43).replace(/[^A-Za-z0-9_-]/g, 'a')}` }),
        () => ({ authorization: `Bearer ${ascii(int(1, 60))}` }),
        () => ({ authorization: `Bearer sgl_${latin1()}` }),
        () => ({ authorization: `Basic ${Buffer.from('root:root').toString('base64')}` }),
        () => ({ authorization: 'Bearer' }),
        () => ({ authorization: `Bearer ${'A'.repeat(int(257, 4000))}` }),
        () => ({ authorization: `bearer  sgl_${'z'.repeat(42)}` }),
        () => ({ authorization: latin1() }),
        () => ({ cookie: `sigil_session=${ascii(int(1, 80)).replace(/[;,\s]/g, 'q')}` }),
        () => ({ cookie: `sigil_session=${'0'.repeat(32)}.${'A'.repeat(43)}` }),
        () => ({ cookie: `sigil_session=${latin1()}` }),
      ])();
      const body =
        method === 'POST'
          ? JSON.stringify({ action: 'canon.read', target: 't', payload: {} })
          : undefined;
      return {
        transport: 'fetch',
        kind: 'bad-token',
        method,
        path,
        headers: { ...header, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body } : {}),
        auth: 'given',
      };
    },
  ],
  // bad ids, names, keys and query strings
  [
    300,
    () => {
      const id = pick([
        () => encodeURIComponent(Array.from({ length: int(1, 8) }, () => pick(WEIRD)).join('')),
        () => 'x'.repeat(int(257, 600)),
        () => encodeURIComponent(`${pick(WEIRD)}${ascii(int(1, 20))}`),
        () => pick(['%ZZ', '%', '%E0%A4%A', '%C0%AF', '%ED%A0%80', '%F4%90%80%80']),
        () => `${ascii(int(1, 10)).replace(/[/?#%]/g, '_')}${pick(WEIRD.map(encodeURIComponent))}`,
      ])();
      const [method, path] = pick([
        ['GET', `/api/canon/records/${id}`],
        ['GET', `/api/canon/system/proposals/${id}`],
        ['DELETE', `/api/consent/${id}`],
        ['DELETE', `/api/tokens/${id}`],
        ['GET', `/api/memory/read/${id}`],
        ['POST', `/api/module/${id}/run`],
        ['POST', `/api/holons/${id}/halt`],
        ['POST', `/api/approvals/${id}`],
        ['GET', `/api/log/proof/inclusion?seq=${id}`],
        ['GET', `/api/log/proof/consistency?from=${id}&to=2`],
        ['GET', `/api/canon/records?limit=${pick(['0', '1001', '-1', 'abc', id])}`],
        ['GET', `/api/canon/records?kind=${pick(['bogus', id])}`],
        ['GET', `/api/canon/records?since=${id}`],
        ['GET', `/api/canon/records?cursor=${pick(['-1', 'x', id])}`],
        ['GET', `/api/canon/records?unknown=${id}`],
      ] as Array<[string, string]>);
      const body = path.endsWith('/halt')
        ? JSON.stringify({ mode: 'suspend' })
        : path.startsWith('/api/approvals/')
          ? JSON.stringify({ verdict: 'approved', signature: 'AAAA' })
          : method === 'POST'
            ? '{}'
            : undefined;
      return {
        transport: 'fetch',
        kind: 'bad-id',
        method,
        path,
        headers: body ? { 'content-type': 'application/json' } : ({} as Record<string, string>),
        ...(body ? { body } : {}),
        auth: 'root',
      };
    },
  ],
  // invalid UTF-8 and unicode edge cases in constrained fields
  [
    250,
    () => {
      const choice = int(0, 2);
      if (choice === 0) {
        const bad = pick([
          [0xc0, 0xaf],
          [0xed, 0xa0, 0x80],
          [0xff],
          [0x80],
          [0xe2, 0x82],
          [0xf8, 0x88, 0x80, 0x80, 0x80],
          [0xf4, 0x90, 0x80, 0x80],
        ]);
        const pre = Buffer.from('{"action":"canon.read","target":"');
        const post = Buffer.from('"}');
        return jsonPost(
          '/api/trust/check',
          new Uint8Array(Buffer.concat([pre, Buffer.from(bad), post])),
          'bad-utf8',
        );
      }
      // always at least one character no id, DID or key pattern admits
      const weird =
        Array.from({ length: int(0, 5) }, () => pick([...WEIRD, '\\udfff'])).join('') +
        pick(['\u202e', 'Ω', '\\ud800', '\\u0000', '\ud83d\ude00', ' ']);
      const [path, field, base] = pick([
        ['/api/canon/user/write', 'id', { payload: 1 }],
        ['/api/canon/system/attest', 'proposal_id', { signature: 's', provenance_signature: 's' }],
        ['/api/canon/system/commit', 'proposal_id', {}],
        ['/api/canon/system/witnesses', 'challenge_id', { public_key: 'A'.repeat(43), proof: 'p' }],
        ['/api/memory/write', 'key', { value: 1 }],
        ['/api/consent', 'bailee', { scope: 's', purpose: 'retrieval' }],
        ['/api/tokens', 'subject', { loa: 'guest' }],
        ['/api/license/create', 'subject', { loa: 'observer' }],
        ['/api/holons', 'id', { capabilities: [], program: { type: 'identity' } }],
      ] as Array<[string, string, Record<string, unknown>]>);
      const text = JSON.stringify({ ...base, [field]: 'PLACEHOLDER' }).replace(
        'PLACEHOLDER',
        weird.replace(/\n/g, '\\n').replace(/"/g, '\\"').split('\u0000').join('\\u0000'),
      );
      return jsonPost(
        path,
        choice === 1 ? text : `\ufeff${text}`.replace('{', '{"\\ud800":1,'),
        'unicode',
      );
    },
  ],
  // wrong media types and methods
  [
    90,
    () => {
      const t = pick(TEMPLATES);
      const which = int(0, 3);
      if (which === 3) {
        return {
          transport: 'fetch',
          kind: 'method',
          method: pick(['PUT', 'PATCH']),
          path: pick(['/api/trust/check', '/api/canon/records', '/healthz', '/api/tokens']),
          headers: { 'content-type': 'application/json' },
          body: '{}',
          auth: 'root',
        };
      }
      return {
        transport: 'fetch',
        kind: 'media-type',
        method: 'POST',
        path: t.path,
        headers: {
          'content-type': pick([
            'text/plain',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x',
            'application/xml',
            'application/octet-stream',
            'application/jsonx',
          ]),
        },
        body: which === 0 ? JSON.stringify(t.body) : 'a=1&b=2',
        auth: 'root',
      };
    },
  ],
  // malformed HTTP on a raw socket
  [
    50,
    () => {
      const raw = pick([
        () =>
          `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(int(17_000, 40_000))}\r\n\r\n`,
        () => `POST /api/trust/check HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}`,
        () => `GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n`,
        () => `GARBAGE\r\n\r\n`,
        () => `GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n`,
        () =>
          `POST /api/trust/check HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
        () =>
          `GET /api/trust/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \u00ff\u0100\ud83d\ude00\r\n\r\n`,
        () =>
          `GET /api/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sgl_\u00e9\u6f22\r\n\r\n`,
      ])();
      return { transport: 'socket', kind: 'raw', raw: Buffer.from(raw, 'utf8') };
    },
  ],
];

function generate(): Case[] {
  const cases: Case[] = [];
  for (const [count, gen] of generators) for (let i = 0; i < count; i++) cases.push(gen());
  return cases;
}

/** Sends raw bytes and parses the HTTP answer (status, content type, body). */
function rawRequest(url: string, bytes: Buffer): Promise<Answer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error('raw request timed out')));
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', (err) => (chunks.length > 0 ? socket.end() : reject(err)));
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      const type = /content-type: *([^\r\n]+)/i.exec(head)?.[1] ?? '';
      const bodyText = rest.join('\r\n\r\n');
      let body: unknown = bodyText;
      try {
        body = JSON.parse(bodyText);
      } catch {
        // not JSON
      }
      resolve({
        status,
        type,
        headers: new Headers({ 'content-type': type }),
        body,
        text: bodyText,
      });
    });
    socket.write(bytes, () => socket.end());
  });
}

let dir: ReturnType<typeof tempDataDir>;
let server: ServerProcess;

beforeAll(async () => {
  dir = tempDataDir(
    `[rate_limit]\n${ROOMY_LIMITS}\n[server]\nbody_limit_bytes = ${BODY_LIMIT}\nmax_json_depth = ${MAX_DEPTH}\n`,
  );
  server = await startServer(dir.dataDir, dir.config);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  dir?.remove();
});

it(`answers ${TOTAL} malformed requests with 4xx problem JSON and stays up`, async () => {
  const cases = generate();
  expect(cases).toHaveLength(TOTAL);
  const failures: string[] = [];
  const byKind = new Map<string, Map<number, number>>();
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++]!;
      let a: Answer;
      try {
        a =
          c.transport === 'socket'
            ? await rawRequest(server.url, c.raw)
            : await call(server.url, c.method, c.path, {
                ...(c.auth === 'root' ? { token: server.rootToken! } : {}),
                headers: c.headers,
                ...(c.body !== undefined ? { raw: c.body } : {}),
              });
      } catch (err) {
        failures.push(`${c.kind}: transport error ${(err as Error).message}`);
        continue;
      }
      const counts = byKind.get(c.kind) ?? new Map<number, number>();
      counts.set(a.status, (counts.get(a.status) ?? 0) + 1);
      byKind.set(c.kind, counts);
      const issues = a.status >= 400 && a.status < 500 ? problemIssues(a) : [`status ${a.status}`];
      if (issues.length > 0) {
        const what =
          c.transport === 'socket'
            ? c.raw.toString('latin1').slice(0, 80)
            : `${c.method} ${c.path.slice(0, 80)} ${String(c.body ?? '').slice(0, 120)}`;
        failures.push(
          `${c.kind}: ${issues.join(', ')} ← ${JSON.stringify(what)} → ${a.text.slice(0, 200)}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const summary = [...byKind].map(
    ([k, m]) => `${k}: ${[...m].map(([s, n]) => `${s}×${n}`).join(' ')}`,
  );
  expect(failures.slice(0, 20), summary.join('\n')).toEqual([]);

  const health = await call(server.url, 'GET', '/healthz');
  expect(health.status).toBe(200);
  const ready = await call(server.url, 'GET', '/readyz');
  expect(ready.status).toBe(200);
}, 120_000);

it('stops cleanly and `sigil validate` passes on the data dir afterwards', async () => {
  expect(server.child.exitCode).toBeNull();
  expect(await server.stop()).toBe(0);
  const validate = await runCli(['validate', '--data-dir', dir.dataDir]);
  expect(validate.code, validate.stderr).toBe(0);
}, 60_000);
