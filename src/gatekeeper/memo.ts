/**
 * Bounded memoisation for the gatekeeper's pure string facts (target and action parsing).
 * Requests repeat the same few targets and actions, so parsing each once keeps decide() fast;
 * the cache is cleared when full, so hostile input cannot grow it without bound.
 */
export function memoizeString<T>(fn: (s: string) => T, max = 4096): (s: string) => T {
  const cache = new Map<string, T>();
  return (s: string): T => {
    const hit = cache.get(s);
    if (hit !== undefined || cache.has(s)) return hit as T;
    const value = fn(s);
    if (cache.size >= max) cache.clear();
    cache.set(s, value);
    return value;
  };
}
