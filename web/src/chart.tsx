/** Decisions per minute as stacked bars (uPlot): allowed at the bottom, then each denial code. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { DecisionStats } from './types.ts';

const ALLOW_COLOUR = '#2da44e';
const DENY_COLOURS = ['#cf222e', '#bf8700', '#8250df', '#0969da', '#bc4c00', '#57606a'];

export function DecisionsChart({ stats }: { stats: DecisionStats }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (el === null) return;
    const xs = stats.per_minute.map((m) => Date.parse(m.minute) / 1000);
    const codes = [...new Set(stats.per_minute.flatMap((m) => Object.keys(m.deny)))].sort();
    const layers = [
      { label: 'allowed', colour: ALLOW_COLOUR, values: stats.per_minute.map((m) => m.allow) },
      ...codes.map((code, i) => ({
        label: `denied: ${code}`,
        colour: DENY_COLOURS[i % DENY_COLOURS.length]!,
        values: stats.per_minute.map((m) => m.deny[code] ?? 0),
      })),
    ];
    // Stacked: each series is drawn as the running total, tallest first so lower layers show.
    let running = xs.map(() => 0);
    const totals = layers.map((l) => (running = running.map((r, i) => r + l.values[i]!)));
    const order = layers.map((_, i) => i).reverse();
    const bars = uPlot.paths.bars!({ size: [0.8, 40] });
    const chart = new uPlot(
      {
        width: Math.max(320, el.clientWidth),
        height: 220,
        series: [
          {},
          ...order.map((i) => ({
            label: layers[i]!.label,
            fill: layers[i]!.colour,
            stroke: layers[i]!.colour,
            paths: bars,
            points: { show: false },
            value: (_u: uPlot, _v: number | null, _s: number, idx: number | null) =>
              idx === null ? '—' : String(layers[i]!.values[idx] ?? 0),
          })),
        ],
        axes: [{}, { label: 'decisions / minute' }],
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      },
      [xs, ...order.map((i) => totals[i]!)],
      el,
    );
    return () => chart.destroy();
  }, [stats]);
  return (
    <figure class="chart">
      <div ref={ref} role="img" aria-label="Decisions per minute, allowed and denied by code" />
      <figcaption class="muted">
        {stats.totals.allow} allowed, {stats.totals.deny} denied in the last {stats.minutes} minutes
      </figcaption>
    </figure>
  );
}
