/**
 * Streaming aggregation (Spark's StateStoreRestore/Save pair, in one operator).
 *
 *   input chunks ──► window(s) per row ──► late? (end ≤ watermark; never in complete mode)
 *                                  │              └─► drop; each late group counted once
 *                                  │
 *                                  ▼
 *        this batch's groups: a slot per window (or event time), then found by key values
 *          (a group's first touch: its store key text built, looked up in the store
 *           unless the slot's window has no group there yet; else a new group)
 *                                  │  accumulate(group, row) per row
 *                                  ▼  end of input
 *         complete: put every touched group, emit every group in the store
 *         update:   emit the groups touched this batch, evict groups with end ≤ watermark, put the rest
 *         append:   emit and evict groups with end ≤ watermark (they can no longer change), put the rest
 *
 * A group is one flat array, in the store as in memory: the key values (a window key as its
 * start), then the aggregates' buffers. One object per group keeps state encoding cheap (the
 * store's msgpack tracks every object it writes, for shared references).
 *
 * How state stays bounded: store keys start with the zero-padded event-time
 * end of the group (the window end, or the time column), so the groups the
 * watermark has passed are one range scan `[-∞, pad(watermark + 1))` away and
 * are deleted in update and append modes. Complete mode keeps everything
 * (its output is the whole table), as Spark does. The scan runs before this
 * batch's groups are put when none of them is expired (the usual case); lateness
 * is judged by the previous batch's watermark, so after a jump a touched group
 * can be expired already — then the groups are put first and the scan evicts
 * (and in append mode emits) them with the rest.
 *
 * The watermarks used are the batch's (computed after earlier batches and kept in
 * the offsets log), so a replayed batch decides lateness and eviction exactly as
 * the first run. Lateness uses ctx.lateEventsWatermarkMs (see StatefulOperator).
 *
 * On worker threads the fold can run in two steps (Spark's partial/final aggregate):
 *
 *   task's rows ──► partial(): the same fold, no store ──► {k: store key, e: end, g: group}
 *        ──► exchange (by the group's keys: the partition its rows would get) ──►
 *   run() with spec.mergesPartials: each partial group merged into the store's
 *        (AggregateFunction.merge) ──► put, evict, emit as above
 *
 * partial() keeps late rows; the final step drops late partial groups (end ≤ the late-events
 * watermark). numRowsDroppedByWatermark counts late groups, once per batch and partition, on one
 * thread or many — as Spark's StateStoreSaveExec counts the late groups it receives after
 * partial aggregation, not the input rows behind them.
 */
import type { Row } from '../../schema/index.ts';
import type { OutputMode } from '../../connectors/contracts.ts';
import { padTime } from '../../util/timeKeys.ts';
import type { StatefulBatchContext, StatefulBatchMetrics, StatefulOperator } from '../StatefulOperator.ts';
import type { StateStore } from '../../state/StateStore.ts';
import type { AggregateFunction } from '../aggregates/AggregateFunction.ts';
import { lastWindowStart, type WindowSpec } from '../../expr/windows.ts';

/** A group: key values (a window key as its start), then one buffer per aggregate. */
export type Group = unknown[];

/** Makes the group of a row seen for the first time in a batch (see GroupFinder); `keyText`: its key values' text. */
export interface GroupMaker {
  make(row: Row, keyText: string): Group;
}

/** Finds a row's group among a slot's (`groups`: keyed by the first key value), or makes it with `maker`. */
export type GroupFinder = (groups: Map<unknown, unknown>, row: Row, maker: GroupMaker) => Group;

/** Everything the operator needs, bound at planning time. */
export interface AggregateSpec {
  readonly operatorId: string;
  /** Output column names: keys (in order), then aggregates. */
  readonly keyNames: readonly string[];
  readonly aggNames: readonly string[];
  /** Values of the non-window keys, in key order (window key slot: undefined); called once per new group. */
  readonly keyValues: (row: Row) => unknown[];
  /** The text of a row's non-window keys (the session aggregate's group key; this operator's is findGroup's). */
  readonly keyString: (row: Row) => string;
  /** The event-time key, if any: a window over a time expression, or a time column key. */
  readonly eventTime:
    | {
        readonly kind: 'window';
        readonly keyIndex: number;
        readonly time: (row: Row) => unknown;
        readonly spec: WindowSpec;
        readonly watermarked: boolean;
      }
    | { readonly kind: 'column'; readonly keyIndex: number; readonly time: (row: Row) => unknown }
    | null;
  /** The bound aggregate functions, in output order. */
  readonly aggs: readonly AggregateFunction<any>[];
  /** Folds a row into an array of buffers (one per aggregate) for every aggregate (generated; see bindAggregate). */
  readonly accumulate: (bufs: unknown[], row: Row) => void;
  /** The same for a Group (the buffers after the key values). */
  readonly accumulateGroup: (group: Group, row: Row) => void;
  /** Finds a row's group by its non-window key values (generated; see bindAggregate). */
  readonly findGroup: GroupFinder;
  /**
   * The input is partial groups (`partial()` of the same spec in each task, merged here), not rows:
   * set by the planner when the plan runs on worker threads.
   */
  readonly mergesPartials?: boolean;
}

/** A batch's groups (first-touch order) with their store keys and event-time ends. */
interface FoldedBatch {
  readonly touched: Group[];
  readonly touchedKeys: string[];
  readonly touchedEnds: number[];
  /** The lowest event-time end among them (eviction can run before the puts while it is above the watermark). */
  readonly minEnd: number;
}

/** This batch's groups of one window or event time (or of the whole batch, without event time). */
interface Slot {
  readonly groups: Map<unknown, unknown>;
  /** The store key prefix of the slot's groups: `${padTime(end)}|`, or '' without event time. */
  readonly prefix: string;
  /** The window start (window key), else 0. */
  readonly start: number;
  /** The event-time end of the slot's groups (Infinity without event time). */
  readonly end: number;
  /** Whether the store may hold groups of the slot (else a new group is not looked up there). */
  readonly inStore: boolean;
  /** The slot's late groups seen this batch (each counted once as dropped), when it is late. */
  late?: Map<unknown, unknown>;
}

/** Stands in for a late group: only its key is kept, to count it once. */
const LATE_GROUP: Group = [];

export class StreamingAggregate implements StatefulOperator {
  constructor(readonly spec: AggregateSpec) {}

  get operatorId(): string {
    return this.spec.operatorId;
  }

  /** Whether an eviction or emission is due when the watermark moved past `lastBatchWatermarkMs`. */
  needsNoDataBatch(newWatermarkMs: number, lastBatchWatermarkMs: number, outputMode: OutputMode): boolean {
    return outputMode !== 'complete' && this.hasWatermarkedTime() && newWatermarkMs > lastBatchWatermarkMs;
  }

  hasWatermarkedTime(): boolean {
    const et = this.spec.eventTime;
    return et !== null && (et.kind === 'column' || et.watermarked);
  }

  async *run(
    input: AsyncIterable<readonly Row[]>,
    ctx: StatefulBatchContext,
    metrics: StatefulBatchMetrics,
  ): AsyncIterable<Row[]> {
    // Complete mode keeps every group and its output is the whole table: nothing is late (Spark
    // filters late rows only in append and update modes).
    const lateWm = ctx.outputMode === 'complete' ? -Infinity : ctx.lateEventsWatermarkMs;
    const batch = this.spec.mergesPartials
      ? await this.mergePartials(input, ctx.store, lateWm, metrics)
      : await this.fold(input, ctx.store, lateWm, metrics);
    const out = this.save(batch, ctx, metrics);
    if (out.length > 0) yield out;
  }

  /**
   * Partial aggregation (Spark's partial/final split): this batch's rows of one task folded into
   * groups without the store, as rows `{ k: store key, e: event-time end, g: group }` for the
   * exchange. Late groups go too: the final step drops them and counts each once, as Spark's
   * StateStoreSaveExec counts the late groups it receives.
   */
  async *partial(input: AsyncIterable<readonly Row[]>, metrics: StatefulBatchMetrics): AsyncIterable<Row[]> {
    const { touched, touchedKeys, touchedEnds } = await this.fold(input, null, -Infinity, metrics);
    const out: Row[] = [];
    for (let i = 0; i < touched.length; i++)
      out.push({ k: touchedKeys[i], e: touchedEnds[i], g: touched[i] });
    if (out.length > 0) yield out;
  }

  /**
   * Partial groups from every task merged into the store's groups (`aggs[i].merge`); a late group
   * (event-time end ≤ the late-events watermark) is dropped and counted once.
   */
  private async mergePartials(
    input: AsyncIterable<readonly Row[]>,
    store: StateStore,
    lateWm: number,
    metrics: StatefulBatchMetrics,
  ): Promise<FoldedBatch> {
    const { aggs, keyNames } = this.spec;
    const n = keyNames.length;
    const watermarked = this.hasWatermarkedTime();
    const touchedKeys: string[] = [];
    const touched: Group[] = [];
    const touchedEnds: number[] = [];
    const index = new Map<string, number>();
    const late = new Set<string>();
    let minEnd = Infinity;
    for await (const chunk of input) {
      for (let r = 0; r < chunk.length; r++) {
        const { k, e, g } = chunk[r] as { k: string; e: number; g: Group };
        if (watermarked && e <= lateWm) {
          if (!late.has(k)) {
            late.add(k);
            metrics.numRowsDroppedByWatermark++;
          }
          continue;
        }
        const seen = index.get(k);
        let target: Group | undefined = seen === undefined ? undefined : touched[seen];
        if (target === undefined) target = store.getForUpdate(k) as Group | undefined;
        if (target === undefined) target = g;
        else for (let i = 0; i < aggs.length; i++) target[n + i] = aggs[i]!.merge(target[n + i], g[n + i]);
        if (seen === undefined) {
          index.set(k, touched.length);
          touchedKeys.push(k);
          touched.push(target);
          touchedEnds.push(e);
          if (e < minEnd) minEnd = e;
        }
      }
    }
    return { touched, touchedKeys, touchedEnds, minEnd };
  }

  /** This batch's rows folded into groups: looked up in `store` (null: none, for a partial). */
  private async fold(
    input: AsyncIterable<readonly Row[]>,
    store: StateStore | null,
    lateWm: number,
    metrics: StatefulBatchMetrics,
  ): Promise<FoldedBatch> {
    const { spec } = this;
    const watermarked = this.hasWatermarkedTime();
    const et = spec.eventTime;
    const { aggs, findGroup, accumulateGroup } = spec;

    // The groups touched this batch and their store keys, in first-touch order.
    const touchedKeys: string[] = [];
    const touched: Group[] = [];
    const touchedEnds: number[] = [];
    // The lowest event-time end among them (eviction can run before the puts while it is above the watermark).
    let minEnd = Infinity;
    // The slot of the row being folded in (findGroup may call maker.make).
    let slot: Slot;
    /** Late rows: each late group is counted once (Spark counts the late groups its save step receives). */
    const lateMaker: GroupMaker = {
      make(): Group {
        metrics.numRowsDroppedByWatermark++;
        return LATE_GROUP;
      },
    };
    const maker: GroupMaker = {
      make(row: Row, keyText: string): Group {
        const key = slot.prefix + keyText;
        // Changed in place and put back below (the store undoes it if the batch does not commit).
        let g = slot.inStore && store !== null ? (store.getForUpdate(key) as Group | undefined) : undefined;
        if (g === undefined) {
          g = spec.keyValues(row);
          if (et?.kind === 'window') g[et.keyIndex] = slot.start;
          for (let i = 0; i < aggs.length; i++) g.push(aggs[i]!.init());
        }
        touchedKeys.push(key);
        touched.push(g);
        touchedEnds.push(slot.end);
        if (slot.end < minEnd) minEnd = slot.end;
        return g;
      },
    };
    /**
     * A slot for the groups ending at `end`. With a watermark, one look in the store tells whether any
     * is there already (most windows are new in a batch: their groups need no lookup). Without, the
     * store's keys are never scanned: a memory store does not keep them sorted for it.
     */
    const newSlot = (start: number, end: number): Slot => {
      const prefix = `${padTime(end)}|`;
      if (store === null) return { groups: new Map(), prefix, start, end, inStore: false };
      let inStore = !watermarked;
      if (watermarked) {
        for (const _ of store.range({ prefix })) {
          inStore = true;
          break;
        }
      }
      return { groups: new Map(), prefix, start, end, inStore };
    };

    if (et === null) {
      slot = { groups: new Map(), prefix: '', start: 0, end: Infinity, inStore: store !== null };
      for await (const chunk of input) {
        for (let r = 0; r < chunk.length; r++) {
          const row = chunk[r]!;
          accumulateGroup(findGroup(slot.groups, row, maker), row);
        }
      }
    } else if (et.kind === 'column') {
      // Per event time, then key values (the time column is one of the keys).
      const byTime = new Map<number, Slot>();
      const lateByTime = new Map<number, Map<unknown, unknown>>();
      for await (const chunk of input) {
        for (let r = 0; r < chunk.length; r++) {
          const row = chunk[r]!;
          const t = et.time(row) as number | null;
          if (t === null || t === undefined) continue;
          if (watermarked && t <= lateWm) {
            let lateGroups = lateByTime.get(t);
            if (lateGroups === undefined) lateByTime.set(t, (lateGroups = new Map()));
            findGroup(lateGroups, row, lateMaker);
            continue;
          }
          let s = byTime.get(t);
          if (s === undefined) byTime.set(t, (s = newSlot(0, t)));
          slot = s;
          accumulateGroup(findGroup(s.groups, row, maker), row);
        }
      }
    } else {
      // Hot loop (a row is in size/slide windows): groups are found by the key values in a slot per
      // window. Consecutive rows mostly fall in the same windows: their slots are kept between rows
      // (the windows of a time are those of its last window start when the size is a multiple of the slide).
      const byWindow = new Map<number, Slot>();
      const { sizeMs, slideMs } = et.spec;
      const sameWindowsPerStart = sizeMs % slideMs === 0;
      let rowSlots: Slot[] = [];
      let rowFirstStart = NaN;
      for await (const chunk of input) {
        for (let r = 0; r < chunk.length; r++) {
          const row = chunk[r]!;
          // Spark drops rows whose window time is null (TimeWindowing adds IsNotNull).
          const t = et.time(row) as number | null;
          if (t === null || t === undefined) continue;
          const first = lastWindowStart(t, et.spec);
          if (first !== rowFirstStart || !sameWindowsPerStart) {
            rowFirstStart = first;
            rowSlots = [];
            for (let start = first; start > t - sizeMs; start -= slideMs) {
              let s = byWindow.get(start);
              if (s === undefined) byWindow.set(start, (s = newSlot(start, start + sizeMs)));
              rowSlots.push(s);
            }
          }
          for (let i = 0; i < rowSlots.length; i++) {
            const s = rowSlots[i]!;
            if (watermarked && s.end <= lateWm) {
              findGroup((s.late ??= new Map()), row, lateMaker);
              continue;
            }
            slot = s;
            accumulateGroup(findGroup(s.groups, row, maker), row);
          }
        }
      }
    }
    return { touched, touchedKeys, touchedEnds, minEnd };
  }

  /** Put the batch's groups, evict and emit by the output mode; returns the rows to emit. */
  private save(batch: FoldedBatch, ctx: StatefulBatchContext, metrics: StatefulBatchMetrics): Row[] {
    const { touched, touchedKeys, minEnd } = batch;
    const { store } = ctx;
    const watermarked = this.hasWatermarkedTime();
    const wm = ctx.watermarkMs;
    metrics.numRowsUpdated = touched.length;

    const out: Row[] = [];
    const expiredEnd = watermarked ? padTime(wm + 1) : null;
    const mode = ctx.outputMode;
    if (expiredEnd !== null && mode !== 'complete') {
      const emit = mode === 'append' ? out : null;
      if (minEnd > wm) {
        // No touched group is expired: evict what the store holds, then put them.
        metrics.numRowsRemoved = this.evict(store, expiredEnd, emit);
        if (mode === 'update') for (const g of touched) out.push(this.toRow(g));
        for (let i = 0; i < touched.length; i++) store.put(touchedKeys[i]!, touched[i]);
      } else {
        // Some touched group is expired (rows are late only behind the previous batch's watermark):
        // put them all, then evict, in key order. Update mode emits every updated group first, the
        // expired ones too (Spark's StateStoreSaveExec: put and emit each, then remove by watermark).
        for (let i = 0; i < touched.length; i++) store.put(touchedKeys[i]!, touched[i]);
        if (mode === 'update') for (const g of touched) out.push(this.toRow(g));
        metrics.numRowsRemoved = this.evict(store, expiredEnd, emit);
      }
    } else {
      for (let i = 0; i < touched.length; i++) store.put(touchedKeys[i]!, touched[i]);
      if (mode === 'complete') for (const [, g] of store.range()) out.push(this.toRow(g as Group));
      else if (mode === 'update') for (const g of touched) out.push(this.toRow(g));
    }
    return out;
  }

  /** Delete groups whose event time is ≤ watermark (keys below `end`), emitting them into `out` if given. */
  private evict(store: StateStore, end: string, out: Row[] | null): number {
    let n = 0;
    for (const [key, g] of store.range({ end })) {
      if (out !== null) out.push(this.toRow(g as Group));
      store.delete(key);
      n++;
    }
    return n;
  }

  private toRow(g: Group): Row {
    const { keyNames, aggNames, aggs, eventTime } = this.spec;
    const row: Row = {};
    const n = keyNames.length;
    const windowIndex = eventTime?.kind === 'window' ? eventTime.keyIndex : -1;
    for (let i = 0; i < n; i++) {
      const v = g[i];
      row[keyNames[i]!] =
        i === windowIndex
          ? { start: v, end: (v as number) + (eventTime as { spec: WindowSpec }).spec.sizeMs }
          : v;
    }
    for (let i = 0; i < aggNames.length; i++) row[aggNames[i]!] = aggs[i]!.finish(g[n + i]);
    return row;
  }
}
