/**
 * `current_timestamp()` in a streaming query is the micro-batch's timestamp (Spark evaluates it
 * once per batch): every row of a batch sees the same value, and a replayed batch sees the value
 * recorded in its offsets entry. Planning rewrites each call into a read of one per-query holder,
 * which the executor sets before it runs a batch — nothing else needs to know about batch time.
 */
import { TIMESTAMP } from '../schema/index.ts';
import type { Expr } from '../expr/Expr.ts';
import { transformUp } from '../expr/rewrite.ts';
import type { AggExpr } from '../operators/aggregates/AggExpr.ts';
import type { LogicalPlan, PlanKind, PlanOf } from './logical.ts';

export interface BatchTime {
  /** The running batch's timestamp, epoch ms. */
  ms: number;
}

export function bindBatchTime(plan: LogicalPlan, holder: BatchTime): LogicalPlan {
  const read = (): number => holder.ms;
  const expr = (e: Expr): Expr =>
    transformUp(e, (x) =>
      x.kind === 'call' && x.name === 'current_timestamp'
        ? {
            kind: 'udf',
            name: 'current_timestamp',
            fn: read,
            returnType: TIMESTAMP,
            nullable: false,
            args: [],
          }
        : x,
    );
  const agg = (a: AggExpr): AggExpr => ({
    ...a,
    args: a.args.map(expr),
    ...(a.filter ? { filter: expr(a.filter) } : {}),
  });
  const visit = (p: LogicalPlan): LogicalPlan => (rules[p.kind] as (x: LogicalPlan) => LogicalPlan)(p);
  const rules: { [K in PlanKind]: (p: PlanOf<K>) => LogicalPlan } = {
    source: (p) => p,
    project: (p) => ({
      ...p,
      input: visit(p.input),
      exprs: p.exprs.map((n) => ({ ...n, expr: expr(n.expr) })),
    }),
    filter: (p) => ({ ...p, input: visit(p.input), condition: expr(p.condition) }),
    map: (p) => ({ ...p, input: visit(p.input) }),
    union: (p) => ({ ...p, inputs: p.inputs.map(visit) }),
    watermark: (p) => ({ ...p, input: visit(p.input) }),
    aggregate: (p) => ({
      ...p,
      input: visit(p.input),
      keys: p.keys.map((k) => ({ ...k, expr: expr(k.expr) })),
      aggs: p.aggs.map((a) => ({ ...a, agg: agg(a.agg) })),
    }),
    dedup: (p) => ({ ...p, input: visit(p.input) }),
    keyed: (p) => ({ ...p, input: visit(p.input), keys: p.keys.map((k) => ({ ...k, expr: expr(k.expr) })) }),
    lookupJoin: (p) => ({ ...p, input: visit(p.input), condition: expr(p.condition) }),
    join: (p) => ({ ...p, left: visit(p.left), right: visit(p.right), condition: expr(p.condition) }),
  };
  return visit(plan);
}
