/**
 * An aggregate function, as the aggregation operator uses it. Buffers live in
 * the state store between batches, so they must be values msgpackr can encode
 * (plain objects/arrays/numbers/strings, Uint8Array, Map, Set) — no classes.
 *
 *   buf = init()                 once per group (and window)
 *   buf = update(buf, ...args)   per input row; args are the evaluated argument values
 *   buf = merge(a, b)            combine two partial buffers (session windows merge)
 *   out = finish(buf)            the result value for output
 *
 * `update` and `merge` may mutate and return their first argument.
 */
import type { DataType } from '../../schema/index.ts';

export interface AggArgInfo {
  readonly type: DataType;
  readonly nullable: boolean;
  /** Present when the argument is a literal (e.g. a percentile or an accuracy). */
  readonly literal?: { readonly value: unknown };
}

export interface AggregateFunction<Buf = unknown> {
  readonly init: () => Buf;
  readonly update: (buf: Buf, ...args: unknown[]) => Buf;
  readonly merge: (a: Buf, b: Buf) => Buf;
  readonly finish: (buf: Buf) => unknown;
}

/** A built-in or user aggregate: typing at analysis, then a bound function. */
export interface AggregateDef {
  /** Spark's SQL name: `count`, `sum`, `approx_count_distinct`, … */
  readonly name: string;
  readonly minArgs: number;
  readonly maxArgs: number;
  /** Result type; throw a userError (INVALID_ARGUMENT_TYPE) naming the expected types otherwise. */
  resultType(args: readonly AggArgInfo[]): DataType;
  /** Whether the result can be null (sum of no non-null values is null; count never is). */
  resultNullable(args: readonly AggArgInfo[]): boolean;
  /** The function, possibly specialised on literal args. `distinct` is Spark's `count(DISTINCT x)` style. */
  bind(args: readonly AggArgInfo[], options: { readonly distinct: boolean }): AggregateFunction<any>;
}
