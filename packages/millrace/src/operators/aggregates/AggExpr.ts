import type { Expr } from '../../expr/Expr.ts';
import type { AggregateDef } from './AggregateFunction.ts';

/** An aggregate call in a plan: `sum(price)`, `count(DISTINCT bidder)`, a user aggregate. */
export interface AggExpr {
  readonly kind: 'agg';
  /** Built-in name (looked up in the registry), ignored when `def` is given. */
  readonly name: string;
  readonly args: readonly Expr[];
  readonly distinct: boolean;
  /** A user-defined aggregate (udaf), or undefined for built-ins. */
  readonly def?: AggregateDef;
  /** Optional filter: only rows where this is true are aggregated (`count(*) FILTER (WHERE …)`). */
  readonly filter?: Expr;
}
