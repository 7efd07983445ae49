/**
 * Date and time functions (Spark SQL names in camelCase, UTC). Timestamps are
 * numbers of epoch milliseconds, dates numbers of epoch days. Functions that
 * take a timestamp or date also take a string, parsed as Spark casts it; a
 * string that is not a date gives null, so string inputs make the result nullable.
 *
 * Patterns use Spark's datetime letters: yyyy MM dd HH mm ss SSS EEE a D Q z X, 'quoted text'.
 */
import { Column, type ColumnLike, type NullOf, litExpr, toExpr } from '../Column.ts';
import { parseDuration } from '../../util/durations.ts';
import { userError } from '../../errors/index.ts';

type Str = string | null;
type Num = number | null;
/** A timestamp, a date, or a string holding one. */
type Temporal = number | string | null;
/** `null` when T admits strings (which may not parse). */
type NullIfString<T> = [Extract<T, string>] extends [never] ? never : null;
/** Nullability of a result computed from a temporal argument. */
type TemporalNull<T> = NullOf<T> | NullIfString<T>;

function call<R>(name: string, ...args: (ColumnLike<unknown> | undefined)[]): Column<R> {
  let n = args.length;
  while (n > 0 && args[n - 1] === undefined) n--;
  return new Column({ kind: 'call', name, args: args.slice(0, n).map((a) => toExpr(a)) });
}

// -- epoch conversions -------------------------------------------------------

/** Epoch seconds (long or double) → timestamp. */
export function timestampSeconds<T extends Num>(c: ColumnLike<T>): Column<number | NullOf<T>> {
  return call('timestamp_seconds', c);
}
/** Epoch milliseconds → timestamp. */
export function timestampMillis<T extends Num>(c: ColumnLike<T>): Column<number | NullOf<T>> {
  return call('timestamp_millis', c);
}
/** Epoch microseconds → timestamp (milliseconds precision). */
export function timestampMicros<T extends Num>(c: ColumnLike<T>): Column<number | NullOf<T>> {
  return call('timestamp_micros', c);
}
/** Timestamp → epoch seconds (floored). */
export function unixSeconds<T extends Num>(c: ColumnLike<T>): Column<number | NullOf<T>> {
  return call('unix_seconds', c);
}
export function unixMillis<T extends Num>(c: ColumnLike<T>): Column<number | NullOf<T>> {
  return call('unix_millis', c);
}
export function unixMicros<T extends Num>(c: ColumnLike<T>): Column<number | NullOf<T>> {
  return call('unix_micros', c);
}
/** Date → days since 1970-01-01. */
export function unixDate<T extends Num>(c: ColumnLike<T>): Column<number | NullOf<T>> {
  return call('unix_date', c);
}
/** Days since 1970-01-01 → date. */
export function dateFromUnixDate<T extends Num>(c: ColumnLike<T>): Column<number | NullOf<T>> {
  return call('date_from_unix_date', c);
}
/**
 * Epoch seconds of a timestamp or date, or of a string parsed with `format`
 * (default `yyyy-MM-dd HH:mm:ss`; null when it does not parse).
 */
export function unixTimestamp<T extends Temporal, F extends Str = string>(
  c: ColumnLike<T>,
  format?: ColumnLike<F>,
): Column<number | TemporalNull<T> | NullOf<F>> {
  return call('unix_timestamp', c, format);
}
/** Epoch seconds → string in `format` (default `yyyy-MM-dd HH:mm:ss`). */
export function fromUnixtime<T extends Num, F extends Str = string>(
  c: ColumnLike<T>,
  format?: ColumnLike<F>,
): Column<string | NullOf<T> | NullOf<F>> {
  return call('from_unixtime', c, format);
}

// -- parsing and formatting --------------------------------------------------

/** String (optionally with a pattern) → timestamp; null when it does not parse. Numbers count seconds. */
export function toTimestamp<T extends Temporal, F extends Str = string>(
  c: ColumnLike<T>,
  format?: ColumnLike<F>,
): Column<number | TemporalNull<T> | NullOf<F>> {
  return call('to_timestamp', c, format);
}
/** String (optionally with a pattern) or timestamp → date; null when it does not parse. */
export function toDate<T extends Temporal, F extends Str = string>(
  c: ColumnLike<T>,
  format?: ColumnLike<F>,
): Column<number | TemporalNull<T> | NullOf<F>> {
  return call('to_date', c, format);
}
/** Timestamp or date → string in a Spark datetime pattern, e.g. `yyyy-MM-dd HH:mm`. */
export function dateFormat<T extends Temporal, F extends Str = string>(
  c: ColumnLike<T>,
  format: ColumnLike<F>,
): Column<string | TemporalNull<T> | NullOf<F>> {
  return call('date_format', c, format);
}

// -- fields ------------------------------------------------------------------

type Field = <T extends Temporal>(c: ColumnLike<T>) => Column<number | TemporalNull<T>>;
const field =
  (name: string): Field =>
  (c) =>
    call(name, c);

export const year: Field = field('year');
/** 1 to 4. */
export const quarter: Field = field('quarter');
/** 1 to 12. */
export const month: Field = field('month');
export const dayofmonth: Field = field('dayofmonth');
/** 1 = Sunday … 7 = Saturday. */
export const dayofweek: Field = field('dayofweek');
/** 0 = Monday … 6 = Sunday. */
export const weekday: Field = field('weekday');
/** 1 to 366. */
export const dayofyear: Field = field('dayofyear');
/** ISO-8601 week of the year (weeks start on Monday; week 1 holds the first Thursday). */
export const weekofyear: Field = field('weekofyear');
export const hour: Field = field('hour');
export const minute: Field = field('minute');
export const second: Field = field('second');

// -- arithmetic --------------------------------------------------------------

/** The date `days` days after `start` (a date, timestamp or date string). */
export function dateAdd<T extends Temporal, N extends Num = number>(
  start: ColumnLike<T>,
  days: ColumnLike<N>,
): Column<number | TemporalNull<T> | NullOf<N>> {
  return call('date_add', start, days);
}
export function dateSub<T extends Temporal, N extends Num = number>(
  start: ColumnLike<T>,
  days: ColumnLike<N>,
): Column<number | TemporalNull<T> | NullOf<N>> {
  return call('date_sub', start, days);
}
/** Days from `start` to `end`. */
export function datediff<E extends Temporal, S extends Temporal>(
  end: ColumnLike<E>,
  start: ColumnLike<S>,
): Column<number | TemporalNull<E> | TemporalNull<S>> {
  return call('datediff', end, start);
}
/** The date `months` months later (the day clamped to the month's length). */
export function addMonths<T extends Temporal, N extends Num = number>(
  start: ColumnLike<T>,
  months: ColumnLike<N>,
): Column<number | TemporalNull<T> | NullOf<N>> {
  return call('add_months', start, months);
}
/** The last day of the month. */
export function lastDay<T extends Temporal>(c: ColumnLike<T>): Column<number | TemporalNull<T>> {
  return call('last_day', c);
}
/** A date from year, month and day; null when it does not exist. */
export function makeDate(
  year: ColumnLike<Num>,
  month: ColumnLike<Num>,
  day: ColumnLike<Num>,
): Column<number | null> {
  return call('make_date', year, month, day);
}

export type DateTruncUnit =
  | 'year'
  | 'yyyy'
  | 'yy'
  | 'quarter'
  | 'month'
  | 'mon'
  | 'mm'
  | 'week'
  | 'day'
  | 'dd'
  | 'hour'
  | 'minute'
  | 'second'
  | 'millisecond'
  | 'microsecond';

/** Timestamp truncated to a unit (Spark argument order: unit first). */
export function dateTrunc<T extends Temporal>(
  unit: DateTruncUnit | Uppercase<DateTruncUnit>,
  c: ColumnLike<T>,
): Column<number | TemporalNull<T>> {
  return call('date_trunc', unit, c);
}
export type TruncUnit = 'year' | 'yyyy' | 'yy' | 'quarter' | 'month' | 'mon' | 'mm' | 'week';

/** Date truncated to a year, quarter, month or week (Monday). */
export function trunc<T extends Temporal>(
  c: ColumnLike<T>,
  unit: TruncUnit | Uppercase<TruncUnit>,
): Column<number | TemporalNull<T>> {
  return call('trunc', c, unit);
}

// -- event-time windows ------------------------------------------------------

/** The `[start, end)` window struct of `window()`; both are timestamps (epoch ms). */
export interface TimeWindow {
  readonly start: number;
  readonly end: number;
}

/**
 * Event-time windows, as Spark's `window(timeColumn, windowDuration[, slideDuration[, startTime]])`.
 * `window($.t, '10 seconds')` is tumbling; `window($.t, '10 seconds', '5 seconds')` slides, and a row
 * belongs to every window that contains it. Use it as a groupBy key.
 */
export function window(
  time: Column<number | null> | Column<TimeWindow>,
  windowDuration: string | number,
  slideDuration?: string | number,
  startTime?: string | number,
): Column<TimeWindow> {
  const size = parseDuration(windowDuration, 'window duration');
  const slide = slideDuration === undefined ? size : parseDuration(slideDuration, 'window slide duration');
  const start = startTime === undefined ? 0 : parseSignedDuration(startTime, 'window start time');
  return new Column({
    kind: 'call',
    name: 'window',
    args: [time.expr, litExpr(size), litExpr(slide), litExpr(start)],
  });
}

function parseSignedDuration(v: string | number, what: string): number {
  if (typeof v === 'string' && v.trim().startsWith('-')) return -parseDuration(v.trim().slice(1), what);
  if (typeof v === 'number') return v;
  return parseDuration(v, what);
}

/**
 * Session windows, as Spark's `session_window(timeColumn, gapDuration)`: a session starts at an
 * event and ends `gap` after its last event; events within the gap extend it, and sessions that
 * overlap or touch merge (also across batches). The gap is a duration (`'5 minutes'`, or ms) or a
 * per-row column giving ms or duration text; rows whose gap is null, not positive or unreadable get
 * no session and are dropped, as in Spark. Use it as a groupBy key (named `session_window` when
 * untyped): `groupBy($ => ({ session: sessionWindow($.t, '5 minutes'), user: $.user }))`.
 */
export function sessionWindow<T extends number | null, G extends number | string | null>(
  time: Column<T>,
  gapDuration: string | number | Column<G>,
): Column<TimeWindow> {
  if (gapDuration instanceof Column) {
    return new Column({ kind: 'call', name: 'session_window', args: [time.expr, gapDuration.expr] });
  }
  const gapMs = parseDuration(gapDuration, 'sessionWindow gap');
  if (!(gapMs > 0)) {
    throw userError('INVALID_WINDOW', `sessionWindow: the gap must be positive, got ${String(gapDuration)}`);
  }
  return new Column({ kind: 'call', name: 'session_window', args: [time.expr, litExpr(gapMs)] });
}

/**
 * The micro-batch's timestamp, as Spark's `current_timestamp()` in a streaming query: the same for
 * every row of a batch, and the same again if the batch is replayed after a crash. Group by
 * `window(currentTimestamp(), …)` for processing-time windows.
 */
export function currentTimestamp(): Column<number> {
  return new Column({ kind: 'call', name: 'current_timestamp', args: [] });
}
