/**
 * Keyed state with timers: `groupByKey(…).processWithState(…)` (Spark's
 * flatMapGroupsWithState / transformWithState, Flink's KeyedProcessFunction).
 *
 *   batch N (store opened at version N, batch timestamp `now`, watermark `wm`)
 *
 *   1. TTL      x|pad(expiry)|enc  with expiry ≤ now  ──► delete the key's state (numExpiredByTtl)
 *   1b. initial state (first batch only: store version 0) ──► set, or handleInitialState(…) ──► output
 *   2. input    chunks ──► key = keyOf(row) ──► rows grouped by key, first-seen order
 *   3. process  each key with rows: process(key, rows, state, ctx) ──► output rows
 *   4. timers   t|pad(time)|enc  with time ≤ threshold  (one range scan, a snapshot taken
 *               after step 3)  ──► remove the timer, onTimer(key, timer, state, ctx) ──► output
 *               threshold = now (processingTime) or wm (eventTime)
 *
 * Store layout (enc = the canonical encoding of the key, hashed when long):
 *
 *   s|enc                 { k: key, v: state, u: last set (batch timestamp) }
 *   x|pad(u + ttl)|enc    u + ttl             TTL index (only with a TTL)
 *   t|pad(time)|enc       { k: key }          timers in time order: due ones are a prefix
 *   k|enc|pad(time)       time                the same timers by key (listTimers / deleteTimer)
 *   m|states              n                   keys with state (numRowsTotal; ../stateRowCount.ts)
 *
 * Stored values are never mutated: `get` returns a copy and `set` stores one.
 * Timers registered while timers fire are due at the earliest in the next batch.
 * Rows are not checked for lateness (as in Spark): a row at or below the
 * watermark still reaches `process`.
 *
 * No-data batches: the operator remembers the earliest timer and TTL expiry
 * after each batch it ran; a no-data batch is due when the watermark moved
 * past the earliest event-time timer, or (when the executor passes its clock)
 * the clock reached the earliest processing-time timer or TTL expiry. Before
 * it has run once in this process (a restart) it does not know, and asks for
 * a batch whenever one could be due.
 */
import type { OutputMode } from '../../connectors/contracts.ts';
import { MillraceError, userError, wrapError } from '../../errors/index.ts';
import type { Row } from '../../schema/index.ts';
import type { StateStore } from '../../state/StateStore.ts';
import { padTime } from '../../util/timeKeys.ts';
import type { StatefulBatchContext, StatefulBatchMetrics, StatefulOperator } from '../StatefulOperator.ts';
import type { KeyState, KeyedContext, KeyedOutput, TimeMode, TimerInfo } from './types.ts';
import { StateRowCount } from '../stateRowCount.ts';

/** Everything the operator needs, bound at planning time. */
export interface KeyedProcessSpec {
  readonly operatorId: string;
  /** How explain shows the key. */
  readonly keyDescription: string;
  readonly keyOf: (row: Row) => unknown;
  /** Canonical text of a key value (equal keys, equal text). */
  readonly encodeKey: (key: unknown) => string;
  readonly timeMode: TimeMode;
  readonly ttlMs: number | undefined;
  readonly process: (key: any, rows: any[], state: KeyState<any>, ctx: KeyedContext) => KeyedOutput<any>;
  readonly onTimer:
    ((key: any, timer: TimerInfo, state: KeyState<any>, ctx: KeyedContext) => KeyedOutput<any>) | undefined;
  readonly initialState: Iterable<readonly [any, any]> | (() => Iterable<readonly [any, any]>) | undefined;
  readonly handleInitialState:
    ((key: any, value: any, state: KeyState<any>, ctx: KeyedContext) => KeyedOutput<any>) | undefined;
}

interface StateEntry {
  readonly k: unknown;
  readonly v: unknown;
  readonly u: number;
}

const PAD_LEN = padTime(0).length;
const CHUNK = 4096;

const stateKey = (enc: string) => `s|${enc}`;
const STATE_COUNT = 'm|states';
const ttlKey = (expiry: number, enc: string) => `x|${padTime(expiry)}|${enc}`;
const timerKey = (time: number, enc: string) => `t|${padTime(time)}|${enc}`;
const byKeyPrefix = (enc: string) => `k|${enc}|`;
const unpad = (s: string) => Number(s) - 1e15;

function copy<T>(v: T): T {
  return v !== null && typeof v === 'object' ? structuredClone(v) : v;
}

/** What this process knows of the store after the last batch it ran. */
interface Pending {
  readonly earliestTimer: number | undefined;
  readonly earliestExpiry: number | undefined;
}

export class KeyedProcess implements StatefulOperator {
  private pending: Pending | undefined;

  /**
   * `ownsKey`: whether a key belongs to this instance's state partition. Rows arrive partitioned
   * already; the initial state is given whole, so each partition keeps only its own keys of it.
   */
  constructor(
    readonly spec: KeyedProcessSpec,
    private readonly ownsKey: (key: unknown) => boolean = () => true,
  ) {}

  get operatorId(): string {
    return this.spec.operatorId;
  }

  needsNoDataBatch(
    newWatermarkMs: number,
    lastBatchWatermarkMs: number,
    _outputMode: OutputMode,
    nowMs?: number,
  ): boolean {
    const { timeMode, ttlMs } = this.spec;
    const p = this.pending;
    if (timeMode === 'eventTime' && newWatermarkMs > lastBatchWatermarkMs) {
      if (p === undefined || (p.earliestTimer !== undefined && p.earliestTimer <= newWatermarkMs))
        return true;
    }
    if (timeMode === 'processingTime') {
      if (p === undefined) return true;
      if (p.earliestTimer !== undefined && (nowMs === undefined || p.earliestTimer <= nowMs)) return true;
    }
    if (ttlMs !== undefined && nowMs !== undefined) {
      if (p === undefined || (p.earliestExpiry !== undefined && p.earliestExpiry <= nowMs)) return true;
    }
    return false;
  }

  async *run(
    input: AsyncIterable<readonly Row[]>,
    ctx: StatefulBatchContext,
    metrics: StatefulBatchMetrics,
  ): AsyncIterable<Row[]> {
    const { spec } = this;
    const { store } = ctx;
    const now = ctx.batchTimestampMs;
    this.pending = undefined;
    const counts = { registered: 0, deleted: 0, fired: 0, expired: 0, keys: 0, states: 0 };
    const stateCount = new StateRowCount(store, STATE_COUNT, () => [...store.range({ prefix: 's|' })].length);
    const updated = new Set<string>();

    // 1. TTL: drop state whose last update + ttl ≤ now.
    if (spec.ttlMs !== undefined) {
      const expired: [string, string][] = [];
      for (const [k, expiry] of store.range({ start: 'x|', end: `x|${padTime(now + 1)}` })) {
        if ((expiry as number) <= now) expired.push([k, k.slice(2 + PAD_LEN + 1)]);
      }
      for (const [k, enc] of expired) {
        store.delete(k);
        if (store.get(stateKey(enc)) !== undefined) counts.states--;
        store.delete(stateKey(enc));
      }
      counts.expired = expired.length;
      metrics.numRowsRemoved += expired.length;
    }

    const handleFor = (enc: string, key: unknown) =>
      this.handle(store, ctx, enc, key, counts, updated, metrics);
    let out: Row[] = [];

    // 1b. Initial state, in the query's first batch only (a replay of it applies it again, alike).
    if (spec.initialState !== undefined && store.version === 0) {
      const init = this.initialEntries(ctx.batchId);
      const seen = new Set<string>();
      let owned = 0;
      for (const [key, value] of init) {
        const enc = this.encodeInitialKey(key, ctx.batchId);
        if (seen.has(enc)) {
          throw userError(
            'DUPLICATE_INITIAL_STATE',
            `${spec.operatorId}: initialState has the key ${describeKey(key)} twice; give each key once`,
            { operator: spec.operatorId, batch: ctx.batchId },
          );
        }
        seen.add(enc);
        if (!this.ownsKey(key)) continue;
        owned++;
        const h = handleFor(enc, key);
        const handleInitial = spec.handleInitialState;
        if (handleInitial === undefined) {
          if (value === undefined) continue;
          this.call('initialState', key, ctx.batchId, out, () => h.state.set(value));
        } else {
          this.call('handleInitialState', key, ctx.batchId, out, () =>
            handleInitial(key, value, h.state, h.ctx),
          );
        }
      }
      // This partition's keys: summed over partitions, the whole initial state.
      metrics.custom.numInitialStateKeys = owned;
    }

    // 2. Group the batch's rows by key.
    const groups = new Map<string, { key: unknown; rows: Row[] }>();
    for await (const chunk of input) {
      for (let i = 0; i < chunk.length; i++) {
        const row = chunk[i]!;
        let key: unknown;
        let enc: string;
        try {
          key = spec.keyOf(row);
          enc = spec.encodeKey(key);
        } catch (e) {
          throw wrapError(e, 'OPERATOR_FAILED', `${spec.operatorId}: the grouping key of a row failed`, {
            operator: spec.operatorId,
            batch: ctx.batchId,
          });
        }
        const g = groups.get(enc);
        if (g) g.rows.push(row);
        else groups.set(enc, { key, rows: [row] });
      }
    }

    // 3. process(key, rows) per key, in first-seen order.
    for (const [enc, g] of groups) {
      counts.keys++;
      const h = handleFor(enc, g.key);
      this.call('process', g.key, ctx.batchId, out, () => spec.process(g.key, g.rows, h.state, h.ctx));
      if (out.length >= CHUNK) {
        yield out;
        out = [];
      }
    }
    groups.clear();

    // 4. Due timers, earliest first: a snapshot, so timers registered now wait for the next batch.
    if (spec.timeMode !== 'none') {
      const threshold = spec.timeMode === 'eventTime' ? ctx.watermarkMs : now;
      const kind = spec.timeMode;
      const due: [string, unknown][] = [
        ...store.range({ start: 't|', end: `t|${padTime(Math.floor(threshold) + 1)}` }),
      ];
      for (const [k, v] of due) {
        if (store.get(k) === undefined) continue; // deleted by an earlier onTimer of the same key
        const enc = k.slice(2 + PAD_LEN + 1);
        const padded = k.slice(2, 2 + PAD_LEN);
        store.delete(k);
        store.delete(byKeyPrefix(enc) + padded);
        counts.fired++;
        const key = (v as { k: unknown }).k;
        const onTimer = spec.onTimer;
        if (onTimer === undefined) continue;
        const h = handleFor(enc, key);
        const timer: TimerInfo = { time: unpad(padded), kind };
        this.call('onTimer', key, ctx.batchId, out, () => onTimer(key, timer, h.state, h.ctx));
        if (out.length >= CHUNK) {
          yield out;
          out = [];
        }
      }
    }
    if (out.length > 0) yield out;

    stateCount.add(counts.states);
    metrics.numRowsTotal = stateCount.save();
    metrics.numRowsUpdated = updated.size;
    metrics.custom.numKeysProcessed = counts.keys;
    metrics.custom.numTimersRegistered = counts.registered;
    metrics.custom.numTimersDeleted = counts.deleted;
    metrics.custom.numTimersFired = counts.fired;
    metrics.custom.numExpiredByTtl = counts.expired;
    this.pending = {
      earliestTimer: firstTimer(store),
      earliestExpiry: spec.ttlMs === undefined ? undefined : firstExpiry(store),
    };
  }

  private initialEntries(batchId: number): Iterable<readonly [unknown, unknown]> {
    const { initialState, operatorId } = this.spec;
    let entries: unknown;
    try {
      entries = typeof initialState === 'function' ? initialState() : initialState;
    } catch (e) {
      throw wrapError(e, 'OPERATOR_FAILED', `${operatorId}: initialState() failed`, {
        operator: operatorId,
        batch: batchId,
      });
    }
    if (entries == null || typeof (entries as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw userError(
        'INVALID_ARGUMENT',
        `${operatorId}: initialState() must return an iterable of [key, state] pairs, got ${typeof entries}`,
        { operator: operatorId, batch: batchId },
      );
    }
    const out: [unknown, unknown][] = [];
    for (const e of entries as Iterable<unknown>) {
      if (!Array.isArray(e) || e.length !== 2) {
        throw userError(
          'INVALID_ARGUMENT',
          `${operatorId}: each initialState entry must be a [key, state] pair, got ${describeKey(e)}`,
          { operator: operatorId, batch: batchId },
        );
      }
      out.push([e[0], e[1]]);
    }
    return out;
  }

  private encodeInitialKey(key: unknown, batchId: number): string {
    try {
      return this.spec.encodeKey(key);
    } catch (e) {
      throw wrapError(
        e,
        'OPERATOR_FAILED',
        `${this.spec.operatorId}: an initialState key cannot be encoded`,
        {
          operator: this.spec.operatorId,
          batch: batchId,
        },
      );
    }
  }

  /** Run a user function and collect its output; failures name the operator, the function and the key. */
  private call(what: string, key: unknown, batchId: number, out: Row[], fn: () => KeyedOutput<any>): void {
    const { operatorId } = this.spec;
    try {
      const result = fn();
      if (result == null) return;
      if (Array.isArray(result)) {
        for (const r of result) out.push(r as Row);
        return;
      }
      if (typeof (result as Iterable<unknown>)[Symbol.iterator] !== 'function') {
        throw userError(
          'INVALID_OUTPUT',
          `${what} must return an array or iterable of output rows (or nothing), got ${typeof result}`,
        );
      }
      for (const r of result as Iterable<unknown>) out.push(r as Row);
    } catch (e) {
      const context = { operator: operatorId, batch: batchId };
      if (e instanceof MillraceError) throw e.withContext(context);
      throw wrapError(
        e,
        'OPERATOR_FAILED',
        `${operatorId}: ${what}(key ${describeKey(key)}) failed`,
        context,
      );
    }
  }

  /** The state handle and context for one key. */
  private handle(
    store: StateStore,
    bctx: StatefulBatchContext,
    enc: string,
    key: unknown,
    counts: { registered: number; deleted: number; states: number },
    updated: Set<string>,
    metrics: StatefulBatchMetrics,
  ): { state: KeyState<unknown>; ctx: KeyedContext } {
    const { operatorId, timeMode, ttlMs } = this.spec;
    const now = bctx.batchTimestampMs;
    const sKey = stateKey(enc);
    const entry = () => store.get(sKey) as StateEntry | undefined;
    const dropTtl = (e: StateEntry | undefined) => {
      if (e !== undefined && ttlMs !== undefined) store.delete(ttlKey(e.u + ttlMs, enc));
    };
    const state: KeyState<unknown> = {
      get exists() {
        return entry() !== undefined;
      },
      get: () => copy(entry()?.v),
      set: (value) => {
        if (value === undefined) {
          throw userError('INVALID_ARGUMENT', `${operatorId}: state.set(undefined) — use state.remove()`);
        }
        const before = entry();
        if (before === undefined) counts.states++;
        dropTtl(before);
        store.put(sKey, { k: key, v: copy(value), u: now } satisfies StateEntry);
        if (ttlMs !== undefined) store.put(ttlKey(now + ttlMs, enc), now + ttlMs);
        updated.add(enc);
      },
      remove: () => {
        const e = entry();
        if (e === undefined) return;
        counts.states--;
        dropTtl(e);
        store.delete(sKey);
        updated.delete(enc);
        metrics.numRowsRemoved++;
      },
    };
    const checkTime = (what: string, timeMs: number): number => {
      if (timeMode === 'none') {
        throw userError(
          'INVALID_OPERATION',
          `${operatorId}: ${what} needs timeMode 'processingTime' or 'eventTime' (this operator has timeMode 'none')`,
        );
      }
      if (typeof timeMs !== 'number' || !Number.isFinite(timeMs)) {
        throw userError(
          'INVALID_ARGUMENT',
          `${operatorId}: ${what}(${String(timeMs)}): give a time in epoch ms`,
        );
      }
      return Math.floor(timeMs);
    };
    const ctx: KeyedContext = {
      batchId: bctx.batchId,
      batchTimestampMs: now,
      watermarkMs: bctx.watermarkMs,
      timeMode,
      registerTimer: (timeMs) => {
        const t = checkTime('registerTimer', timeMs);
        const tk = timerKey(t, enc);
        if (store.get(tk) !== undefined) return;
        store.put(tk, { k: key });
        store.put(byKeyPrefix(enc) + padTime(t), t);
        counts.registered++;
      },
      deleteTimer: (timeMs) => {
        const t = checkTime('deleteTimer', timeMs);
        const tk = timerKey(t, enc);
        if (store.get(tk) === undefined) return;
        store.delete(tk);
        store.delete(byKeyPrefix(enc) + padTime(t));
        counts.deleted++;
      },
      listTimers: () => {
        const prefix = byKeyPrefix(enc);
        const times: number[] = [];
        for (const [k, t] of store.range({ prefix }))
          if (k.length === prefix.length + PAD_LEN) times.push(t as number);
        return times;
      },
    };
    return { state, ctx };
  }
}

function firstTimer(store: StateStore): number | undefined {
  for (const [k] of store.range({ prefix: 't|' })) return unpad(k.slice(2, 2 + PAD_LEN));
  return undefined;
}

function firstExpiry(store: StateStore): number | undefined {
  for (const [, expiry] of store.range({ prefix: 'x|' })) return expiry as number;
  return undefined;
}

function describeKey(key: unknown): string {
  let s: string;
  try {
    s = typeof key === 'string' ? JSON.stringify(key) : (JSON.stringify(key) ?? String(key));
  } catch {
    s = String(key);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
