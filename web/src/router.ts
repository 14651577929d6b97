/** Hash routing (#/overview, #/decisions/<id>): no server fallback needed, no history API. */
import { signal } from '@preact/signals';

export const route = signal(parse());

function parse(): string[] {
  const hash = location.hash.replace(/^#\/?/, '');
  return hash === '' ? ['overview'] : hash.split('/').map(decodeURIComponent);
}

addEventListener('hashchange', () => {
  route.value = parse();
});

/** The href of a route. */
export function href(...parts: string[]): string {
  return `#/${parts.map(encodeURIComponent).join('/')}`;
}
