/** Binds a logical aggregation to the operator's spec: compiled keys, arguments, filters and functions. */
import { CodeBuilder, compileExpr, genExpr, propAccess } from '../expr/codegen.ts';
import { eventTimeOf, isWindowStruct } from '../expr/functions/window.ts';
import { internalError } from '../errors/index.ts';
import { type Expr, exprToString } from '../expr/Expr.ts';
import { argInfos, resolveExpr } from '../expr/resolve.ts';
import type { AggExpr } from '../operators/aggregates/AggExpr.ts';
import type { AggregateSpec, GroupFinder } from '../operators/aggregate/StreamingAggregate.ts';
import type { AggregateFunction } from '../operators/aggregates/AggregateFunction.ts';
import type { DataType, Row, Schema } from '../schema/index.ts';
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
  const plainKeys = p.keys.filter((_, i) => i !== windowIndex).map((k) => k.expr);
  const keyString = compileKeyString(plainKeys, schema);

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
  const accumulate = compileAccumulate(p, aggs, schema, 0);

  return {
    operatorId,
    keyNames: p.keys.map((k) => k.name),
    aggNames: p.aggs.map((a) => a.name),
    keyValues,
    keyString,
    eventTime,
    aggs,
    accumulate,
    findGroup: compileFindGroup(plainKeys, schema),
    accumulateGroup: compileAccumulate(p, aggs, schema, p.keys.length),
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
  offset: number,
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
    const slot = `bufs[${offset + i}]`;
    const stmt = `${argLines.join('\n')}\n${slot} = ${update}(${[slot, ...args].join(', ')});`;
    body.push(cond === undefined ? `{\n${stmt}\n}` : `if (${cond} === true) {\n${stmt}\n}`);
  });
  return b.build(['bufs', 'r'], body.join('\n'), 'accumulate');
}

/** Key types whose values are Map keys as they are. */
const PLAIN_KINDS = new Set(['string', 'long', 'double', 'boolean', 'timestamp', 'date']);
/**
 * Struct fields of these types are Map keys field by field (a window column). Not double: the JSON
 * text of a struct writes NaN and ±Infinity as null, so grouping by it puts them in one group.
 */
const FIELD_KINDS = new Set(['string', 'long', 'boolean', 'timestamp', 'date']);

/**
 * One generated function finding a row's group of this batch by its key parts, and making it
 * with `maker.make(row, keyText)` the first time. The first part is looked up in a Map (the
 * slot's); each further part in a node holding its first value inline, and a Map once a second
 * value comes (in most groupings a further key has one or a few values per value of the first,
 * and a Map per value would take far more memory):
 *
 *   function findGroup(m0, r, maker) {
 *     const v0 = r.channel, v1 = day(r.dateTime);
 *     const x0 = m0.get(v0);
 *     if (x0 === undefined) { const g = maker.make(r, text(v0) + ',' + text(v1)); m0.set(v0, { k: v1, c: g, m: null }); return g; }
 *     let x1;
 *     if (x0.m === null) {
 *       if (x0.k === v1 || (x0.k !== x0.k && v1 !== v1)) x1 = x0.c;     // SameValueZero, as Map keys
 *       else { x0.m = new Map([[x0.k, x0.c]]); }
 *     } else x1 = x0.m.get(v1);
 *     if (x1 === undefined) { const g = maker.make(…); x0.m.set(v1, g); return g; }
 *     return x1;
 *   }
 *
 * No text is built per row, only per new group: the group's store key text, made from the same
 * parts (so two rows share a group exactly when they share a key text). A part is a scalar value
 * as it is, a field of a struct of scalars (a window column), or else the value's JSON text.
 */
function compileFindGroup(keys: readonly Expr[], schema: Schema): GroupFinder {
  const b = new CodeBuilder();
  const parts: string[] = [];
  for (const k of keys) {
    const info = resolveExpr(k, schema, 'groupBy');
    const v = genExpr(k, { schema, row: 'r', where: 'groupBy' }, b);
    parts.push(...keyParts(v, info.type, b));
  }
  if (parts.length === 0) parts.push('0');
  const n = parts.length;
  const text = b.constant(partText);
  const keyText = parts.map((_, i) => `${text}(v${i})`).join(" + ',' + ");
  /** Make the group, and the nodes of parts `from`…n-1 above it; returns the outermost. */
  const make = (from: number): string[] => {
    const lines = [`const g = maker.make(r, ${keyText});`, 'let c = g;'];
    for (let j = n - 1; j >= from; j--) lines.push(`c = { k: v${j}, c, m: null };`);
    return lines;
  };
  const body: string[] = parts.map((part, i) => `const v${i} = ${part};`);
  body.push(`const x0 = m0.get(v0);`);
  body.push(`if (x0 === undefined) {`, ...make(1), `m0.set(v0, c);`, `return g;`, `}`);
  for (let i = 1; i < n; i++) {
    const x = `x${i - 1}`;
    body.push(
      `let x${i};`,
      `if (${x}.m === null) {`,
      `if (${x}.k === v${i} || (${x}.k !== ${x}.k && v${i} !== v${i})) x${i} = ${x}.c;`,
      `else ${x}.m = new Map([[${x}.k, ${x}.c]]);`,
      `} else x${i} = ${x}.m.get(v${i});`,
      `if (x${i} === undefined) {`,
      ...make(i + 1),
      `${x}.m.set(v${i}, c);`,
      `return g;`,
      `}`,
    );
  }
  body.push(`return x${n - 1};`);
  return b.build(['m0', 'r', 'maker'], `${b.lines.join('\n')}\n${body.join('\n')}`, 'findGroup');
}

/** The Map-key parts of one key value (see compileFindGroup): emits them into variables, returns their names. */
function keyParts(v: string, type: DataType, b: CodeBuilder): string[] {
  const t = b.fresh('t');
  b.emit(`const ${t} = ${v};`);
  // A value of another type than declared (an object would be a new Map key per row) goes by its JSON text.
  const json = b.constant(jsonPart);
  const scalar = (expr: string): string => {
    const p = b.fresh('p');
    b.emit(`let ${p} = ${expr};`);
    b.emit(`if (typeof ${p} === 'object' && ${p} !== null) ${p} = ${json}(${p});`);
    return p;
  };
  if (PLAIN_KINDS.has(type.kind)) return [scalar(t)];
  if (
    type.kind === 'struct' &&
    type.fields.length > 0 &&
    type.fields.every((f) => FIELD_KINDS.has(f.type.kind))
  ) {
    // A null or missing struct differs from one with null fields: its first part is a marker (and
    // anything else than an object, by its JSON text).
    const marker = `${t} === null ? ${b.constant(NULL_STRUCT)} : ${b.constant(UNDEFINED_STRUCT)}`;
    const isStruct = `typeof ${t} === 'object' && ${t} !== null && !Array.isArray(${t})`;
    const notStruct = `${t} == null ? ${marker} : ${json}(${t})`;
    return type.fields.map((f, i) =>
      scalar(`${isStruct} ? ${propAccess(t, f.name)} : ${i === 0 ? notStruct : '0'}`),
    );
  }
  const p = b.fresh('p');
  b.emit(`const ${p} = JSON.stringify(${t});`);
  return [p];
}

const NULL_STRUCT = Symbol('null struct');
const UNDEFINED_STRUCT = Symbol('undefined struct');

/** An object where a scalar was expected, as a Map key: its JSON text, marked (no plain string starts so). */
function jsonPart(v: unknown): string {
  return `\u0001${JSON.stringify(v)}`;
}

/**
 * A key part's text, for store keys: different parts give different text (strings are quoted;
 * no other text has a comma or a quote, so joined parts stay apart). -0 and 0 are one part (Map
 * keys are equal by SameValueZero), and one text.
 */
function partText(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'symbol':
      return v === NULL_STRUCT ? '~null' : '~undefined';
    case 'bigint':
      return `${v}n`;
    case 'object':
      return v === null ? 'null' : `~${JSON.stringify(v)}`;
    default:
      return String(v);
  }
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
