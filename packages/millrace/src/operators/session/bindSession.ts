/**
 * Binds an aggregation whose groupBy keys include `session_window(time, gap)` to a SessionSpec.
 * The other keys and the aggregates are bound by bindAggregate (the session key stands in as a
 * null literal there), so both operators aggregate rows the same way.
 */
import { compileExpr } from '../../expr/codegen.ts';
import type { Expr } from '../../expr/Expr.ts';
import { userError } from '../../errors/index.ts';
import { NULL_TYPE } from '../../schema/index.ts';
import { bindAggregate } from '../../plan/bindAggregate.ts';
import { isSessionWindowCall, isWindowCall } from '../../plan/eventTime.ts';
import { type PlanOf, watermarkedColumns } from '../../plan/logical.ts';
import type { SessionSpec } from './SessionAggregate.ts';

const unalias = (e: Expr): Expr => (e.kind === 'alias' ? e.arg : e);

/** Index of the session_window key of an aggregation, or -1. */
export function sessionKeyIndex(p: PlanOf<'aggregate'>): number {
  return p.keys.findIndex((k) => isSessionWindowCall(unalias(k.expr)));
}

export function bindSession(p: PlanOf<'aggregate'>, operatorId: string): SessionSpec {
  const sessionIndex = sessionKeyIndex(p);
  const timeKeys = p.keys.filter((k) => {
    const e = unalias(k.expr);
    return isSessionWindowCall(e) || isWindowCall(e);
  });
  if (sessionIndex < 0 || timeKeys.length > 1) {
    throw userError(
      'INVALID_PLAN',
      `groupBy: a session window cannot be combined with another window key (got ${timeKeys
        .map((k) => k.name)
        .join(', ')}); group by one session_window or window, plus ordinary columns`,
    );
  }
  const call = unalias(p.keys[sessionIndex]!.expr) as Extract<Expr, { kind: 'call' }>;
  const [timeExpr, gapExpr] = call.args as [Expr, Expr];
  const schema = p.input.schema;

  const rest = bindAggregate(
    {
      ...p,
      keys: p.keys.map((k, i) =>
        i === sessionIndex ? { name: k.name, expr: { kind: 'lit', value: null, type: NULL_TYPE } } : k,
      ),
    },
    operatorId,
  );

  return {
    operatorId,
    keyNames: rest.keyNames,
    aggNames: rest.aggNames,
    sessionIndex,
    keyValues: rest.keyValues,
    keyString: rest.keyString,
    time: compileExpr(timeExpr, schema, 'session_window time'),
    gap: compileExpr(gapExpr, schema, 'session_window gap'),
    watermarked: timeExpr.kind === 'col' && watermarkedColumns(p.input).has(timeExpr.name),
    aggs: rest.aggs,
    accumulate: rest.accumulate,
  };
}
