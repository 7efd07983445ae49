/**
 * GroupedStream: the result of `groupBy(...)`, waiting for its aggregates.
 *
 *   bids.withWatermark('dateTime', '4 seconds')
 *     .groupBy($ => ({ window: window($.dateTime, '10 seconds', '2 seconds'), auction: $.auction }))
 *     .agg($ => ({ bids: count(), top: max($.price) }))
 */
import { userError } from '../errors/index.ts';
import type { Row } from '../schema/index.ts';
import { type NamedAgg, type NamedExpr, aggregateNode } from '../plan/logical.ts';
import { AggColumn } from './AggColumn.ts';
import type { Cols } from './Column.ts';
import { Stream, type Simplify } from './Stream.ts';

export type AggType<A> = A extends AggColumn<infer T> ? T : never;

export class GroupedStream<R, K> {
  /** @internal — use `stream.groupBy(...)`. */
  constructor(
    private readonly stream: Stream<R>,
    private readonly keys: readonly NamedExpr[],
  ) {}

  /** Aggregates per group: `agg($ => ({ n: count(), total: sum($.price) }))` or an object of AggColumns. */
  agg<A extends Record<string, AggColumn<any>>>(
    aggs: A | (($: Cols<R>) => A),
  ): Stream<Simplify<K & { [N in keyof A]: AggType<A[N]> }>> {
    const obj = typeof aggs === 'function' ? aggs(this.stream.cols) : aggs;
    if (obj === null || typeof obj !== 'object') {
      throw userError('INVALID_ARGUMENT', 'agg: give an object of aggregates, e.g. { n: count() }');
    }
    const named: NamedAgg[] = Object.entries(obj).map(([name, a]) => {
      if (!(a instanceof AggColumn)) {
        throw userError(
          'INVALID_ARGUMENT',
          `agg: "${name}" is not an aggregate; use count(), sum(col), max(col), … (a plain column cannot be aggregated)`,
        );
      }
      return { name, agg: a.agg };
    });
    const clash = named.find((a) => this.keys.some((k) => k.name === a.name));
    if (clash)
      throw userError(
        'DUPLICATE_COLUMN',
        `agg: "${clash.name}" is both a grouping key and an aggregate name`,
      );
    return new Stream(this.stream.session, aggregateNode(this.stream.plan, this.keys, named));
  }

  /** Rows per group, as a column named `count` (Spark's `groupBy(...).count()`). */
  count(): Stream<Simplify<K & { count: number }>> {
    return new Stream(
      this.stream.session,
      aggregateNode(this.stream.plan, this.keys, [
        { name: 'count', agg: { kind: 'agg', name: 'count', args: [], distinct: false } },
      ]),
    );
  }
}

export type { Row };
