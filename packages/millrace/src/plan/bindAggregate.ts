/** Binds a logical aggregation to the operator's spec: compiled keys, arguments, filters and functions. */
import { CodeBuilder, compileExpr, genExpr } from '../expr/codegen.ts';
import { eventTimeOf, isWindowStruct } from '../expr/functions/window.ts';
import { internalError } from '../errors/index.ts';
import { type Expr, exprToString } from '../expr/Expr.ts';
import { argInfos, resolveExpr } from '../expr/resolve.ts';
import type { AggExpr } from '../operators/aggregates/AggExpr.ts';
import type { AggregateSpec } from '../operators/aggregate/StreamingAggregate.ts';
import type { AggregateFunction } from '../operators/aggregates/AggregateFunction.ts';
import type { Row, Schema } from '../schema/index.ts';
import { eventTimeKeyOf, isWindowCall } from './eventTime.ts';
import { type PlanOf, aggregateDefOf } from './logical.ts';

export function bindAggregate(p: PlanOf<'aggregate'>, operatorId: string): AggregateSpec {
  const schema = p.input.schema;
  const etKey = eventTimeKeyOf(p);
  // A window key that is not on a watermarked column still assigns windows (no eviction).
  const windowIndex = p.keys.findIndex((k) => isWindowCall(unalias(k.expr)));
  const keyFns = p.keys.map((k, i) =>
    i === windowIndex ? null : compileExpr(k.expr, schema, `groupBy key ${k.name}`),
  );
  const keyValues = (row: Row) => keyFns.map((f) => (f === null ? undefined : f(row)));
  const keyString = compileKeyString(
    p.keys.filter((_, i) => i !== windowIndex).map((k) => k.expr),
    schema,
  );

  let eventTime: AggregateSpec['eventTime'] = null;
  if (windowIndex >= 0) {
    const call = unalias(p.keys[windowIndex]!.expr) as Extract<Expr, { kind: 'call' }>;
    const lit = (i: number) => Number((call.args[i] as Extract<Expr, { kind: 'lit' }>).value);
    const timeExpr = call.args[0]!;
    eventTime = {
      kind: 'window',
      keyIndex: windowIndex,
      time: eventTimeFn(timeExpr, schema, 'window time', 'windowTime'),
      spec: { sizeMs: lit(1), slideMs: lit(2), startMs: lit(3) },
      watermarked: etKey?.kind === 'window' && etKey.keyIndex === windowIndex,
    };
  } else if (etKey?.kind === 'column') {
    eventTime = {
      kind: 'column',
      keyIndex: etKey.keyIndex,
      time: eventTimeFn(p.keys[etKey.keyIndex]!.expr, schema, 'event time key', 'end'),
    };
  }

  const aggs = p.aggs.map(({ name, agg }) =>
    aggregateDefOf(agg).bind(argInfos(agg.args, schema, `agg "${name}"`), { distinct: agg.distinct }),
  );
  const accumulate = compileAccumulate(p, aggs, schema);

  return {
    operatorId,
    keyNames: p.keys.map((k) => k.name),
    aggNames: p.aggs.map((a) => a.name),
    keyValues,
    keyString,
    eventTime,
    aggs,
    accumulate,
  };
}

/**
 * One generated function folding a row into a group's buffers, for all aggregates at once:
 *
 *   function accumulate(bufs, r) {
 *     const f1 = (r.price < 10000);            // each distinct FILTER condition, once per row
 *     bufs[0] = k0(bufs[0]);                   // count(*)
 *     if (f1 === true) { bufs[1] = k1(bufs[1], r.bidder); }   // count(DISTINCT bidder) FILTER (…)
 *   }
 *
 * Every update is its own call site with one target, so V8 can inline it; a loop over the
 * aggregates would make one megamorphic call per aggregate per row, and evaluate a filter
 * shared by several aggregates once per aggregate. Arguments are evaluated inside their
 * aggregate's filter block (as Spark: a filtered-out row's arguments are never evaluated).
 */
function compileAccumulate(
  p: PlanOf<'aggregate'>,
  aggs: readonly AggregateFunction<any>[],
  schema: Schema,
): (bufs: unknown[], row: Row) => void {
  const b = new CodeBuilder();
  const filterVars = new Map<string, string>();
  const body: string[] = [];
  p.aggs.forEach(({ name, agg }, i) => {
    const scope = { schema, row: 'r', where: `agg "${name}"` };
    let cond: string | undefined;
    if (agg.filter) {
      const text = exprToString(agg.filter);
      cond = filterVars.get(text);
      if (cond === undefined) {
        const v = b.fresh('f');
        const filter = agg.filter;
        body.push(...b.capture(() => b.emit(`const ${v} = ${genExpr(filter, scope, b)};`)));
        filterVars.set(text, v);
        cond = v;
      }
    }
    let args: string[] = [];
    const argLines = b.capture(() => {
      args = agg.args.map((a) => genExpr(a, scope, b));
    });
    const update = b.constant(aggs[i]!.update);
    const stmt = `${argLines.join('\n')}\nbufs[${i}] = ${update}(${[`bufs[${i}]`, ...args].join(', ')});`;
    body.push(cond === undefined ? `{\n${stmt}\n}` : `if (${cond} === true) {\n${stmt}\n}`);
  });
  return b.build(['bufs', 'r'], body.join('\n'), 'accumulate');
}

/**
 * One generated function from a row to the text of its grouping key (the non-window keys):
 * numbers and booleans as String(v), everything else as JSON, comma-separated. Distinct keys
 * give distinct text (strings are quoted, so "null" and null differ).
 */
function compileKeyString(keys: readonly Expr[], schema: Schema): (row: Row) => string {
  if (keys.length === 0) return () => '';
  const b = new CodeBuilder();
  const parts = keys.map((k) => {
    const info = resolveExpr(k, schema, 'groupBy');
    const v = genExpr(k, { schema, row: 'r', where: 'groupBy' }, b);
    const scalar = ['long', 'double', 'boolean', 'timestamp', 'date'].includes(info.type.kind);
    return scalar ? `String(${v})` : `JSON.stringify(${v})`;
  });
  return b.build(['r'], `${b.lines.join('\n')}\nreturn ${parts.join(" + ',' + ")};`, 'groupKey');
}

/**
 * A row's event time from a timestamp expression or a window struct. Assigning a window to an
 * upstream window uses its `end - 1` (Spark's window_time, the last instant inside it); a group
 * keyed by the upstream window itself is final when the watermark reaches its `end` (exclusive), so
 * its time is `end` — with `end - 1` a window ending 1 ms past the watermark would close too early.
 */
function eventTimeFn(
  e: Expr,
  schema: Schema,
  where: string,
  structTime: 'windowTime' | 'end',
): (row: Row) => number | null {
  const value = compileExpr(e, schema, where);
  const type = resolveExpr(e, schema, where).type;
  if (structTime === 'end' && isWindowStruct(type)) {
    return (row) => {
      const w = value(row) as { end: number } | null;
      return w == null ? null : w.end;
    };
  }
  const time = eventTimeOf(type);
  if (!time) throw internalError(`${where}: ${exprToString(e)} is not a timestamp or a window`);
  return (row) => time(value(row));
}

function unalias(e: Expr): Expr {
  return e.kind === 'alias' ? e.arg : e;
}

export function aggToString(a: AggExpr): string {
  const name = a.def?.name ?? a.name;
  const args = a.args.length === 0 && name === 'count' ? '*' : a.args.map(exprToString).join(', ');
  return `${name}(${a.distinct ? 'DISTINCT ' : ''}${args})${a.filter ? ` FILTER (WHERE ${exprToString(a.filter)})` : ''}`;
}
