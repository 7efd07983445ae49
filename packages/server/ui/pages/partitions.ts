/**
 * The state partitions of a query's stateful operators (those with more than one): how many,
 * the slowest partition's time beside the median (skew), and per partition its input rows,
 * state rows and time, with a bar relative to the slowest. Operators without `partitions`
 * show nothing here. With many partitions the table lists the slowest ones.
 */
import { KeyedRows, h, setText, table } from '../lib/dom.ts';
import { ms, num } from '../lib/format.ts';
import type { QueryDetail } from '../lib/types.ts';

type Operator = QueryDetail['stateOperators'][number];
type Partitions = NonNullable<Operator['partitions']>;
type Task = Partitions['tasks'][number];

/** Partitions listed in full up to this many; beyond, the slowest this many. */
export const MAX_PARTITION_ROWS = 16;
/** Slowest ÷ median from which the figure is flagged (when the slowest took ≥ SKEW_MIN_MS). */
export const SKEW_WARN_RATIO = 2;
const SKEW_MIN_MS = 10;

/** slowest ÷ median, or null when the median is 0 (no meaningful ratio). */
export function skewRatio(p: Pick<Partitions, 'slowestMs' | 'medianMs'>): number | null {
  return p.medianMs > 0 && Number.isFinite(p.slowestMs) ? p.slowestMs / p.medianMs : null;
}

/** "slowest p3: 41 ms, median 12 ms, 3.4×" */
export function skewText(p: Pick<Partitions, 'slowestPartition' | 'slowestMs' | 'medianMs'>): string {
  const r = skewRatio(p);
  return `slowest p${p.slowestPartition}: ${ms(p.slowestMs)}, median ${ms(p.medianMs)}${r === null ? '' : `, ${num(r)}×`}`;
}

/** The rows the table shows: all by partition, or the slowest MAX_PARTITION_ROWS, slowest first. */
function shownTasks(p: Partitions): readonly Task[] {
  if (p.tasks.length <= MAX_PARTITION_ROWS) return p.tasks;
  return [...p.tasks]
    .sort((a, b) => b.processingMs - a.processingMs || a.partition - b.partition)
    .slice(0, MAX_PARTITION_ROWS);
}

class OperatorPartitions {
  readonly el: HTMLElement;
  private readonly heading = h('h3');
  private readonly skew = h('p', { class: 'skew' });
  private readonly note = h('p', { class: 'muted partitions-note' });
  private readonly rows: KeyedRows<Task>;
  private current: Partitions | null = null;

  constructor(operatorName: string) {
    const t = table(
      `State partitions of ${operatorName}`,
      [
        'Partition',
        { text: 'Input rows', num: true },
        { text: 'State rows', num: true },
        { text: 'Time', num: true, title: "Time the partition's operator spent on the last batch" },
        { text: 'Commit', num: true, title: "Time to commit the partition's state store" },
        { text: 'vs slowest', title: 'Time relative to the slowest partition' },
      ],
      { hideCaption: true, cls: 'grid partitions-table' },
    );
    this.rows = new KeyedRows<Task>(
      t.tbody,
      (x) => String(x.partition),
      (x) => {
        const p = this.current!;
        const slowest = x.partition === p.slowestPartition;
        const pct = p.slowestMs > 0 ? Math.min(100, (x.processingMs / p.slowestMs) * 100) : 0;
        return [
          slowest
            ? {
                text: `p${x.partition} (slowest)`,
                cls: 'slowest',
                title: 'The slowest partition of the last batch',
              }
            : `p${x.partition}`,
          num(x.numInputRows),
          num(x.numRowsTotal),
          ms(x.processingMs),
          ms(x.commitTimeMs),
          { sig: pct.toFixed(1), make: () => bar(pct) },
        ];
      },
      { numeric: t.numeric },
    );
    this.el = h(
      'div',
      { class: 'partitions', 'data-operator': operatorName },
      this.heading,
      this.skew,
      h('div', { class: 'table-wrap' }, t.table),
      this.note,
    );
  }

  set(o: Operator, p: Partitions): void {
    this.current = p;
    setText(this.heading, `${o.operatorName}: ${num(p.numPartitions)} state partitions`);
    const r = skewRatio(p);
    const skewed = r !== null && r >= SKEW_WARN_RATIO && p.slowestMs >= SKEW_MIN_MS;
    setText(this.skew, `${skewed ? '⚠ skewed: ' : ''}${skewText(p)}`);
    this.skew.className = skewed ? 'skew warn' : 'skew';
    this.skew.dataset.ratio = r === null ? '' : r.toFixed(2);
    const shown = shownTasks(p);
    this.rows.set(shown);
    this.note.hidden = shown.length === p.tasks.length;
    setText(
      this.note,
      `The ${shown.length} slowest of ${num(p.tasks.length)} partitions, slowest first (the full record of a batch lists them all).`,
    );
  }
}

function bar(pct: number): HTMLElement {
  const fill = h('span', { class: 'pbar-fill' });
  fill.style.width = `${pct}%`; // CSSOM, which the style-src CSP allows (a style attribute it would not)
  return h(
    'span',
    { class: 'pbar', 'aria-hidden': 'true', title: `${Math.round(pct)}% of the slowest` },
    fill,
  );
}

/** The partition blocks of every operator that reports partitions, kept by operator name. */
export class StatePartitionsView {
  readonly el = h('div', { id: 'state-partitions' });
  private readonly blocks = new Map<string, OperatorPartitions>();

  set(operators: readonly Operator[]): void {
    const keep = new Set<string>();
    let i = 0;
    for (const o of operators) {
      const p = o.partitions;
      if (!p || keep.has(o.operatorName)) continue;
      keep.add(o.operatorName);
      let b = this.blocks.get(o.operatorName);
      if (!b) {
        b = new OperatorPartitions(o.operatorName);
        this.blocks.set(o.operatorName, b);
      }
      b.set(o, p);
      const at = this.el.children[i];
      if (at !== b.el) this.el.insertBefore(b.el, at ?? null);
      i++;
    }
    for (const [k, b] of this.blocks) {
      if (keep.has(k)) continue;
      b.el.remove();
      this.blocks.delete(k);
    }
    this.el.hidden = this.blocks.size === 0;
  }
}
