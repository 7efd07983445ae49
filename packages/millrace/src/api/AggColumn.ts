/**
 * AggColumn<T>: an aggregate (sum, count, …) whose result has type T. Only
 * valid inside `groupBy(...).agg(...)`; it is not a row expression.
 */
import type { Expr } from '../expr/Expr.ts';
import type { AggExpr } from '../operators/aggregates/AggExpr.ts';
import type { Column } from './Column.ts';

export class AggColumn<T = unknown> {
  /** Phantom: the result type. */
  declare readonly __type?: T;

  constructor(readonly agg: AggExpr) {}

  /** Aggregate only rows where `condition` is true (SQL's `FILTER (WHERE …)`). */
  filter(condition: Column<boolean | null>): AggColumn<T> {
    const prev: Expr | undefined = this.agg.filter;
    const expr: Expr = prev
      ? { kind: 'binary', op: 'and', left: prev, right: condition.expr }
      : condition.expr;
    return new AggColumn({ ...this.agg, filter: expr });
  }
}
