/** Core column functions: col, lit, when, coalesce, udf. */
import { userError } from '../../errors/index.ts';
import type { DataType, TypeSpec } from '../../schema/index.ts';
import type { Expr } from '../../expr/Expr.ts';
import { parseDuration } from '../../util/durations.ts';
import { Column, type ColumnLike, type NullOf, litExpr, toExpr } from '../Column.ts';

/**
 * A column by name. Untyped (checked when the query is analysed); inside
 * `select($ => …)` prefer `$.name`, which the compiler checks.
 */
export function col<T = unknown>(name: string): Column<T> {
  if (typeof name !== 'string' || name === '')
    throw userError('INVALID_ARGUMENT', 'col(): give a column name');
  return new Column({ kind: 'col', name });
}

export function lit<T extends string | number | boolean | null>(value: T): Column<T> {
  return new Column(litExpr(value));
}

/**
 * A duration as milliseconds (a long literal): `interval('1 hour')`, `interval('90 seconds')`.
 * A timestamp plus or minus it is a timestamp, as Spark's `ts + INTERVAL 1 HOUR` — how join
 * time ranges are written: `$.clickTime.between($.impTime, $.impTime.plus(interval('1 hour')))`.
 */
export function interval(duration: string | number): Column<number> {
  return new Column(litExpr(parseDuration(duration, 'interval')));
}

/** `CASE WHEN … THEN … [WHEN …] ELSE … END`: `when(c, v).when(c2, v2).otherwise(v3)`. */
export function when<V>(condition: Column<boolean | null>, value: ColumnLike<V>): CaseBuilder<V> {
  return new CaseBuilder([{ when: condition.expr, then: toExpr(value) }]);
}

/** A CASE without ELSE is null when no branch matches, hence `V | null` until `otherwise`. */
export class CaseBuilder<V> extends Column<V | null> {
  constructor(private readonly branches: { when: Expr; then: Expr }[]) {
    super({ kind: 'case', branches, otherwise: null });
  }
  when<W>(condition: Column<boolean | null>, value: ColumnLike<W>): CaseBuilder<V | W> {
    return new CaseBuilder([...this.branches, { when: condition.expr, then: toExpr(value) }]);
  }
  otherwise<W>(value: ColumnLike<W>): Column<V | W> {
    return new Column({ kind: 'case', branches: this.branches, otherwise: toExpr(value) });
  }
}

/** The first non-null argument. */
export function coalesce<A, B>(
  a: ColumnLike<A>,
  b: ColumnLike<B>,
  ...rest: ColumnLike<B>[]
): Column<Exclude<A, null> | B> {
  return new Column({ kind: 'call', name: 'coalesce', args: [a, b, ...rest].map(toExpr) });
}

/** Call a built-in function by its Spark SQL name (untyped escape hatch). */
export function callFunction<T = unknown>(name: string, ...args: ColumnLike<unknown>[]): Column<T> {
  return new Column({ kind: 'call', name, args: args.map(toExpr) });
}

/**
 * A user-defined function: `udf('countC', t.long, (s: string) => …)` then `countC($.extra)`.
 * The function is called once per row with the argument values (nulls included).
 */
export function udf<R, A extends unknown[]>(
  name: string,
  returns: TypeSpec<R>,
  fn: (...args: A) => R,
): (...args: { [K in keyof A]: ColumnLike<A[K]> }) => Column<R> {
  const returnType: DataType = returns.dataType;
  return (...args) =>
    new Column({
      kind: 'udf',
      name,
      fn: fn as (...a: any[]) => unknown,
      returnType,
      nullable: returns.nullable,
      args: (args as ColumnLike<unknown>[]).map(toExpr),
    });
}

export type { NullOf };
