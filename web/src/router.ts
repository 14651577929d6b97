/**
 * Hash routing (#/decisions/<id>, #/decisions?verdict=deny): no server fallback needed, and
 * filters live in the address, so a filtered view can be bookmarked or linked.
 */
import { signal } from '@preact/signals';

interface Route {
  parts: string[];
  query: URLSearchParams;
}

function parse(): Route {
  const hash = location.hash.replace(/^#\/?/, '');
  const q = hash.indexOf('?');
  const path = q < 0 ? hash : hash.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : hash.slice(q + 1));
  return { parts: path === '' ? ['overview'] : path.split('/').map(decodeURIComponent), query };
}

export const route = signal<Route>(parse());

addEventListener('hashchange', () => {
  route.value = parse();
});

/** The href of a route, with an optional query (empty values left out). */
export function href(...parts: string[]): string {
  return `#/${parts.map(encodeURIComponent).join('/')}`;
}

/** Goes to a route with a query. */
export function go(parts: string[], query: Record<string, string> = {}): void {
  const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== ''));
  const s = q.toString();
  location.hash = `${href(...parts)}${s === '' ? '' : `?${s}`}`;
}
