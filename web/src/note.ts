/** Reading a served signed note (C2SP signed-note) for display: nothing here verifies. */

/**
 * The key names of a signed note's signature lines other than `logKeyName`'s: its witnesses'
 * cosignatures, as named (checking them needs each witness's key: `sigil log verify-proof
 * --witness`).
 */
export function cosignerNames(note: string, logKeyName: string): string[] {
  const split = note.indexOf('\n\n');
  if (split < 0) return [];
  return note
    .slice(split + 2)
    .split('\n')
    .map((l) => /^\u2014 (\S+) \S+$/.exec(l)?.[1])
    .filter((name): name is string => name !== undefined && name !== logKeyName);
}
