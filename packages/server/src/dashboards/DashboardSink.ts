/**
 * `dashboardSink()`: a sink that keeps the latest result rows in memory for the
 * web UI — a table or a time series — bounded by `maxRows`.
 *
 *   table       append without key: the last maxRows rows
 *               key columns (any mode): one row per key, upserted, least recently updated evicted
 *               complete mode: each batch replaces the table
 *   timeseries  one point per (x, series): x = a time column (e.g. "window.start"), y = value
 *               column(s), series = a key column; a re-emitted window (update mode) replaces its
 *               point; beyond maxRows the oldest x go first; complete mode replaces all points
 *
 * Idempotent per batch id: a batch id at or below the last one applied for the
 * same query id is skipped (a replayed batch after a restart from the same
 * checkpoint); a different query id (a new checkpoint) starts the count over.
 * The rows live in this process, and — when the service has a stateDir — in its
 * durable state (state/ServiceState.ts): the service saves `exportState()` after
 * every batch and gives it back with `restoreState()` when the sink registers
 * after a restart, so the view, and its last batch id, survive (the replay of the
 * last batch is then skipped or re-applied, by batch id, either way the same).
 *
 * The service finds a dashboard sink when its query runs in a service session
 * (see logging/logger.ts serviceHooksOf), or when registered with ctx.dashboards.
 */
import {
  type Field,
  type OutputMode,
  type Row,
  type Sink,
  type SinkBatchInfo,
  type SinkContext,
  type SinkWriteResult,
  typeToString,
} from 'millrace';
import { serviceHooksOf } from '../logging/logger.ts';
import type { DashboardState } from '../state/ServiceState.ts';
import { userError } from '../util/errors.ts';
import { getPath, toEpochMs, toJsonSafe } from '../util/json.ts';

export type DashboardKind = 'table' | 'timeseries';

export interface DashboardSinkOptions {
  /** Unique per service; the sink's name (its files in the checkpoint are under sinks/<name>). */
  readonly name: string;
  readonly title?: string;
  readonly kind: DashboardKind;
  /** table: key column(s) — rows with the same key replace each other. */
  readonly key?: string | readonly string[];
  /** timeseries: the time column (dotted path into structs, e.g. "window.start"). Required. */
  readonly x?: string;
  /** timeseries: value column(s). Required. */
  readonly y?: string | readonly string[];
  /** timeseries: the column naming each line (e.g. a host or category). */
  readonly series?: string;
  /** Rows (table) or points (time series) kept; default 1,000 (table) / 10,000 (time series). */
  readonly maxRows?: number;
}

/** A time-series point as the API gives it. */
export interface DashboardPoint {
  /** Epoch ms. */
  readonly x: number;
  readonly series: string | null;
  readonly values: Record<string, number | null>;
}

export interface DashboardUpdate {
  readonly dashboard: string;
  readonly queryName: string;
  readonly batchId: number;
  readonly outputMode: OutputMode;
  /** The rows of this batch as the dashboard keeps them (table rows, or points), at most maxRows. */
  readonly rows: readonly unknown[];
  /** Whether this batch replaced everything (complete mode) rather than updating some rows. */
  readonly replaced: boolean;
  readonly size: number;
  /** The batch's rows as written (for alert rules). */
  readonly sourceRows: readonly Row[];
}

export interface DashboardInfo {
  readonly name: string;
  readonly title: string;
  readonly kind: DashboardKind;
  readonly keyColumns: string[];
  readonly x: string | null;
  readonly y: string[];
  readonly series: string | null;
  readonly maxRows: number;
  readonly size: number;
  readonly query: string | null;
  readonly lastBatchId: number | null;
  readonly updatedAt: string | null;
  readonly skippedRows: number;
  /**
   * The result's columns and their types (`timestamp`, `long`, `array<string>`, …), struct fields
   * as dotted paths (`window.start`), so the web UI formats a value by its type, not its name.
   * Empty until the query has opened the sink.
   */
  readonly columns: DashboardColumn[];
}

export interface DashboardColumn {
  readonly name: string;
  readonly type: string;
}

/** Leaf columns of a schema: struct fields become dotted paths (the struct itself is listed too). */
function columnsOf(fields: readonly Field[], prefix = ''): DashboardColumn[] {
  return fields.flatMap((f) => {
    const name = prefix + f.name;
    const own = { name, type: typeToString(f.type) };
    return f.type.kind === 'struct' ? [own, ...columnsOf(f.type.fields, `${name}.`)] : [own];
  });
}

type Listener = (u: DashboardUpdate) => void;

const BRAND = Symbol.for('millrace.server.dashboardSink');

/**
 * Whether `x` is a dashboard sink — also one made by another copy of this package
 * (a pipeline that imports its own @millrace/server), where instanceof would fail.
 */
export function isDashboardSink(x: unknown): x is DashboardSink {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[BRAND] === true;
}

function columnList(v: string | readonly string[] | undefined): string[] {
  if (v === undefined) return [];
  return (typeof v === 'string' ? [v] : [...v]).filter((c) => c.length > 0);
}

export class DashboardSink implements Sink {
  readonly guarantee = 'idempotent' as const;
  readonly [BRAND] = true;
  readonly name: string;
  readonly title: string;
  readonly kind: DashboardKind;
  readonly keyColumns: readonly string[];
  readonly x: string | null;
  readonly y: readonly string[];
  readonly series: string | null;
  readonly maxRows: number;

  private readonly rows = new Map<string, unknown>();
  private appendSeq = 0;
  private mode: OutputMode = 'append';
  private queryId = '';
  private queryName: string | null = null;
  private lastBatchId: number | null = null;
  private updatedAtMs: number | null = null;
  private skipped = 0;
  private readonly listeners = new Set<Listener>();
  private readonly xPath: string[];
  private columns: DashboardColumn[] = [];
  private readonly seriesPath: string[];

  constructor(options: DashboardSinkOptions) {
    const o = options as DashboardSinkOptions | undefined;
    if (!o || typeof o !== 'object') {
      throw userError(
        'INVALID_OPTIONS',
        "dashboardSink: give an options object, e.g. { name: 'bids', kind: 'table' }",
      );
    }
    if (typeof o.name !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(o.name)) {
      throw userError(
        'INVALID_OPTIONS',
        `dashboardSink: name must be 1–100 letters, digits, '.', '_' or '-', got ${JSON.stringify(o.name)}`,
      );
    }
    if (o.kind !== 'table' && o.kind !== 'timeseries') {
      throw userError(
        'INVALID_OPTIONS',
        `dashboardSink "${o.name}": kind must be 'table' or 'timeseries', got ${JSON.stringify(o.kind)}`,
      );
    }
    this.name = o.name;
    this.title = o.title ?? o.name;
    this.kind = o.kind;
    this.keyColumns = columnList(o.key);
    this.y = columnList(o.y);
    this.x = o.x ?? null;
    this.series = o.series ?? null;
    if (this.kind === 'timeseries') {
      if (!this.x) {
        throw userError(
          'INVALID_OPTIONS',
          `dashboardSink "${o.name}": a timeseries needs x, the time column (e.g. x: 'window.start')`,
        );
      }
      if (this.y.length === 0) {
        throw userError(
          'INVALID_OPTIONS',
          `dashboardSink "${o.name}": a timeseries needs y, the value column(s) (e.g. y: 'count')`,
        );
      }
      if (this.keyColumns.length > 0) {
        throw userError(
          'INVALID_OPTIONS',
          `dashboardSink "${o.name}": key is for tables; a timeseries is keyed by x and series`,
        );
      }
    } else if (o.x !== undefined || o.y !== undefined || o.series !== undefined) {
      throw userError(
        'INVALID_OPTIONS',
        `dashboardSink "${o.name}": x, y and series are for kind 'timeseries'; a table takes key`,
      );
    }
    const max = o.maxRows ?? (this.kind === 'table' ? 1_000 : 10_000);
    if (!(Number.isInteger(max) && max >= 1 && max <= 1_000_000)) {
      throw userError(
        'INVALID_OPTIONS',
        `dashboardSink "${o.name}": maxRows must be an integer from 1 to 1,000,000, got ${String(o.maxRows)}`,
      );
    }
    this.maxRows = max;
    this.xPath = (this.x ?? '').split('.');
    this.seriesPath = (this.series ?? '').split('.');
  }

  describe(): string {
    return `DashboardSink[${this.name}, ${this.kind}]`;
  }

  /** Called with every applied batch; returns an unsubscribe function. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async open(ctx: SinkContext): Promise<void> {
    this.mode = ctx.outputMode;
    if (ctx.queryId !== this.queryId) {
      // Another checkpoint: its batch ids start over.
      this.queryId = ctx.queryId;
      this.lastBatchId = null;
    }
    this.queryName = ctx.queryName;
    // (Contexts made by hand, as in unit tests, may come without a schema: no types then.)
    this.columns = ctx.schema ? columnsOf(ctx.schema.fields) : [];
    serviceHooksOf(ctx.log)?.dashboardOpened(this, { queryId: ctx.queryId, queryName: ctx.queryName });
  }

  async addBatch(rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult> {
    if (this.lastBatchId !== null && info.batchId <= this.lastBatchId) {
      return { rowsWritten: 0, metrics: { skippedReplay: 1 } };
    }
    const replaced = info.outputMode === 'complete';
    if (replaced) this.rows.clear();
    const changed = new Map<string, unknown>();
    for (const row of rows) {
      const kept = this.kind === 'table' ? this.putTableRow(row) : this.putPoint(row);
      if (kept) changed.set(kept[0], kept[1]);
    }
    this.trim();
    this.lastBatchId = info.batchId;
    this.updatedAtMs = Date.now();
    const update: DashboardUpdate = {
      dashboard: this.name,
      queryName: this.queryName ?? '',
      batchId: info.batchId,
      outputMode: info.outputMode,
      rows: this.sorted([...changed.values()]).slice(-this.maxRows),
      replaced,
      size: this.rows.size,
      sourceRows: rows,
    };
    for (const l of this.listeners) {
      try {
        l(update);
      } catch {
        // a listener must never fail the batch (the service logs its own errors)
      }
    }
    return { rowsWritten: rows.length };
  }

  async close(): Promise<void> {}

  private putTableRow(row: Row): [string, unknown] {
    const safe = toJsonSafe(row);
    let key: string;
    if (this.keyColumns.length > 0) {
      key = JSON.stringify(this.keyColumns.map((c) => toJsonSafe(getPath(row, c.split('.')))));
      this.rows.delete(key); // re-insert: the Map's order is least recently updated first
    } else {
      key = String(++this.appendSeq).padStart(16, '0');
    }
    this.rows.set(key, safe);
    return [key, safe];
  }

  private putPoint(row: Row): [string, DashboardPoint] | null {
    const x = toEpochMs(getPath(row, this.xPath));
    if (!Number.isFinite(x)) {
      this.skipped++;
      return null;
    }
    const s = this.series === null ? null : getPath(row, this.seriesPath);
    const series = s === null || s === undefined ? null : String(toJsonSafe(s));
    const values: Record<string, number | null> = {};
    for (const c of this.y) {
      const v = getPath(row, c.split('.'));
      const n = typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : Number.NaN;
      values[c] = Number.isFinite(n) ? n : null;
    }
    const key = JSON.stringify([x, series]);
    const point: DashboardPoint = { x, series, values };
    this.rows.set(key, point);
    return [key, point];
  }

  /** Keep at most maxRows: the least recently updated table rows, or the oldest points. */
  private trim(): void {
    const over = this.rows.size - this.maxRows;
    if (over <= 0) return;
    if (this.kind === 'table') {
      let n = over;
      for (const k of this.rows.keys()) {
        if (n-- <= 0) break;
        this.rows.delete(k);
      }
      return;
    }
    const oldest = [...this.rows.entries()]
      .sort((a, b) => (a[1] as DashboardPoint).x - (b[1] as DashboardPoint).x)
      .slice(0, over);
    for (const [k] of oldest) this.rows.delete(k);
  }

  private sorted(values: unknown[]): unknown[] {
    if (this.kind === 'table') return values;
    return (values as DashboardPoint[]).sort(
      (a, b) => a.x - b.x || String(a.series ?? '').localeCompare(String(b.series ?? '')),
    );
  }

  /** The rows (table, least recently updated first) or points (by x, then series). */
  snapshot(limit = this.maxRows): unknown[] {
    const all = this.sorted([...this.rows.values()]);
    return limit >= all.length ? all : all.slice(all.length - limit);
  }

  get size(): number {
    return this.rows.size;
  }

  /** Everything needed to show this dashboard again after a restart (at most maxRows rows). */
  exportState(): DashboardState {
    return {
      queryId: this.queryId,
      queryName: this.queryName,
      lastBatchId: this.lastBatchId,
      updatedAtMs: this.updatedAtMs,
      appendSeq: this.appendSeq,
      skipped: this.skipped,
      rows: [...this.rows.entries()],
    };
  }

  /**
   * Take back a saved state, unless this sink has applied a batch already (then its own rows are
   * newer). The next open() with another query id (a new checkpoint) starts the batch count over.
   */
  restoreState(s: DashboardState): boolean {
    if (this.lastBatchId !== null || this.rows.size > 0) return false;
    for (const [k, v] of s.rows.slice(-this.maxRows)) this.rows.set(k, v);
    this.queryId = s.queryId;
    this.queryName = s.queryName;
    this.lastBatchId = s.lastBatchId;
    this.updatedAtMs = s.updatedAtMs;
    this.appendSeq = s.appendSeq;
    this.skipped = s.skipped;
    return true;
  }

  get outputMode(): OutputMode {
    return this.mode;
  }

  info(): DashboardInfo {
    return {
      name: this.name,
      title: this.title,
      kind: this.kind,
      keyColumns: [...this.keyColumns],
      x: this.x,
      y: [...this.y],
      series: this.series,
      maxRows: this.maxRows,
      size: this.rows.size,
      query: this.queryName,
      lastBatchId: this.lastBatchId,
      updatedAt: this.updatedAtMs === null ? null : new Date(this.updatedAtMs).toISOString(),
      skippedRows: this.skipped,
      columns: this.columns.map((c) => ({ ...c })),
    };
  }
}

/** A sink that keeps the latest rows for a live table or chart in the web UI. */
export function dashboardSink(options: DashboardSinkOptions): DashboardSink {
  return new DashboardSink(options);
}
