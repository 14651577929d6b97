/**
 * One way for every benchmark to report a figure: printed as a line (value, the limit measured
 * in the same run, the ratio, the goal) and collected, so `npm run bench -- --json` can write
 * the whole run as [{name, value, unit, limit, limit_name, ratio, goal, met}] and
 * scripts/perf-table.mjs can regenerate the README's performance table from it.
 */

export interface Figure {
  /** What was measured, as the README's table names it. */
  name: string;
  value: number;
  /** `/s`, `ms`, `µs`, `bytes`, … */
  unit: string;
  /** The limit measured in the same run (same unit), or null when the goal is absolute. */
  limit: number | null;
  /** What the limit is: `raw Ed25519 verify, one thread`. */
  limit_name: string | null;
  /** value ÷ limit, or null without a limit. */
  ratio: number | null;
  /** The goal in words: `ratio >= 150%`, `<= 10 ms`. */
  goal: string | null;
  /** Whether the goal is met in this run (null when there is no goal). */
  met: boolean | null;
}

export interface FigureInput {
  name: string;
  value: number;
  unit: string;
  limit?: { name: string; value: number } | undefined;
  /** The goal: at least / at most this ratio (0.8 = 80%), or at most / at least this value. */
  goal?:
    | { ratioAtLeast: number }
    | { ratioAtMost: number }
    | { atMost: number }
    | { atLeast: number }
    | undefined;
  /** Context printed after the figure (not part of the JSON). */
  note?: string;
}

const figures: Figure[] = [];

/** Everything reported so far in this process, in order. */
export function collected(): readonly Figure[] {
  return figures;
}

export const fmt = (n: number): string =>
  Math.abs(n) >= 100 || Number.isInteger(n)
    ? Math.round(n).toLocaleString('en-US')
    : n.toPrecision(3);

const withUnit = (n: number, unit: string): string =>
  unit === '/s' ? `${fmt(n)}/s` : `${fmt(n)} ${unit}`;

function goalText(goal: FigureInput['goal'], unit: string): string | null {
  if (goal === undefined) return null;
  if ('ratioAtLeast' in goal) return `ratio >= ${Math.round(goal.ratioAtLeast * 100)}%`;
  if ('ratioAtMost' in goal) return `ratio <= ${Math.round(goal.ratioAtMost * 100)}%`;
  if ('atMost' in goal) return `<= ${withUnit(goal.atMost, unit)}`;
  return `>= ${withUnit(goal.atLeast, unit)}`;
}

function goalMet(goal: FigureInput['goal'], value: number, ratio: number | null): boolean | null {
  if (goal === undefined) return null;
  if ('ratioAtLeast' in goal) return ratio !== null && ratio >= goal.ratioAtLeast;
  if ('ratioAtMost' in goal) return ratio !== null && ratio <= goal.ratioAtMost;
  if ('atMost' in goal) return value <= goal.atMost;
  return value >= goal.atLeast;
}

/** Records a figure and prints it on one line. */
export function figure(input: FigureInput): Figure {
  const ratio = input.limit && input.limit.value > 0 ? input.value / input.limit.value : null;
  const f: Figure = {
    name: input.name,
    value: input.value,
    unit: input.unit,
    limit: input.limit?.value ?? null,
    limit_name: input.limit?.name ?? null,
    ratio,
    goal: goalText(input.goal, input.unit),
    met: goalMet(input.goal, input.value, ratio),
  };
  figures.push(f);
  const parts = [`  ${f.name}: ${withUnit(f.value, f.unit)}`];
  if (input.limit)
    parts.push(`limit (${input.limit.name}): ${withUnit(input.limit.value, f.unit)}`);
  if (ratio !== null) parts.push(`ratio ${(100 * ratio).toFixed(ratio < 0.1 ? 1 : 0)}%`);
  if (f.goal !== null) parts.push(`goal ${f.goal}: ${f.met ? 'met' : 'MISSED'}`);
  if (input.note) parts.push(input.note);
  say(parts.join(' | '));
  return f;
}

/** Prints a line of context (headers, notes) beside the figures. */
export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Latency quantile of unsorted samples (sorted in place). */
export function quantile(samples: number[] | Float64Array, q: number): number {
  samples.sort((a, b) => a - b);
  return samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? NaN;
}
