/**
 * Dashboards declared by the pipeline (dashboard sinks), live.
 *
 *   load:  GET /api/v1/dashboards, then GET /api/v1/dashboards/{name} per dashboard shown
 *   live:  dashboard.rows ──▶ upsert rows by key (table) or points by (x, series) (time series),
 *                             evict beyond maxRows as the server does ──▶ render ≤ 4/s
 *          `replaced` (complete mode) clears first; `truncated` (> 1,000 rows changed) re-reads
 *          the view; dashboard.registered adds a dashboard to the list
 *
 * Tables show at most 200 rows (the API has them all); charts draw at most 16 series.
 */
import { ApiError, getJson } from '../lib/api.ts';
import { PALETTE, TimeChart } from '../lib/charts.ts';
import { KeyedRows, h, replace, setText, table } from '../lib/dom.ts';
import { ago, num, time } from '../lib/format.ts';
import { resultCell } from '../lib/cells.ts';
import type { Page, PageContext } from '../lib/page.ts';
import { limited, throttle, type Throttled } from '../lib/schedule.ts';
import { stats } from '../lib/stats.ts';
import {
  dashboardHref,
  queryHref,
  type DashboardInfo,
  type DashboardPoint,
  type DashboardRowsEvent,
} from '../lib/types.ts';

const MAX_TABLE_ROWS = 200;
const MAX_SERIES = 16;
const MAX_COLUMNS = 24;

type Flat = Record<string, unknown>;

/** {window: {start, end}, n} → {'window.start', 'window.end', n} (two levels). */
function flatten(row: unknown, prefix = '', out: Flat = {}, depth = 0): Flat {
  if (row === null || typeof row !== 'object' || Array.isArray(row) || depth > 2) {
    out[prefix || 'value'] = row;
    return out;
  }
  for (const [k, v] of Object.entries(row as Record<string, unknown>)) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && depth < 2) flatten(v, p, out, depth + 1);
    else out[p] = v;
  }
  return out;
}

function compareValues(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a ?? '').localeCompare(String(b ?? ''), undefined, { numeric: true });
}

interface TableRow {
  readonly key: string;
  readonly flat: Flat;
  fresh: boolean;
}

class DashboardView {
  readonly el: HTMLElement;
  private readonly meta: HTMLParagraphElement;
  private readonly body: HTMLDivElement;
  private readonly render: Throttled;
  private readonly refetch: Throttled;
  private loaded = false;
  private error: string | null = null;
  // table
  private rows = new Map<string, TableRow>();
  private seq = 0;
  private columns: string[] = [];
  private tableRows: KeyedRows<TableRow> | null = null;
  private tableEl: HTMLTableElement | null = null;
  private tableNote: HTMLParagraphElement | null = null;
  // time series
  private points = new Map<string, DashboardPoint>();
  private seriesOrder: string[] = [];
  private charts = new Map<string, TimeChart>();
  private chartSeries = '';
  private latest: KeyedRows<string> | null = null;

  constructor(
    public info: DashboardInfo,
    private readonly single: boolean,
  ) {
    this.meta = h('p', { class: 'muted dash-meta' });
    this.body = h('div', { class: 'dash-body' });
    const titleId = `dash-${info.name}-h`;
    this.el = h(
      'section',
      { class: 'panel dashboard', 'data-dashboard': info.name, 'aria-labelledby': titleId },
      single ? null : h('h2', { id: titleId }, h('a', { href: dashboardHref(info.name) }, info.title)),
      this.meta,
      this.body,
    );
    if (single) this.el.setAttribute('aria-label', info.title);
    this.render = throttle(() => this.paint());
    this.refetch = limited(() => this.load(), 1_000);
  }

  async load(): Promise<void> {
    try {
      const v = await getJson<{ dashboard: DashboardInfo; rows: unknown[] }>(
        `/api/v1/dashboards/${encodeURIComponent(this.info.name)}`,
      );
      this.info = v.dashboard;
      this.rows.clear();
      this.points.clear();
      this.applyRows(v.rows, true);
      this.error = null;
    } catch (e) {
      this.error = e instanceof ApiError ? e.message : (e as Error).message;
    }
    this.loaded = true;
    this.render.request();
  }

  onRows(e: DashboardRowsEvent): void {
    if (!this.loaded) return; // the view read at load time will include it
    if (e.truncated) {
      this.refetch.request();
      return;
    }
    if (e.replaced) {
      this.rows.clear();
      this.points.clear();
    }
    this.applyRows(e.rows, false);
    this.info = {
      ...this.info,
      size: e.size,
      lastBatchId: e.batchId,
      updatedAt: new Date().toISOString(),
      query: this.info.query ?? e.query,
    };
    this.render.request();
  }

  private applyRows(rows: readonly unknown[], initial: boolean): void {
    if (this.info.kind === 'timeseries') {
      for (const r of rows) {
        const p = r as DashboardPoint;
        const s = p.series ?? '';
        if (!this.seriesOrder.includes(s)) this.seriesOrder.push(s);
        this.points.set(`${p.x}\u0000${s}`, p);
      }
      if (this.points.size > this.info.maxRows) {
        const sorted = [...this.points.entries()].sort((a, b) => a[1].x - b[1].x);
        for (const [k] of sorted.slice(0, this.points.size - this.info.maxRows)) this.points.delete(k);
      }
      return;
    }
    const keys = this.info.keyColumns;
    for (const r of rows) {
      const flat = flatten(r);
      for (const c of Object.keys(flat)) {
        if (!this.columns.includes(c) && this.columns.length < MAX_COLUMNS) this.columns.push(c);
      }
      const key = keys.length
        ? keys.map((k) => JSON.stringify(flat[k] ?? null)).join('|')
        : String(this.seq++);
      // Map order is recency: re-inserting moves the row to the end (evicted last).
      this.rows.delete(key);
      this.rows.set(key, { key, flat, fresh: !initial });
    }
    while (this.rows.size > this.info.maxRows) this.rows.delete(this.rows.keys().next().value!);
  }

  private paint(): void {
    const i = this.info;
    replace(
      this.meta,
      `${i.kind === 'table' ? 'Table' : 'Time series'} · ${num(i.size)} ${i.kind === 'table' ? 'rows' : 'points'}`,
      i.lastBatchId === null ? ' · no batch yet' : ` · batch #${i.lastBatchId} · updated ${ago(i.updatedAt)}`,
      i.query ? [' · query ', h('a', { href: queryHref(i.query) }, i.query)] : null,
      i.skippedRows ? ` · ${num(i.skippedRows)} rows skipped (x not a time)` : null,
    );
    this.el.dataset.lastBatch = i.lastBatchId === null ? '' : String(i.lastBatchId);
    this.el.dataset.size = String(i.kind === 'table' ? this.rows.size : this.points.size);
    if (this.error) {
      replace(this.body, h('p', { class: 'empty' }, `Could not load this dashboard: ${this.error}`));
      return;
    }
    if (i.kind === 'table') this.paintTable();
    else this.paintSeries();
    if (this.loaded) {
      stats.mark('dashboard:ready');
      this.el.dataset.ready = 'true';
    }
  }

  private paintTable(): void {
    const cols = [
      ...this.info.keyColumns.filter((k) => this.columns.includes(k)),
      ...this.columns.filter((c) => !this.info.keyColumns.includes(c)),
    ];
    // Each column's type from the result's schema (older servers send none: formats guess by name).
    const types = new Map((this.info.columns ?? []).map((c) => [c.name, c.type]));
    const sig = cols.map((c) => `${c}:${types.get(c) ?? ''}`).join('\u0000');
    if (!this.tableEl || this.tableEl.dataset.cols !== sig) {
      // Columns whose values are numbers are right-aligned (judged on the rows held now).
      const sample = [...this.rows.values()].slice(-50);
      const numeric = (c: string) =>
        sample.length > 0 &&
        sample.every((r) => r.flat[c] === null || r.flat[c] === undefined || typeof r.flat[c] === 'number');
      const t = table(
        this.info.title,
        cols.map((c) => ({ text: c, num: numeric(c) && !this.info.keyColumns.includes(c) })),
        { hideCaption: true },
      );
      t.table.dataset.cols = sig;
      this.tableEl = t.table;
      this.tableRows = new KeyedRows<TableRow>(
        t.tbody,
        (r) => r.key,
        (r) => cols.map((c) => resultCell(c, r.flat[c], types.get(c))),
        {
          numeric: t.numeric,
          onChanged: (tr, r) => {
            if (!r.fresh) return;
            r.fresh = false;
            tr.classList.remove('flash');
            void tr.offsetWidth; // restart the animation
            tr.classList.add('flash');
          },
        },
      );
      this.tableNote = h('p', { class: 'muted' });
      replace(this.body, h('div', { class: 'table-wrap' }, t.table), this.tableNote);
    }
    const all = [...this.rows.values()];
    let shown: TableRow[];
    if (this.info.keyColumns.length) {
      const keys = this.info.keyColumns;
      shown = all.sort((a, b) => {
        for (const k of keys) {
          const c = compareValues(a.flat[k], b.flat[k]);
          if (c !== 0) return c;
        }
        return 0;
      });
    } else shown = all.reverse(); // newest first
    this.tableRows!.set(shown.slice(0, MAX_TABLE_ROWS));
    setText(
      this.tableNote!,
      all.length === 0
        ? 'No rows yet.'
        : all.length > MAX_TABLE_ROWS
          ? `Showing ${MAX_TABLE_ROWS} of ${num(all.length)} rows (all of them: GET /api/v1/dashboards/${this.info.name}).`
          : '',
    );
  }

  private paintSeries(): void {
    const series = this.seriesOrder.slice(0, MAX_SERIES);
    // JSON, not a join: a dashboard without `series` has the one series '' and a join of
    // [''] equals the join of [] (no rows yet), so the charts built empty were never rebuilt.
    const sig = JSON.stringify([series, this.info.y]);
    if (sig !== this.chartSeries) {
      this.chartSeries = sig;
      for (const c of this.charts.values()) c.destroy();
      this.charts.clear();
      for (const y of this.info.y) {
        this.charts.set(
          y,
          new TimeChart({
            title: this.info.y.length > 1 || !this.single ? y : `${y}`,
            note: this.info.series ? `per ${this.info.series}` : undefined,
            series: series.map((s, k) => ({ label: s === '' ? y : s, color: PALETTE[k % PALETTE.length]! })),
            height: this.single ? 260 : 200,
            syncKey: `dash-${this.info.name}`,
          }),
        );
      }
      const latestTable = table('Latest values', [
        this.info.series ?? 'series',
        this.info.x ?? 'x',
        ...this.info.y.map((y) => ({ text: y, num: true })),
      ]);
      latestTable.table.classList.add('latest');
      this.latest = new KeyedRows<string>(
        latestTable.tbody,
        (s) => s,
        (s) => {
          const p = this.latestPoint(s);
          return [
            s === '' ? '(all)' : s,
            p ? time(p.x) : '—',
            ...this.info.y.map((y) => num(p?.values[y] ?? null)),
          ];
        },
        { numeric: latestTable.numeric },
      );
      const note =
        this.seriesOrder.length > MAX_SERIES
          ? h('p', { class: 'muted' }, `${this.seriesOrder.length - MAX_SERIES} more series are not drawn.`)
          : null;
      replace(
        this.body,
        h(
          'div',
          { class: 'chart-grid' },
          [...this.charts.values()].map((c) => c.el),
        ),
        note,
        h(
          'details',
          null,
          h('summary', null, 'Latest values'),
          h('div', { class: 'table-wrap' }, latestTable.table),
        ),
      );
      for (const c of this.charts.values()) c.attached();
    }
    const xs = [...new Set([...this.points.values()].map((p) => p.x))].sort((a, b) => a - b);
    const at = new Map(xs.map((x, k) => [x, k]));
    for (const [y, chart] of this.charts) {
      const cols = series.map(() => new Array<number | null>(xs.length).fill(null));
      for (const p of this.points.values()) {
        const si = series.indexOf(p.series ?? '');
        if (si < 0) continue;
        cols[si]![at.get(p.x)!] = p.values[y] ?? null;
      }
      chart.setData(xs, cols);
    }
    this.latest?.set(series);
  }

  private latestPoint(series: string): DashboardPoint | undefined {
    let best: DashboardPoint | undefined;
    for (const p of this.points.values())
      if ((p.series ?? '') === series && (!best || p.x > best.x)) best = p;
    return best;
  }

  destroy(): void {
    this.render.cancel();
    this.refetch.cancel();
    for (const c of this.charts.values()) c.destroy();
  }
}

export function dashboardsPage(ctx: PageContext, params: readonly string[]): Page {
  const only = params[0];
  ctx.setTitle(only ?? 'Dashboards');
  const views = new Map<string, DashboardView>();
  const title = h('h1', { tabindex: -1 }, only ?? 'Dashboards');
  const index = h('ul', { class: 'dash-index' });
  const status = h('p', { class: 'empty', hidden: true });
  const list = h('div', { class: 'dashboards' });
  ctx.main.append(
    h(
      'div',
      { class: 'page-head' },
      only ? h('p', { class: 'crumbs' }, h('a', { href: '/dashboards' }, 'Dashboards'), ' / ') : null,
      title,
      only ? null : index,
    ),
    status,
    list,
  );

  const add = (info: DashboardInfo) => {
    if (views.has(info.name) || (only !== undefined && info.name !== only)) return;
    const v = new DashboardView(info, only !== undefined);
    views.set(info.name, v);
    list.appendChild(v.el);
    if (only) {
      setText(title, info.title);
      ctx.setTitle(info.title);
    } else {
      index.appendChild(
        h('li', null, h('a', { href: dashboardHref(info.name) }, info.title), ` (${info.kind})`),
      );
    }
    status.hidden = true;
    void v.load();
  };

  const load = async () => {
    try {
      const r = await getJson<{ dashboards: DashboardInfo[] }>('/api/v1/dashboards');
      for (const d of r.dashboards) {
        const known = views.get(d.name);
        if (known)
          void known.load(); // a resync: read it again
        else add(d);
      }
      if (views.size === 0) {
        status.hidden = false;
        status.textContent = only
          ? `No dashboard named "${only}" (yet). It shows up here once the pipeline declares it.`
          : 'No dashboards. Declare one in the pipeline: ctx.dashboards.sink({ name, kind: "table" | "timeseries", … }).';
      }
    } catch (e) {
      status.hidden = false;
      status.textContent = `Could not load the dashboards: ${(e as Error).message}`;
    }
  };

  const offRows = ctx.events.on('dashboard.rows', (e: DashboardRowsEvent) =>
    views.get(e.dashboard)?.onRows(e),
  );
  const offReg = ctx.events.on('dashboard.registered', (e: { dashboard: DashboardInfo }) => add(e.dashboard));
  const offResync = ctx.events.on('resync', () => void load());
  void load();

  return {
    destroy() {
      offRows();
      offReg();
      offResync();
      for (const v of views.values()) v.destroy();
    },
  };
}
