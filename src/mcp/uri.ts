/**
 * Resource URIs as the upstream will resolve them. A policy row is matched against the URI the
 * upstream will actually open, so before matching a URI is normalised (RFC 3986 §6.2.2: scheme
 * lower-cased, percent-escapes of unreserved characters decoded, other escapes upper-cased, dot
 * segments removed) and that normalised URI is what goes upstream. Forms whose meaning depends
 * on how many times, or by whom, the URI is decoded are refused outright: encoded separators
 * (`%2F`, `%5C`), backslashes, encoded NUL, double encoding (`%25` followed by hex digits) and
 * malformed escapes.
 */

/** The outcome of {@link normaliseResourceUri}: the URI to match and send, or why it is refused. */
export type UriRefusal = { ok: false; reason: string };
export type NormalisedUri = { ok: true; uri: string };

const SCHEME_RE = /^([A-Za-z][A-Za-z0-9+.-]*):/;
const UNRESERVED_RE = /[A-Za-z0-9\-._~]/;
const HEX_RE = /^[0-9A-Fa-f]{2}$/;
/** Longer URIs are refused: no resource needs them, and matching stays bounded. */
export const MAX_URI_LENGTH = 8192;

/** RFC 3986 §5.2.4 remove_dot_segments. */
export function removeDotSegments(path: string): string {
  let input = path;
  const out: string[] = [];
  while (input.length > 0) {
    if (input.startsWith('../')) input = input.slice(3);
    else if (input.startsWith('./')) input = input.slice(2);
    else if (input.startsWith('/./')) input = input.slice(2);
    else if (input === '/.') input = '/';
    else if (input.startsWith('/../')) {
      input = input.slice(3);
      out.pop();
    } else if (input === '/..') {
      input = '/';
      out.pop();
    } else if (input === '.' || input === '..') input = '';
    else {
      const next = input.indexOf('/', input.startsWith('/') ? 1 : 0);
      const segment = next === -1 ? input : input.slice(0, next);
      out.push(segment);
      input = next === -1 ? '' : input.slice(next);
    }
  }
  return out.join('');
}

/** Decodes escapes of unreserved characters and upper-cases the rest; refuses unsafe forms. */
function normaliseEscapes(part: string): string | UriRefusal {
  let out = '';
  for (let i = 0; i < part.length; i++) {
    const ch = part[i]!;
    if (ch !== '%') {
      out += ch;
      continue;
    }
    const hex = part.slice(i + 1, i + 3);
    if (!HEX_RE.test(hex)) return { ok: false, reason: 'malformed percent-escape' };
    const upper = hex.toUpperCase();
    if (upper === '2F' || upper === '5C') {
      return { ok: false, reason: `encoded separator %${upper}` };
    }
    if (upper === '00') return { ok: false, reason: 'encoded NUL' };
    if (upper === '25' && HEX_RE.test(part.slice(i + 3, i + 5))) {
      return { ok: false, reason: 'double percent-encoding' };
    }
    const decoded = String.fromCharCode(parseInt(hex, 16));
    out += UNRESERVED_RE.test(decoded) ? decoded : `%${upper}`;
    i += 2;
  }
  return out;
}

/**
 * The normalised form of `uri`, or why it is refused. Query and fragment keep their place but
 * get the same escape normalisation; dot segments are removed from the path only.
 */
export function normaliseResourceUri(uri: string): NormalisedUri | UriRefusal {
  if (uri.length === 0 || uri.length > MAX_URI_LENGTH) {
    return { ok: false, reason: `a resource URI has 1..${MAX_URI_LENGTH} characters` };
  }
  if (uri.includes('\\')) return { ok: false, reason: 'backslash in URI' };
  // Controls and spaces are never part of a URI (RFC 3986 §2); an upstream might trim them.
  if ([...uri].some((c) => c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) === 0x7f)) {
    return { ok: false, reason: 'control character or space in URI' };
  }
  const scheme = SCHEME_RE.exec(uri);
  if (scheme === null) return { ok: false, reason: 'not an absolute URI (no scheme)' };
  const decoded = normaliseEscapes(uri.slice(scheme[0].length));
  if (typeof decoded !== 'string') return decoded;

  // hier-part [ "?" query ] [ "#" fragment ]
  const hashAt = decoded.indexOf('#');
  const beforeHash = hashAt === -1 ? decoded : decoded.slice(0, hashAt);
  const fragment = hashAt === -1 ? '' : decoded.slice(hashAt);
  const queryAt = beforeHash.indexOf('?');
  let hier = queryAt === -1 ? beforeHash : beforeHash.slice(0, queryAt);
  const query = queryAt === -1 ? '' : beforeHash.slice(queryAt);
  let authority = '';
  if (hier.startsWith('//')) {
    const end = hier.indexOf('/', 2);
    authority = end === -1 ? hier : hier.slice(0, end);
    hier = end === -1 ? '' : hier.slice(end);
  }
  return {
    ok: true,
    uri: `${scheme[1]!.toLowerCase()}:${authority}${removeDotSegments(hier)}${query}${fragment}`,
  };
}
