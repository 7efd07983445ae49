/**
 * Aggregate functions for `groupBy(...).agg({...})` (Spark SQL names in
 * camelCase), and `udaf()` for your own. Each returns an AggColumn<T> whose
 * T is the result type: `sum` over a Column<number | null> is number | null,
 * `count` is always a number, `collectList` over Column<T> is NonNullable<T>[].
 *
 * Nulls are ignored, as in Spark, except by `count()` (count(*)) and by
 * `first`/`last` without ignoreNulls.
 */
import { userError } from '../../errors/index.ts';
import type { Expr } from '../../expr/Expr.ts';
import type { AggExpr } from '../../operators/aggregates/AggExpr.ts';
import { type UdafSpec, udafDef } from '../../operators/aggregates/builtins/udaf.ts';
import { DOUBLE } from '../../schema/index.ts';
import { AggColumn } from '../AggColumn.ts';
import { Column, type ColumnLike, type NullOf, toExpr } from '../Column.ts';

type Num = number | null;
/** Values min/max/maxBy can order. */
type Orderable = number | string | boolean | object | null;

function agg<T>(name: string, args: readonly ColumnLike<unknown>[], distinct = false): AggColumn<T> {
  const expr: AggExpr = { kind: 'agg', name, args: args.map((a) => toExpr(a)), distinct };
  return new AggColumn<T>(expr);
}

function column(fn: string, c: unknown, what = 'column'): Column<unknown> {
  if (!(c instanceof Column)) {
    const hint = typeof c === 'string' ? `; for a column by name use col(${JSON.stringify(c)})` : '';
    throw userError('INVALID_ARGUMENT', `${fn}: the ${what} must be a Column, got ${describe(c)}${hint}`);
  }
  return c;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return v.constructor?.name ? `a ${v.constructor.name}` : 'an object';
  return `${typeof v} ${String(v)}`;
}

// ---------------------------------------------------------------------------
// Counting

/**
 * `count()` (or `count('*')`) counts rows; `count(col)` counts rows where col
 * is not null. Always a number, 0 for no rows.
 */
export function count(c?: Column<unknown> | '*'): AggColumn<number> {
  if (c === undefined || c === '*') return agg('count', []);
  return agg('count', [column('count', c)]);
}

/** `count(DISTINCT c, …)`: the number of distinct non-null values (rows with a null in any column are skipped). */
export function countDistinct(c: Column<unknown>, ...more: Column<unknown>[]): AggColumn<number> {
  return agg('count', [column('countDistinct', c), ...more.map((m) => column('countDistinct', m))], true);
}

/** The number of rows where `condition` is true. */
export function countIf(condition: Column<boolean | null>): AggColumn<number> {
  return agg('count_if', [column('countIf', condition, 'condition')]);
}

/**
 * The approximate number of distinct non-null values (HyperLogLog++), with
 * relative standard deviation `rsd` (default 0.05, as Spark; smaller is more
 * precise and larger: 0.01 keeps 16 KiB per group). Exact for small counts.
 */
export function approxCountDistinct(c: Column<unknown>, rsd?: number): AggColumn<number> {
  column('approxCountDistinct', c);
  if (rsd === undefined) return agg('approx_count_distinct', [c]);
  if (typeof rsd !== 'number' || !(rsd > 0 && rsd <= 0.39)) {
    throw userError(
      'INVALID_ARGUMENT',
      `approxCountDistinct: rsd must be a number in (0, 0.39] (the relative standard deviation, default 0.05), got ${describe(rsd)}`,
    );
  }
  return agg('approx_count_distinct', [c, rsd]);
}

// ---------------------------------------------------------------------------
// Sums and means

/** The sum of the non-null values (long for long input, double for double); null when there are none. */
export function sum<T extends Num>(c: Column<T>): AggColumn<number | NullOf<T>> {
  return agg('sum', [column('sum', c)]);
}

/** `sum(DISTINCT c)`: the sum of the distinct non-null values. */
export function sumDistinct<T extends Num>(c: Column<T>): AggColumn<number | NullOf<T>> {
  return agg('sum', [column('sumDistinct', c)], true);
}

/** The mean of the non-null values, a double; null when there are none. */
export function avg<T extends Num>(c: Column<T>): AggColumn<number | NullOf<T>> {
  return agg('avg', [column('avg', c)]);
}

/** Alias of avg (named `avg(…)` in output, as in Spark's DataFrame API). */
export function mean<T extends Num>(c: Column<T>): AggColumn<number | NullOf<T>> {
  return agg('avg', [column('mean', c)]);
}

// ---------------------------------------------------------------------------
// Extremes

/** The smallest non-null value (numbers, strings, booleans, timestamps, dates, binary, arrays, structs). */
export function min<T extends Orderable>(c: Column<T>): AggColumn<T> {
  return agg('min', [column('min', c)]);
}

/** The largest non-null value (NaN is larger than any other double, as in Spark). */
export function max<T extends Orderable>(c: Column<T>): AggColumn<T> {
  return agg('max', [column('max', c)]);
}

/** The value of `value` on the row with the largest `ordering` (rows where ordering is null are skipped). */
export function maxBy<X, Y extends Orderable>(
  value: Column<X>,
  ordering: Column<Y>,
): AggColumn<X | NullOf<Y>> {
  return agg('max_by', [column('maxBy', value, 'value'), column('maxBy', ordering, 'ordering')]);
}

/** The value of `value` on the row with the smallest `ordering`. */
export function minBy<X, Y extends Orderable>(
  value: Column<X>,
  ordering: Column<Y>,
): AggColumn<X | NullOf<Y>> {
  return agg('min_by', [column('minBy', value, 'value'), column('minBy', ordering, 'ordering')]);
}

/**
 * Approximate percentile(s): the smallest value v such that at least a
 * fraction p of the values are ≤ v, with rank error at most n/accuracy
 * (default 10000, as Spark). For numbers, timestamps and dates; returns an
 * input value, or an array of values when given an array of percentages.
 */
export function percentileApprox<T extends Num>(
  c: Column<T>,
  percentage: number,
  accuracy?: number,
): AggColumn<number | NullOf<T>>;
export function percentileApprox<T extends Num>(
  c: Column<T>,
  percentages: readonly number[],
  accuracy?: number,
): AggColumn<number[] | NullOf<T>>;
export function percentileApprox(
  c: Column<Num>,
  p: number | readonly number[],
  accuracy?: number,
): AggColumn<unknown> {
  column('percentileApprox', c);
  const fn = 'percentileApprox';
  const check = (x: unknown): number => {
    if (typeof x !== 'number' || !(x >= 0 && x <= 1)) {
      throw userError(
        'INVALID_ARGUMENT',
        `${fn}: a percentage must be a number between 0 and 1, got ${describe(x)}`,
      );
    }
    return x;
  };
  let pExpr: Expr;
  if (Array.isArray(p)) {
    if (p.length === 0) throw userError('INVALID_ARGUMENT', `${fn}: give at least one percentage`);
    pExpr = {
      kind: 'lit',
      value: p.map(check),
      type: { kind: 'array', element: DOUBLE, containsNull: false },
    };
  } else {
    pExpr = { kind: 'lit', value: check(p), type: DOUBLE };
  }
  const args: Expr[] = [c.expr, pExpr];
  if (accuracy !== undefined) {
    if (
      typeof accuracy !== 'number' ||
      !Number.isInteger(accuracy) ||
      accuracy <= 0 ||
      accuracy > 2147483647
    ) {
      throw userError(
        'INVALID_ARGUMENT',
        `${fn}: accuracy must be a positive integer (default 10000; the rank error is at most n/accuracy), got ${describe(accuracy)}`,
      );
    }
    args.push(toExpr(accuracy));
  }
  return new AggColumn({ kind: 'agg', name: 'percentile_approx', args, distinct: false });
}

// ---------------------------------------------------------------------------
// First, last, collections

/** The value of the first row (arrival order); with ignoreNulls, the first non-null value. */
export function first<T>(c: Column<T>, ignoreNulls?: boolean): AggColumn<T> {
  return pick('first', c, ignoreNulls);
}

/** The value of the last row (arrival order); with ignoreNulls, the last non-null value. */
export function last<T>(c: Column<T>, ignoreNulls?: boolean): AggColumn<T> {
  return pick('last', c, ignoreNulls);
}

/** Some value of the group (the first; with ignoreNulls, the first non-null). */
export function anyValue<T>(c: Column<T>, ignoreNulls?: boolean): AggColumn<T> {
  return pick('any_value', c, ignoreNulls);
}

function pick<T>(name: string, c: Column<T>, ignoreNulls: boolean | undefined): AggColumn<T> {
  column(name, c);
  if (ignoreNulls === undefined) return agg(name, [c]);
  if (typeof ignoreNulls !== 'boolean') {
    throw userError(
      'INVALID_ARGUMENT',
      `${name}: ignoreNulls must be true or false, got ${describe(ignoreNulls)}`,
    );
  }
  return agg(name, [c, ignoreNulls]);
}

/** The non-null values, in arrival order. */
export function collectList<T>(c: Column<T>): AggColumn<NonNullable<T>[]> {
  return agg('collect_list', [column('collectList', c)]);
}

/** The distinct non-null values (compared by content: structs and arrays by value, NaN equals NaN). */
export function collectSet<T>(c: Column<T>): AggColumn<NonNullable<T>[]> {
  return agg('collect_set', [column('collectSet', c)]);
}

// ---------------------------------------------------------------------------
// Booleans

/** True when every non-null value is true (Spark's bool_and / every). */
export function boolAnd<T extends boolean | null>(c: Column<T>): AggColumn<boolean | NullOf<T>> {
  return agg('bool_and', [column('boolAnd', c)]);
}

/** True when some non-null value is true (Spark's bool_or / some / any). */
export function boolOr<T extends boolean | null>(c: Column<T>): AggColumn<boolean | NullOf<T>> {
  return agg('bool_or', [column('boolOr', c)]);
}

// ---------------------------------------------------------------------------
// Statistics (doubles; Welford's algorithm, mergeable)

/** Sample standard deviation (null for fewer than two values). */
export function stddev(c: Column<Num>): AggColumn<number | null> {
  return agg('stddev', [column('stddev', c)]);
}
/** Sample standard deviation (null for fewer than two values). */
export function stddevSamp(c: Column<Num>): AggColumn<number | null> {
  return agg('stddev_samp', [column('stddevSamp', c)]);
}
/** Population standard deviation. */
export function stddevPop<T extends Num>(c: Column<T>): AggColumn<number | NullOf<T>> {
  return agg('stddev_pop', [column('stddevPop', c)]);
}
/** Sample variance (null for fewer than two values). */
export function variance(c: Column<Num>): AggColumn<number | null> {
  return agg('variance', [column('variance', c)]);
}
/** Sample variance (null for fewer than two values). */
export function varSamp(c: Column<Num>): AggColumn<number | null> {
  return agg('var_samp', [column('varSamp', c)]);
}
/** Population variance. */
export function varPop<T extends Num>(c: Column<T>): AggColumn<number | NullOf<T>> {
  return agg('var_pop', [column('varPop', c)]);
}

// ---------------------------------------------------------------------------
// User-defined aggregates

/**
 * A user-defined aggregate: `const geoMean = udaf('geo_mean', { resultType: t.double.orNull(), init, update, merge, finish })`,
 * then `geoMean($.price)` inside `agg({...})`.
 */
export function udaf<R, B, A extends unknown[]>(
  name: string,
  spec: UdafSpec<R, B, A>,
): (...args: { [K in keyof A]: ColumnLike<A[K]> }) => AggColumn<R> {
  const def = udafDef(name, spec as unknown as UdafSpec<unknown, unknown, unknown[]>);
  const arity = typeof spec.update === 'function' ? Math.max(0, spec.update.length - 1) : 0;
  return (...args) => {
    if (args.length < arity) {
      throw userError(
        'INVALID_ARGUMENT',
        `udaf "${name}": update takes ${arity} argument(s) after the buffer, but was called with ${args.length}`,
      );
    }
    return new AggColumn<R>({
      kind: 'agg',
      name,
      args: (args as ColumnLike<unknown>[]).map((a) => toExpr(a)),
      distinct: false,
      def,
    });
  };
}

export type { UdafSpec };
