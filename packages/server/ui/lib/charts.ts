/**
 * Time charts on uPlot (canvas; thousands of points redraw in a few ms). A chart is a
 * <figure> with a caption, the plot and a legend (uPlot's, showing the values under the
 * cursor), plus a visually hidden sentence with the latest values for screen readers.
 *
 * Stacked charts (batch duration by phase) draw cumulative sums with bands between
 * neighbours, while the legend shows each series' own value.
 */
import uPlot from 'uplot';
import { h } from './dom.ts';
import { compact, num } from './format.ts';

export const PALETTE = [
  '#2563eb',
  '#f97316',
  '#16a34a',
  '#dc2626',
  '#9333ea',
  '#0891b2',
  '#ca8a04',
  '#db2777',
  '#4b5563',
  '#65a30d',
  '#7c3aed',
  '#0d9488',
  '#b45309',
  '#be123c',
  '#1d4ed8',
  '#15803d',
];

export interface SeriesSpec {
  readonly label: string;
  readonly color: string;
  readonly dash?: number[];
  /** In a stacked chart: false draws this series as a line over the stack. */
  readonly stack?: boolean;
}

export interface ChartOptions {
  readonly title: string;
  readonly series: readonly SeriesSpec[];
  /** Shows y values (axis, legend, summary). */
  readonly format?: (v: number) => string;
  /** Axis labels (default: short numbers, 1.2k / 3.4M; give `format` for units such as ms). */
  readonly axisFormat?: (v: number) => string;
  readonly stacked?: boolean;
  readonly height?: number;
  /** Charts with the same key share the cursor. */
  readonly syncKey?: string;
  /** A sentence under the title (what the chart shows). */
  readonly note?: string;
}

function alpha(hex: string, a: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

export class TimeChart {
  readonly el: HTMLElement;
  private readonly plotEl: HTMLDivElement;
  private readonly summary: HTMLParagraphElement;
  private plot: uPlot | null = null;
  private raw: (number | null)[][] = [];
  private data: uPlot.AlignedData = [[]];
  private readonly observer: ResizeObserver;
  private width = 0;

  constructor(private readonly o: ChartOptions) {
    this.plotEl = h('div', { class: 'plot' });
    this.summary = h('p', { class: 'visually-hidden' });
    this.el = h(
      'figure',
      // data-points: x values given; data-points-drawn: non-null values of the plot's series
      // at its last draw (what a test can check the canvas shows).
      { class: 'chart', 'data-points': 0, 'data-points-drawn': 0 },
      h('figcaption', null, o.title, o.note ? h('span', { class: 'note' }, ` — ${o.note}`) : null),
      this.plotEl,
      this.summary,
    );
    this.data = [[], ...o.series.map(() => [])] as uPlot.AlignedData;
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(this.el);
  }

  private get fmt(): (v: number) => string {
    return this.o.format ?? num;
  }

  private create(): void {
    const width = Math.max(240, this.plotEl.clientWidth || 600);
    this.width = width;
    const fmt = this.fmt;
    const axisFmt = this.o.axisFormat ?? this.o.format ?? compact;
    const stacked = this.o.stacked === true;
    const raw = () => this.raw;
    const series: uPlot.Series[] = [
      { label: 'time' },
      ...this.o.series.map((s, i): uPlot.Series => ({
        label: s.label,
        stroke: s.color,
        width: 1.5,
        dash: s.dash,
        fill: stacked && s.stack !== false ? alpha(s.color, 0.35) : undefined,
        // Lines join over values a series lacks at some x (undefined) but break at gaps in time,
        // which breakAtGaps marks with null (uPlot draws a gap only at null).
        spanGaps: false,
        // uPlot hides the dots once points are dense, and a line needs two points: a series
        // with a single value (in view) would draw nothing, so that value gets its dot.
        points: { filter: lonePoint },
        value: (_u, v, _si, idx) => {
          const r = idx === null || idx === undefined ? v : (raw()[i]?.[idx] ?? null);
          return r === null || r === undefined ? '—' : fmt(r);
        },
      })),
    ];
    const bands: uPlot.Band[] = [];
    if (stacked) {
      const idx = this.o.series.map((s, i) => (s.stack === false ? -1 : i + 1)).filter((i) => i > 0);
      for (let k = 1; k < idx.length; k++) bands.push({ series: [idx[k]!, idx[k - 1]!] });
    }
    const axisColor = getComputedStyle(document.documentElement).getPropertyValue('--muted').trim() || '#666';
    const gridColor = getComputedStyle(document.documentElement).getPropertyValue('--grid').trim() || '#eee';
    this.plot = new uPlot(
      {
        width,
        height: this.o.height ?? 180,
        series,
        bands,
        legend: { live: true },
        hooks: { draw: [(u) => (this.el.dataset.pointsDrawn = String(valuesDrawn(u)))] },
        cursor: this.o.syncKey ? { sync: { key: this.o.syncKey } } : {},
        scales: {
          // One time alone: a minute either side (uPlot would span years).
          x: {
            time: true,
            range: (u, min, max) => {
              const xs = u.data[0];
              const only = xs.length > 0 && xs[0] === xs[xs.length - 1] ? xs[0]! : null;
              return only === null ? [min, max] : [only - 60, only + 60];
            },
          },
          y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.05 : 1] },
        },
        axes: [
          { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor } },
          {
            stroke: axisColor,
            grid: { stroke: gridColor, width: 1 },
            ticks: { stroke: gridColor },
            size: 64,
            values: (_u, splits) => splits.map((v) => axisFmt(v)),
          },
        ],
      },
      this.data,
      this.plotEl,
    );
  }

  private resize(): void {
    if (!this.plot) return;
    const w = Math.max(240, this.plotEl.clientWidth);
    if (Math.abs(w - this.width) < 2) return;
    this.width = w;
    this.plot.setSize({ width: w, height: this.o.height ?? 180 });
  }

  /** x: epoch milliseconds (ascending); ys: one array per series, aligned with x. */
  setData(xIn: readonly number[], ysIn: readonly (readonly (number | null)[])[]): void {
    const { x, ys, gap } = breakAtGaps(xIn, ysIn);
    this.raw = ys;
    const xs = x.map((t) => t / 1000);
    // null: a gap in time (the line breaks); undefined: this series has no value at this x (joined).
    let shown: (number | null | undefined)[][] = ys.map((y) =>
      y.map((v, j) => (gap[j] ? null : (v ?? undefined))),
    );
    if (this.o.stacked) {
      const acc = new Array<number>(xs.length).fill(0);
      shown = this.raw.map((y, i) => {
        if (this.o.series[i]?.stack === false) return shown[i]!;
        return y.map((v, j) => (gap[j] ? null : (acc[j] = acc[j]! + (v ?? 0))));
      });
    }
    this.data = [xs, ...shown] as uPlot.AlignedData;
    this.el.dataset.points = String(xIn.length);
    this.el.dataset.gaps = String(gap.filter(Boolean).length);
    this.el.dataset.lastX = xs.length ? String(x[x.length - 1]) : '';
    if (!this.plot) {
      if (!this.el.isConnected) return; // created once attached (it needs a width)
      this.create();
    } else this.plot.setData(this.data);
    const last = xs.length - 1;
    this.summary.textContent =
      last < 0
        ? `${this.o.title}: no data yet.`
        : `${this.o.title}, latest: ` +
          this.o.series.map((s, i) => `${s.label} ${fmtOrDash(this.raw[i]?.[last], this.fmt)}`).join(', ');
  }

  /** Create the plot if data came before the chart was attached. */
  attached(): void {
    if (!this.plot && this.el.isConnected) this.create();
  }

  destroy(): void {
    this.observer.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}

/** A jump in x larger than this many times the usual step is a gap in time. */
const GAP_FACTOR = 3;

/**
 * Marks gaps in time: where x jumps by more than GAP_FACTOR times its median step (a query that was
 * stopped, the minute before a demo started), a point with no values is inserted between the two,
 * so the line breaks there instead of drawing a straight line across the missing time.
 */
export function breakAtGaps(
  x: readonly number[],
  ys: readonly (readonly (number | null)[])[],
): { x: number[]; ys: (number | null)[][]; gap: boolean[] } {
  const steps = x
    .slice(1)
    .map((t, i) => t - x[i]!)
    .filter((d) => d > 0)
    .sort((a, b) => a - b);
  const median = steps.length >= 2 ? steps[Math.floor(steps.length / 2)]! : Infinity;
  const out = { x: [] as number[], ys: ys.map(() => [] as (number | null)[]), gap: [] as boolean[] };
  x.forEach((t, j) => {
    if (j > 0 && t - x[j - 1]! > GAP_FACTOR * median) {
      out.x.push((x[j - 1]! + t) / 2);
      out.ys.forEach((y) => y.push(null));
      out.gap.push(true);
    }
    out.x.push(t);
    ys.forEach((y, i) => out.ys[i]!.push(y[j] ?? null));
    out.gap.push(false);
  });
  return out;
}

function fmtOrDash(v: number | null | undefined, fmt: (v: number) => string): string {
  return v === null || v === undefined ? '—' : fmt(v);
}

/** points.filter: with the dots hidden (dense data), still dot a series' only value in view. */
function lonePoint(u: uPlot, si: number, show: boolean): number[] | null {
  if (show) return null;
  const ys = u.data[si] ?? [];
  const [i0, i1] = u.series[0]?.idxs ?? [0, ys.length - 1];
  let only = -1;
  for (let i = i0; i <= i1; i++) {
    if (ys[i] === null || ys[i] === undefined) continue;
    if (only >= 0) return null; // two values: spanGaps joins them with a line
    only = i;
  }
  return only >= 0 ? [only] : null;
}

/** Non-null values of the shown series (the x series excluded). */
function valuesDrawn(u: uPlot): number {
  let n = 0;
  for (let si = 1; si < u.series.length; si++) {
    if (!u.series[si]!.show) continue;
    for (const v of u.data[si] ?? []) if (v !== null && v !== undefined) n++;
  }
  return n;
}
