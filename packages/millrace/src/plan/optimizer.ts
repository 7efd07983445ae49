/**
 * Logical rewrites that keep results identical:
 *
 * - CollapseProject: Project(Project(x)) → Project(x), substituting the inner
 *   expressions into the outer ones. `withColumn` chains then cost one object
 *   per row instead of one per step. Skipped when it would evaluate a
 *   non-trivial inner expression twice, or duplicate a user function call.
 */
import type { Expr } from '../expr/Expr.ts';
import { columnUses, containsUdf, transformUp } from '../expr/rewrite.ts';
import { type LogicalPlan, type NamedExpr, type PlanKind, type PlanOf } from './logical.ts';

export function optimize(plan: LogicalPlan): LogicalPlan {
  const rules: { [K in PlanKind]: (p: PlanOf<K>) => LogicalPlan } = {
    source: (p) => p,
    filter: (p) => ({ ...p, input: optimize(p.input) }),
    map: (p) => ({ ...p, input: optimize(p.input) }),
    watermark: (p) => ({ ...p, input: optimize(p.input) }),
    union: (p) => ({ ...p, inputs: p.inputs.map(optimize) }),
    aggregate: (p) => ({ ...p, input: optimize(p.input) }),
    dedup: (p) => ({ ...p, input: optimize(p.input) }),
    keyed: (p) => ({ ...p, input: optimize(p.input) }),
    lookupJoin: (p) => ({ ...p, input: optimize(p.input) }),
    join: (p) => ({ ...p, left: optimize(p.left), right: optimize(p.right) }),
    project: (p) => {
      const input = optimize(p.input);
      if (input.kind !== 'project') return { ...p, input };
      const merged = collapse(p, input);
      // Collapse repeatedly: a chain of N projections becomes one.
      return merged ? optimize(merged) : { ...p, input };
    },
  };
  return (rules[plan.kind] as (p: LogicalPlan) => LogicalPlan)(plan);
}

function collapse(outer: PlanOf<'project'>, inner: PlanOf<'project'>): LogicalPlan | undefined {
  const defs = new Map<string, Expr>(
    inner.exprs.map((e) => [e.name, e.expr.kind === 'alias' ? e.expr.arg : e.expr]),
  );
  const uses = new Map<string, number>();
  for (const e of outer.exprs) for (const [c, n] of columnUses(e.expr)) uses.set(c, (uses.get(c) ?? 0) + n);
  for (const [name, n] of uses) {
    const d = defs.get(name);
    if (!d) return undefined;
    const trivial = d.kind === 'col' || d.kind === 'lit';
    if (!trivial && (n > 1 || containsUdf(d))) return undefined;
  }
  const exprs: NamedExpr[] = outer.exprs.map(({ name, expr }) => ({
    name,
    expr: transformUp(expr, (x) => (x.kind === 'col' ? defs.get(x.name)! : x)),
  }));
  // Substitution does not change the output: keep the outer node's analysed schema.
  return { kind: 'project', input: inner.input, exprs, schema: outer.schema };
}
