/**
 * Session window aggregation (Spark's `session_window`: SessionWindowStateStoreRestoreExec,
 * MergingSessionsExec and SessionWindowStateStoreSaveExec, in one operator).
 *
 * A row with event time t and gap g (fixed, or evaluated per row) is the one-event session
 * [t, t+g). Per grouping key (the other groupBy keys), sessions that overlap or touch
 * (next.start <= current.end) merge; a merged session takes the smallest start, the largest end
 * and the merged aggregate buffers (AggregateFunction.merge). Merging is order independent, so
 * rows of this batch merge with each other and with the sessions stored by earlier batches:
 *
 *   gap 5, key "u1"                 0    5    10   15   20   25
 *   state after batch 0:            [1 ····· 8)   [12 ···· 17)        two open sessions
 *   batch 1, event t=9 → [9, 14)          [9 ······ 14)               touches both
 *   after batch 1:                  [1 ······················ 17)     one session, buffers merged
 *
 * Per row:  time or gap null / gap <= 0 / unreadable gap text ─► no session: dropped (as Spark)
 *           watermarked and t + g <= watermark                ─► late: dropped, counted
 *           else: binary-search the key's sorted sessions for the ones [t, t+g] touches, merge
 *           them into one (or insert a new one), update its buffers with the row.
 *
 * State layout (two entries per grouping key that has open sessions, and a counter):
 *
 *   e|<pad(end of its earliest session)>|<key text>  →  [keys, [[start, end, bufs], …]]
 *   k|<key text>                                     →  end of its earliest session
 *   m|sessions                                       →  open sessions (numRowsTotal)
 *
 * The sessions of a key are sorted by start, disjoint and not touching, so their ends are sorted
 * too: the earliest session ends first. `k|` finds a key's entry when its rows arrive; when the
 * earliest end changes (a new earlier session, the first one extended, merged or evicted) the
 * `e|` entry moves: the old one is deleted and the new one put.
 *
 * How state stays bounded: the `e|` entries are ordered by the first session end that the
 * watermark will pass, so the keys with a session to close are exactly the range
 * `[e|, e|pad(watermark + 1))`; each is rewritten without its sessions with end <= watermark (or
 * deleted, with its `k|` entry, when none remain). Keying by the *earliest* end, not the latest,
 * matters for append: a key with an old, finished session and a newer open one must still emit
 * the old one when the watermark passes it.
 *
 *   complete: emit every session in the store; nothing is evicted (as Spark)
 *   update:   refused at start() (plan/streamingChecks.ts), as in Spark
 *   append:   emit and evict the sessions whose end <= watermark (they can no longer change)
 *
 * Why no update mode: a merge replaces sessions already emitted (an emitted [1, 8) can later
 * become [1, 17)), and the superseded row could not be retracted. Rows are merged in arrival order; aggregates whose result depends on order
 * (first/last/collect_list) see that order, not event-time order.
 *
 * The watermark used is the batch's (computed after the previous batch), so a replayed batch
 * decides lateness and eviction exactly as the first run.
 */
import { internalError } from '../../errors/index.ts';
import type { OutputMode } from '../../connectors/contracts.ts';
import type { Row } from '../../schema/index.ts';
import type { StateStore } from '../../state/StateStore.ts';
import { parseDuration } from '../../util/durations.ts';
import type { AggregateFunction } from '../aggregates/AggregateFunction.ts';
import { padTime } from '../../util/timeKeys.ts';
import type { StatefulBatchContext, StatefulBatchMetrics, StatefulOperator } from '../StatefulOperator.ts';
import { StateRowCount } from '../stateRowCount.ts';

/** Everything the operator needs, bound at planning time (see bindSession.ts). */
export interface SessionSpec {
  readonly operatorId: string;
  /** Output column names: keys (in order, the session key among them), then aggregates. */
  readonly keyNames: readonly string[];
  readonly aggNames: readonly string[];
  /** Position of the session window among the keys. */
  readonly sessionIndex: number;
  /** Values of the keys (session slot: null); called once per new grouping key. */
  readonly keyValues: (row: Row) => unknown[];
  /** The text of a row's keys other than the session, for state lookups; called per row. */
  readonly keyString: (row: Row) => string;
  /** The event time (epoch ms) of a row. */
  readonly time: (row: Row) => unknown;
  /** The gap of a row: ms (number) or duration text ('5 minutes'). */
  readonly gap: (row: Row) => unknown;
  /** The time is a watermarked column: late rows are dropped and closed sessions evicted. */
  readonly watermarked: boolean;
  readonly aggs: readonly AggregateFunction<any>[];
  /** Folds a row into a session's buffers for every aggregate (generated; see bindAggregate). */
  readonly accumulate: (bufs: unknown[], row: Row) => void;
}

/** A session as stored: `[start, end)` and its aggregate buffers. */
type StoredSession = [start: number, end: number, bufs: unknown[]];
/** A grouping key's open sessions, sorted by start, disjoint and not touching. */
type GroupState = [keys: unknown[], sessions: StoredSession[]];

/** A session while a batch runs. */
interface LiveSession {
  start: number;
  end: number;
  bufs: unknown[];
  /** Created, extended, merged or updated by this batch (emitted in update mode). */
  changed: boolean;
  /** Continues a session that was in the store when the batch began. */
  fromStore: boolean;
}

interface LiveGroup {
  readonly keys: unknown[];
  readonly sessions: LiveSession[];
  /** End of the earliest session as stored when the batch began (undefined: not in the store). */
  readonly storedFirstEnd: number | undefined;
  /** Sessions of the key in the store when the batch began. */
  readonly storedSessions: number;
}

const DATA = 'e|';
const INDEX = 'k|';
/** The number of open sessions (numRowsTotal), see ../stateRowCount.ts. */
const SESSION_COUNT = 'm|sessions';
/** `e|` + 17 digits + `|`: where the key text starts in a data entry's key. */
const KEY_TEXT_AT = DATA.length + 17 + 1;
const dataKey = (firstEnd: number, keyText: string) => `${DATA}${padTime(firstEnd)}|${keyText}`;

export class SessionAggregate implements StatefulOperator {
  /** Parsed gap texts; per-row gap expressions usually yield a handful of distinct values. */
  private readonly gapTexts = new Map<string, number>();

  constructor(readonly spec: SessionSpec) {}

  get operatorId(): string {
    return this.spec.operatorId;
  }

  needsNoDataBatch(newWatermarkMs: number, lastBatchWatermarkMs: number, outputMode: OutputMode): boolean {
    return outputMode !== 'complete' && this.spec.watermarked && newWatermarkMs > lastBatchWatermarkMs;
  }

  async *run(
    input: AsyncIterable<readonly Row[]>,
    ctx: StatefulBatchContext,
    metrics: StatefulBatchMetrics,
  ): AsyncIterable<Row[]> {
    const { spec } = this;
    const { store } = ctx;
    const { aggs, watermarked } = spec;
    const wm = ctx.watermarkMs;
    const lateWm = ctx.lateEventsWatermarkMs;
    const groups = new Map<string, LiveGroup>();
    let withoutSession = 0;
    let merged = 0;
    let removedByMerge = 0;

    const groupFor = (keyText: string, row: Row): LiveGroup => {
      let g = groups.get(keyText);
      if (g !== undefined) return g;
      const firstEnd = store.get(INDEX + keyText) as number | undefined;
      if (firstEnd !== undefined) {
        // Clone: the store's committed value must not change before commit (a batch can abort).
        const [keys, sessions] = structuredClone(store.get(dataKey(firstEnd, keyText)) as GroupState);
        g = {
          keys,
          sessions: sessions.map(([start, end, bufs]) => ({
            start,
            end,
            bufs,
            changed: false,
            fromStore: true,
          })),
          storedFirstEnd: firstEnd,
          storedSessions: sessions.length,
        };
      } else {
        const keys = spec.keyValues(row);
        keys[spec.sessionIndex] = null;
        g = { keys, sessions: [], storedFirstEnd: undefined, storedSessions: 0 };
      }
      groups.set(keyText, g);
      return g;
    };

    /** Add the event session [t, end) of `row` to the group: merge what it touches, or insert it. */
    const addEvent = (g: LiveGroup, t: number, end: number, row: Row) => {
      const s = g.sessions;
      // First session that does not end before t (ends are sorted).
      let lo = 0;
      let hi = s.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (s[mid]!.end < t) lo = mid + 1;
        else hi = mid;
      }
      let j = lo;
      while (j < s.length && s[j]!.start <= end) j++;
      let target: LiveSession;
      if (j === lo) {
        target = { start: t, end, bufs: aggs.map((a) => a.init()), changed: true, fromStore: false };
        s.splice(lo, 0, target);
      } else {
        // Sessions lo … j-1 touch [t, end]: they become one.
        target = s[lo]!;
        if (t < target.start) target.start = t;
        target.end = Math.max(end, s[j - 1]!.end);
        for (let k = lo + 1; k < j; k++) {
          const other = s[k]!;
          for (let a = 0; a < aggs.length; a++)
            target.bufs[a] = aggs[a]!.merge(target.bufs[a], other.bufs[a]);
          merged++;
          if (other.fromStore) {
            if (target.fromStore) removedByMerge++;
            else target.fromStore = true;
          }
        }
        if (j - lo > 1) s.splice(lo + 1, j - lo - 1);
        target.changed = true;
      }
      spec.accumulate(target.bufs, row);
    };

    for await (const chunk of input) {
      for (let r = 0; r < chunk.length; r++) {
        const row = chunk[r]!;
        const t = spec.time(row);
        const gap = this.gapMs(spec.gap(row));
        // Spark gives no session to a row without a time or with a null / non-positive gap.
        if (typeof t !== 'number' || !(gap > 0)) {
          withoutSession++;
          continue;
        }
        const end = t + gap;
        if (watermarked && end <= lateWm) {
          metrics.numRowsDroppedByWatermark++;
          continue;
        }
        addEvent(groupFor(spec.keyString(row), row), t, end, row);
      }
    }

    const sessionCount = new StateRowCount(store, SESSION_COUNT, () => {
      let n = 0;
      for (const [, v] of store.range({ prefix: DATA })) n += (v as GroupState)[1].length;
      return n;
    });
    let updated = 0;
    for (const [keyText, g] of groups) {
      sessionCount.add(g.sessions.length - g.storedSessions);
      const firstEnd = g.sessions[0]!.end;
      if (g.storedFirstEnd !== undefined && g.storedFirstEnd !== firstEnd) {
        store.delete(dataKey(g.storedFirstEnd, keyText));
      }
      store.put(dataKey(firstEnd, keyText), [g.keys, g.sessions.map((x) => [x.start, x.end, x.bufs])]);
      if (g.storedFirstEnd !== firstEnd) store.put(INDEX + keyText, firstEnd);
      for (const x of g.sessions) if (x.changed) updated++;
    }
    metrics.numRowsUpdated = updated;

    const out: Row[] = [];
    let evicted = 0;
    switch (ctx.outputMode) {
      case 'complete':
        for (const [, v] of store.range({ prefix: DATA })) {
          const [keys, sessions] = v as GroupState;
          for (const x of sessions) out.push(this.toRow(keys, x[0], x[1], x[2]));
        }
        break;
      case 'update':
        throw internalError(
          'update output mode reached a session-window aggregation; start() should have refused it',
        );
      case 'append':
        if (watermarked) evicted = this.evict(store, wm, out);
        break;
    }
    sessionCount.add(-evicted);
    metrics.numRowsTotal = sessionCount.save();
    metrics.numRowsRemoved = evicted + removedByMerge;
    metrics.custom.numSessionsEvicted = evicted;
    metrics.custom.numSessionsMerged = merged;
    metrics.custom.numRowsWithoutSession = withoutSession;
    if (out.length > 0) yield out;
  }

  /** Remove sessions with end <= watermark (emitting them into `out` if given); returns how many. */
  private evict(store: StateStore, wm: number, out: Row[] | null): number {
    let n = 0;
    const due = [...store.range({ prefix: DATA, end: DATA + padTime(wm + 1) })];
    for (const [key, v] of due) {
      const [keys, sessions] = v as GroupState;
      let closed = 0;
      while (closed < sessions.length && sessions[closed]![1] <= wm) closed++;
      if (closed === 0) continue; // a fractional end within the last millisecond
      if (out) for (let i = 0; i < closed; i++) out.push(this.toRow(keys, ...sessions[i]!));
      const keyText = key.slice(KEY_TEXT_AT);
      store.delete(key);
      if (closed === sessions.length) {
        store.delete(INDEX + keyText);
      } else {
        const rest = sessions.slice(closed);
        store.put(dataKey(rest[0]![1], keyText), [keys, rest]);
        store.put(INDEX + keyText, rest[0]![1]);
      }
      n += closed;
    }
    return n;
  }

  private gapMs(v: unknown): number {
    if (typeof v === 'number') return v;
    if (typeof v !== 'string') return NaN;
    let ms = this.gapTexts.get(v);
    if (ms === undefined) {
      try {
        ms = parseDuration(v, 'session_window gap');
      } catch {
        ms = NaN; // unreadable text: no session (Spark's cast to interval gives null)
      }
      if (this.gapTexts.size >= 1024) this.gapTexts.clear();
      this.gapTexts.set(v, ms);
    }
    return ms;
  }

  private toRow(keys: readonly unknown[], start: number, end: number, bufs: readonly unknown[]): Row {
    const { keyNames, aggNames, aggs, sessionIndex } = this.spec;
    const row: Row = {};
    for (let i = 0; i < keyNames.length; i++)
      row[keyNames[i]!] = i === sessionIndex ? { start, end } : keys[i];
    for (let i = 0; i < aggNames.length; i++) row[aggNames[i]!] = aggs[i]!.finish(bufs[i]);
    return row;
  }
}
