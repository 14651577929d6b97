/**
 * Namespacing: the agent sees every upstream's tools and prompts as `<upstream>__<name>` and
 * its resources as `sigil://<upstream>/<original uri>`, so names from different upstreams never
 * collide and each call routes to exactly one upstream.
 */

export const NAME_SEPARATOR = '__';
const RESOURCE_PREFIX = 'sigil://';

/** `notes__read_note` for upstream `notes` and tool `read_note`. */
export function namespacedName(upstream: string, name: string): string {
  return `${upstream}${NAME_SEPARATOR}${name}`;
}

/** The upstream and the upstream's own name, or null when `name` has no namespace. */
export function splitNamespaced(name: string): { upstream: string; name: string } | null {
  const i = name.indexOf(NAME_SEPARATOR);
  if (i <= 0 || i + NAME_SEPARATOR.length >= name.length) return null;
  return { upstream: name.slice(0, i), name: name.slice(i + NAME_SEPARATOR.length) };
}

/** `sigil://notes/notes://n1` for upstream `notes` and resource `notes://n1` (templates too). */
export function namespacedUri(upstream: string, uri: string): string {
  return `${RESOURCE_PREFIX}${upstream}/${uri}`;
}

/** The upstream and its original URI, or null when `uri` is not a gateway URI. */
export function splitNamespacedUri(uri: string): { upstream: string; uri: string } | null {
  if (!uri.startsWith(RESOURCE_PREFIX)) return null;
  const rest = uri.slice(RESOURCE_PREFIX.length);
  const i = rest.indexOf('/');
  if (i <= 0 || i + 1 >= rest.length) return null;
  return { upstream: rest.slice(0, i), uri: rest.slice(i + 1) };
}

/** The name the agent sees: `<prefix>__<name>`, or the upstream's own when the prefix is "". */
export function exportedName(prefix: string, name: string): string {
  return prefix === '' ? name : namespacedName(prefix, name);
}

/** The URI the agent sees: `sigil://<prefix>/<uri>`, or the upstream's own when unprefixed. */
export function exportedUri(prefix: string, uri: string): string {
  return prefix === '' ? uri : namespacedUri(prefix, uri);
}
