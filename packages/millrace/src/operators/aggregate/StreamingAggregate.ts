/**
 * Streaming aggregation (Spark's StateStoreRestore/Save pair, in one operator).
 *
 *   input chunks ──► key + window(s) per row ──► late? (end ≤ watermark) ──► drop, count
 *                                  │
 *                                  ▼
 *        batch buffer Map<key, {keys, window, bufs}>  ◄── first touch: state store get (cloned)
 *                                  │  update(bufs, args) per row
 *                                  ▼  end of input
 *        put every touched group into the store (version N → N+1 at commit)
 *                                  │
 *         complete: emit every group in the store
 *         update:   emit the groups touched this batch, then evict groups with end ≤ watermark
 *         append:   emit and evict groups with end ≤ watermark (they can no longer change)
 *
 * How state stays bounded: store keys start with the zero-padded event-time
 * end of the group (the window end, or the time column), so the groups the
 * watermark has passed are one range scan `[-∞, pad(watermark + 1))` away and
 * are deleted in update and append modes. Complete mode keeps everything
 * (its output is the whole table), as Spark does.
 *
 * The watermarks used are the batch's (computed after earlier batches and kept in
 * the offsets log), so a replayed batch decides lateness and eviction exactly as
 * the first run. Lateness uses ctx.lateEventsWatermarkMs (see StatefulOperator).
 */
import type { Row } from '../../schema/index.ts';
import type { OutputMode } from '../../connectors/contracts.ts';
import { padTime } from '../../util/timeKeys.ts';
import type { StatefulBatchContext, StatefulBatchMetrics, StatefulOperator } from '../StatefulOperator.ts';
import type { StateStore } from '../../state/StateStore.ts';
import type { AggregateFunction } from '../aggregates/AggregateFunction.ts';
import { lastWindowStart, type WindowSpec } from '../../expr/windows.ts';

/** Everything the operator needs, bound at planning time. */
export interface AggregateSpec {
  readonly operatorId: string;
  /** Output column names: keys (in order), then aggregates. */
  readonly keyNames: readonly string[];
  readonly aggNames: readonly string[];
  /** Values of the non-window keys, in key order (window key slot: undefined); called once per new group. */
  readonly keyValues: (row: Row) => unknown[];
  /** The text of a row's non-window keys, for state lookups; called per row. */
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
  /** Folds a row into a group's buffers for every aggregate (generated; see bindAggregate). */
  readonly accumulate: (bufs: unknown[], row: Row) => void;
}

/** A group as kept in the store: key values (window slot holds [start, end]), buffers. */
type Group = [keys: unknown[], bufs: unknown[]];

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
    const { spec } = this;
    const { store } = ctx;
    const touched = new Map<string, Group>();
    // This batch's window groups by window start, then key text (the same objects as in `touched`).
    const byWindow = new Map<number, Map<string, Group>>();
    const watermarked = this.hasWatermarkedTime();
    const wm = ctx.watermarkMs;
    const lateWm = ctx.lateEventsWatermarkMs;
    const et = spec.eventTime;
    const aggs = spec.aggs;

    /** The group of `key`, from this batch, else from the store, else new with `keys()`. */
    const groupFor = (key: string, keys: () => unknown[]): Group => {
      let g = touched.get(key);
      if (g === undefined) {
        // Changed in place and put back below (the store undoes it if the batch does not commit).
        const stored = store.getForUpdate(key) as Group | undefined;
        g = stored !== undefined ? stored : [keys(), aggs.map((a) => a.init())];
        touched.set(key, g);
      }
      return g;
    };
    const fold = spec.accumulate;
    const accumulate = (g: Group, row: Row) => fold(g[1], row);

    for await (const chunk of input) {
      for (let r = 0; r < chunk.length; r++) {
        const row = chunk[r]!;
        const keyText = spec.keyString(row);
        if (et === null) {
          accumulate(
            groupFor(keyText, () => spec.keyValues(row)),
            row,
          );
        } else if (et.kind === 'column') {
          const t = et.time(row) as number | null;
          if (t === null || t === undefined) continue;
          if (watermarked && t <= lateWm) {
            metrics.numRowsDroppedByWatermark++;
            continue;
          }
          accumulate(
            groupFor(`${padTime(t)}|${keyText}`, () => spec.keyValues(row)),
            row,
          );
        } else {
          // Spark drops rows whose window time is null (TimeWindowing adds IsNotNull).
          const t = et.time(row) as number | null;
          if (t === null || t === undefined) continue;
          // Hot loop (a row is in size/slide windows): no closures, and groups are found by the
          // short key text in a per-window map; the full store key is built once per group.
          const { sizeMs } = et.spec;
          for (let start = lastWindowStart(t, et.spec); start > t - sizeMs; start -= et.spec.slideMs) {
            const end = start + sizeMs;
            if (watermarked && end <= lateWm) {
              metrics.numRowsDroppedByWatermark++;
              continue;
            }
            let groups = byWindow.get(start);
            if (groups === undefined) byWindow.set(start, (groups = new Map()));
            let g = groups.get(keyText);
            if (g === undefined) {
              g = groupFor(`${padTime(end)}|${padTime(start)}|${keyText}`, () => {
                const k = spec.keyValues(row);
                k[et.keyIndex] = [start, end];
                return k;
              });
              groups.set(keyText, g);
            }
            accumulate(g, row);
          }
        }
      }
    }

    for (const [key, g] of touched) store.put(key, g);
    metrics.numRowsUpdated = touched.size;

    const out: Row[] = [];
    const expiredEnd = watermarked ? padTime(wm + 1) : null;
    switch (ctx.outputMode) {
      case 'complete':
        for (const [, g] of store.range()) out.push(this.toRow(g as Group));
        break;
      case 'update':
        for (const [key, g] of touched) if (expiredEnd === null || key >= expiredEnd) out.push(this.toRow(g));
        if (expiredEnd !== null) metrics.numRowsRemoved = this.evict(store, expiredEnd, null);
        break;
      case 'append':
        if (expiredEnd !== null) metrics.numRowsRemoved = this.evict(store, expiredEnd, out);
        break;
    }
    if (out.length > 0) yield out;
  }

  /** Delete groups whose event time is ≤ watermark (keys below `end`), emitting them into `out` if given. */
  private evict(store: StateStore, end: string, out: Row[] | null): number {
    const expired = [...store.range({ end })];
    for (const [key, g] of expired) {
      if (out) out.push(this.toRow(g as Group));
      store.delete(key);
    }
    return expired.length;
  }

  private toRow(g: Group): Row {
    const { keyNames, aggNames, aggs, eventTime } = this.spec;
    const row: Row = {};
    const [keys, bufs] = g;
    for (let i = 0; i < keyNames.length; i++) {
      const v = keys[i];
      row[keyNames[i]!] =
        eventTime?.kind === 'window' && i === eventTime.keyIndex
          ? { start: (v as number[])[0], end: (v as number[])[1] }
          : v;
    }
    for (let i = 0; i < aggNames.length; i++) row[aggNames[i]!] = aggs[i]!.finish(bufs[i]);
    return row;
  }
}
