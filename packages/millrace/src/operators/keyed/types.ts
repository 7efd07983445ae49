/**
 * The public types of keyed state with timers (`stream.groupByKey(…).processWithState(…)`):
 * what the user's `process` / `onTimer` functions receive.
 */
import type { Schema } from '../../schema/index.ts';

/** How timers are measured: none (no timers), processing time (batch timestamps), event time (the watermark). */
export type TimeMode = 'none' | 'processingTime' | 'eventTime';

/** The output modes a keyed-state operator can declare (complete mode has no result table to re-emit). */
export type KeyedOutputMode = 'append' | 'update';

/** The state of one key. Values must be storable (plain objects, arrays, numbers, strings, …). */
export interface KeyState<S> {
  /** Whether the key has state. */
  readonly exists: boolean;
  /** A copy of the state (mutating it changes nothing until `set`), or undefined. */
  get(): S | undefined;
  /** Replace the state (a copy is stored). With a TTL, restarts the key's TTL. */
  set(value: S): void;
  /** Remove the state (timers stay; delete them with `ctx.deleteTimer`). */
  remove(): void;
}

/** A timer that fired. */
export interface TimerInfo {
  /** The time it was registered for (epoch ms). */
  readonly time: number;
  readonly kind: 'processingTime' | 'eventTime';
}

/** What `process` and `onTimer` get besides the key and its state; timer calls act on the current key. */
export interface KeyedContext {
  readonly batchId: number;
  /** The batch's processing time (the same on a replay). */
  readonly batchTimestampMs: number;
  /** The watermark this batch runs with (0 before any). */
  readonly watermarkMs: number;
  readonly timeMode: TimeMode;
  /** Fire `onTimer` for this key once the time is reached (a second registration of the same time is a no-op). */
  registerTimer(timeMs: number): void;
  /** Remove this key's timer at that time, if any. */
  deleteTimer(timeMs: number): void;
  /** This key's pending timers, earliest first. */
  listTimers(): number[];
}

/** Whatever `process`/`onTimer` return: output rows (an array, a generator), or nothing. */
export type KeyedOutput<O> = Iterable<O> | void;

export interface ProcessWithStateOptions<K, R, S, O> {
  /** Suffix of the operator id (`processWithState-<n>-<name>`), shown in progress and explain. */
  readonly name?: string;
  readonly outputSchema: Schema<O>;
  /** Must equal the query's output mode (checked at start()). */
  readonly outputMode: KeyedOutputMode;
  readonly timeMode: TimeMode;
  /** State TTL: a key's state expires this long after it was last set (processing time). */
  readonly ttl?: string | number;
  /**
   * State to start from, as `[key, state]` pairs (Spark's `initialState`): applied in the query's
   * first batch only — a query restarted from a checkpoint already has its state. A function is
   * called at that batch (e.g. to read a table). Keys must be distinct.
   */
  readonly initialState?: Iterable<readonly [K, S]> | (() => Iterable<readonly [K, S]>);
  /**
   * How an initial entry becomes state (transformWithState's `handleInitialState`): called once
   * per entry before the first batch's rows; may set the state, register timers and return rows.
   * Default: `state.set(value)`.
   */
  handleInitialState?(key: K, value: S, state: KeyState<S>, ctx: KeyedContext): KeyedOutput<O>;
  /** Called once per key with data in a batch, with all of that key's rows of the batch. */
  process(key: K, rows: R[], state: KeyState<S>, ctx: KeyedContext): KeyedOutput<O>;
  /** Called for each due timer, after the batch's data was processed. */
  onTimer?(key: K, timer: TimerInfo, state: KeyState<S>, ctx: KeyedContext): KeyedOutput<O>;
}
