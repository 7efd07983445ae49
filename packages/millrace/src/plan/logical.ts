/**
 * Logical plan nodes: immutable data with a `kind`, each carrying its output
 * schema, computed when the node is made (the API analyses eagerly, as Spark's
 * DataFrames do, so a wrong column fails at the line that names it).
 *
 * Visitors are exhaustive `{ [K in PlanKind]: … }` tables: adding a kind does
 * not compile until explain, the planner and the streaming checks handle it.
 */
import type { Source, TableSource } from '../connectors/contracts.ts';
import type { JoinShape } from './joinNode.ts';
import { userError } from '../errors/index.ts';
import { type Field, Schema, typeEquals, typeToString } from '../schema/index.ts';
import { type Expr, exprToString } from '../expr/Expr.ts';
import { argInfos, resolveExpr } from '../expr/resolve.ts';
import type { AggExpr } from '../operators/aggregates/AggExpr.ts';
import type { AggregateDef } from '../operators/aggregates/AggregateFunction.ts';
import { lookupAggregate } from '../operators/aggregates/registry.ts';
import type { ProcessWithStateOptions } from '../operators/keyed/types.ts';

export interface NamedExpr {
  readonly name: string;
  readonly expr: Expr;
}

export type LogicalPlan =
  | { readonly kind: 'source'; readonly source: Source<any>; readonly schema: Schema }
  | {
      readonly kind: 'project';
      readonly input: LogicalPlan;
      readonly exprs: readonly NamedExpr[];
      readonly schema: Schema;
    }
  | {
      readonly kind: 'filter';
      readonly input: LogicalPlan;
      readonly condition: Expr;
      readonly schema: Schema;
    }
  | {
      readonly kind: 'map';
      readonly input: LogicalPlan;
      readonly name: string;
      readonly fn: (row: any) => any;
      readonly flat: boolean;
      readonly schema: Schema;
    }
  | { readonly kind: 'union'; readonly inputs: readonly LogicalPlan[]; readonly schema: Schema }
  | {
      readonly kind: 'watermark';
      readonly input: LogicalPlan;
      readonly column: string;
      readonly delayMs: number;
      readonly schema: Schema;
    }
  | {
      readonly kind: 'aggregate';
      readonly input: LogicalPlan;
      /** The operator's id given with `.uid()`: its state's name in the checkpoint. */
      readonly uid?: string;
      readonly keys: readonly NamedExpr[];
      readonly aggs: readonly NamedAgg[];
      readonly schema: Schema;
    }
  | {
      /** dropDuplicates / dropDuplicatesWithinWatermark: rows pass unchanged; `columns` is the key (never empty). */
      readonly kind: 'dedup';
      readonly input: LogicalPlan;
      /** The operator's id given with `.uid()`: its state's name in the checkpoint. */
      readonly uid?: string;
      readonly columns: readonly string[];
      readonly withinWatermark: boolean;
      readonly schema: Schema;
    }
  | {
      /** groupByKey(…).processWithState(…): user functions per key, with state and timers (plan/keyedNode.ts). */
      readonly kind: 'keyed';
      readonly input: LogicalPlan;
      /** The operator's id given with `.uid()`: its state's name in the checkpoint. */
      readonly uid?: string;
      /** The key: one expression (`singleKey`), or named expressions making an object. */
      readonly keys: readonly NamedExpr[];
      readonly singleKey: boolean;
      readonly options: KeyedNodeOptions;
      readonly schema: Schema;
    }
  | ({
      /** A stream–stream join (plan/joinNode.ts; operators/join/StreamJoin.ts). */
      readonly kind: 'join';
      /** The operator's id given with `.uid()`: its state's name in the checkpoint. */
      readonly uid?: string;
      readonly left: LogicalPlan;
      readonly right: LogicalPlan;
      readonly schema: Schema;
    } & JoinShape)
  | ({
      /** A stream joined with a static table: a stateless lookup per row (operators/join/lookupJoin.ts). */
      readonly kind: 'lookupJoin';
      readonly input: LogicalPlan;
      readonly table: TableSource<any>;
      readonly schema: Schema;
    } & JoinShape);

/** processWithState's options, with the TTL read. */
export type KeyedNodeOptions = Omit<ProcessWithStateOptions<any, any, any, any>, 'ttl'> & {
  readonly ttlMs: number | undefined;
};

export interface NamedAgg {
  readonly name: string;
  readonly agg: AggExpr;
}

export type PlanKind = LogicalPlan['kind'];
export type PlanOf<K extends PlanKind> = Extract<LogicalPlan, { kind: K }>;

export function children(p: LogicalPlan): readonly LogicalPlan[] {
  switch (p.kind) {
    case 'source':
      return [];
    case 'union':
      return p.inputs;
    case 'join':
      return [p.left, p.right];
    default:
      return [p.input];
  }
}

// ---------------------------------------------------------------------------
// Constructors: each validates against its input schema and derives its own.

export function sourceNode(source: Source<any>): LogicalPlan {
  return { kind: 'source', source, schema: source.schema as Schema };
}

export function projectNode(input: LogicalPlan, exprs: readonly NamedExpr[], where = 'select'): LogicalPlan {
  if (exprs.length === 0) throw userError('INVALID_PLAN', `${where}: select at least one column`);
  const fields: Field[] = exprs.map(({ name, expr }) => {
    const info = resolveExpr(expr, input.schema, where);
    return { name, type: info.type, nullable: info.nullable };
  });
  return { kind: 'project', input, exprs, schema: new Schema(fields) };
}

export function filterNode(input: LogicalPlan, condition: Expr): LogicalPlan {
  const info = resolveExpr(condition, input.schema, 'filter');
  if (info.type.kind !== 'boolean' && info.type.kind !== 'null') {
    throw userError(
      'INVALID_PLAN',
      `filter: the condition ${exprToString(condition)} is ${typeToString(info.type)}, not boolean; compare it (e.g. .gt(0))`,
    );
  }
  return { kind: 'filter', input, condition, schema: input.schema };
}

export function mapNode(
  input: LogicalPlan,
  fn: (row: any) => any,
  schema: Schema,
  options: { flat: boolean; name?: string },
): LogicalPlan {
  if (typeof fn !== 'function') {
    throw userError('INVALID_PLAN', `${options.flat ? 'flatMap' : 'map'}: give a function`);
  }
  if (!(schema instanceof Schema)) {
    throw userError(
      'INVALID_PLAN',
      `${options.flat ? 'flatMap' : 'map'}: give the output schema as the second argument, e.g. schema({ word: t.string })`,
    );
  }
  return { kind: 'map', input, fn, flat: options.flat, name: options.name ?? (fn.name || 'lambda'), schema };
}

export function unionNode(inputs: readonly LogicalPlan[]): LogicalPlan {
  const first = inputs[0]!.schema;
  for (const other of inputs.slice(1)) {
    const s = other.schema;
    const same =
      s.fields.length === first.fields.length &&
      s.fields.every((f, i) => f.name === first.fields[i]!.name && typeEquals(f.type, first.fields[i]!.type));
    if (!same) {
      throw userError(
        'INVALID_PLAN',
        `union: both sides need the same columns in the same order with the same types; got ${first} and ${s}`,
      );
    }
  }
  const fields = first.fields.map((f, i) => ({
    ...f,
    nullable: inputs.some((p) => p.schema.fields[i]!.nullable),
  }));
  return { kind: 'union', inputs, schema: new Schema(fields) };
}

export function watermarkNode(input: LogicalPlan, column: string, delayMs: number): LogicalPlan {
  const f = input.schema.require(column, 'withWatermark');
  if (f.type.kind !== 'timestamp') {
    throw userError(
      'INVALID_PLAN',
      `withWatermark: "${column}" is ${typeToString(f.type)}; the event-time column must be a timestamp ` +
        `(convert epoch millis with timestampMillis(col), seconds with timestampSeconds(col))`,
    );
  }
  return { kind: 'watermark', input, column, delayMs, schema: input.schema };
}

/**
 * Deduplication by `columns` (all columns when none are given). Within the
 * watermark needs exactly one watermarked event-time column in the input: its
 * delay is how long a key is remembered.
 */
export function dedupNode(
  input: LogicalPlan,
  columns: readonly string[],
  withinWatermark: boolean,
): LogicalPlan {
  const where = withinWatermark ? 'dropDuplicatesWithinWatermark' : 'dropDuplicates';
  for (const c of columns) {
    if (typeof c !== 'string')
      throw userError('INVALID_ARGUMENT', `${where}: give column names, got ${typeof c}`);
    input.schema.require(c, where);
  }
  const keys = columns.length === 0 ? input.schema.names : [...new Set(columns)];
  if (withinWatermark) {
    const marked = [...watermarkedColumns(input)];
    if (marked.length === 0) {
      throw userError(
        'INVALID_PLAN',
        `${where}(${keys.join(', ')}): the input has no watermark; call withWatermark('<event time column>', '<delay>') ` +
          `first — a key is remembered until the watermark passes its first event time + the delay`,
      );
    }
    if (marked.length > 1) {
      throw userError(
        'INVALID_PLAN',
        `${where}(${keys.join(', ')}): the input has ${marked.length} watermarked event-time columns (${marked.join(', ')}); ` +
          `keep only one of them before ${where}`,
      );
    }
  }
  return { kind: 'dedup', input, columns: keys, withinWatermark, schema: input.schema };
}

export function aggregateDefOf(a: AggExpr): AggregateDef {
  return a.def ?? lookupAggregate(a.name);
}

function emptyResultIsNull(
  def: AggregateDef,
  args: Parameters<AggregateDef['bind']>[0],
  distinct: boolean,
): boolean {
  const fn = def.bind(args, { distinct });
  return fn.finish(fn.init()) === null;
}

export function aggregateNode(
  input: LogicalPlan,
  keys: readonly NamedExpr[],
  aggs: readonly NamedAgg[],
): LogicalPlan {
  if (aggs.length === 0)
    throw userError('INVALID_PLAN', 'agg: give at least one aggregate, e.g. { n: count() }');
  const fields: Field[] = keys.map(({ name, expr }) => {
    const info = resolveExpr(expr, input.schema, 'groupBy');
    return { name, type: info.type, nullable: info.nullable };
  });
  for (const { name, agg } of aggs) {
    const def = aggregateDefOf(agg);
    const where = `agg "${name}"`;
    if (agg.args.length < def.minArgs || agg.args.length > def.maxArgs) {
      const want = def.minArgs === def.maxArgs ? `${def.minArgs}` : `${def.minArgs} to ${def.maxArgs}`;
      throw userError(
        'INVALID_EXPRESSION',
        `${where}: ${def.name} takes ${want} argument(s), got ${agg.args.length}`,
      );
    }
    const args = argInfos(agg.args, input.schema, where);
    if (agg.filter) {
      const f = resolveExpr(agg.filter, input.schema, where);
      if (f.type.kind !== 'boolean') {
        throw userError(
          'INVALID_EXPRESSION',
          `${where}: the filter must be boolean, got ${typeToString(f.type)}`,
        );
      }
    }
    let type;
    try {
      type = def.resultType(args);
    } catch (e) {
      throw userError('INVALID_EXPRESSION', `${where}: ${(e as Error).message}`);
    }
    // A filtered aggregate can finish a group that saw no rows: nullable unless its empty result is not null.
    const emptyIsNull = agg.filter !== undefined && emptyResultIsNull(def, args, agg.distinct);
    fields.push({ name, type, nullable: def.resultNullable(args) || emptyIsNull });
  }
  return { kind: 'aggregate', input, keys, aggs, schema: new Schema(fields) };
}

/**
 * The column a grouping key's event time comes from: `window(col, …)` and
 * `session_window(col, …)` over a column, or the column itself; undefined otherwise.
 */
export function keyTimeColumn(key: Expr): string | undefined {
  const e = key.kind === 'alias' ? key.arg : key;
  const time = e.kind === 'call' && (e.name === 'window' || e.name === 'session_window') ? e.args[0] : e;
  return time?.kind === 'col' ? time.name : undefined;
}

/**
 * Columns of `p`'s output that carry a watermark: the column of a withWatermark
 * below, passed through unchanged (or renamed) by projections. Like Spark's
 * event-time metadata on attributes; map/flatMap and aggregations drop it.
 */
export function watermarkedColumns(p: LogicalPlan): Set<string> {
  switch (p.kind) {
    case 'source':
    case 'map':
    case 'keyed':
      return new Set();
    case 'aggregate': {
      // The event-time key stays event time in the output: a window (or session) over a
      // watermarked column, or the column itself — so a second stateful operator can use it.
      const inner = watermarkedColumns(p.input);
      const out = new Set<string>();
      for (const { name, expr } of p.keys) {
        const time = keyTimeColumn(expr);
        if (time !== undefined && inner.has(time)) out.add(name);
      }
      return out;
    }
    case 'watermark':
      return new Set([...watermarkedColumns(p.input), p.column]);
    case 'filter':
    case 'dedup':
      return watermarkedColumns(p.input);
    case 'lookupJoin':
      // The stream's event-time columns pass through (the table has none).
      return new Set([...watermarkedColumns(p.input)].filter((c) => p.schema.has(c)));
    case 'join': {
      // Both sides' event-time columns stay event time in the output (as Spark's metadata).
      const out = new Set<string>();
      for (const c of watermarkedColumns(p.left))
        if (p.output.some((o) => o.from !== 'right' && o.name === c)) out.add(c);
      for (const c of watermarkedColumns(p.right))
        if (p.output.some((o) => o.from === 'right' && o.name === c)) out.add(c);
      return out;
    }
    case 'project': {
      // A column passed through (or renamed), a window over one, or the start/end of a
      // watermarked window stays event time (Spark keeps the metadata on window columns too).
      const inner = watermarkedColumns(p.input);
      const out = new Set<string>();
      for (const { name, expr } of p.exprs) {
        const e = expr.kind === 'alias' ? expr.arg : expr;
        if (e.kind === 'col' && inner.has(e.name)) out.add(name);
        else if (
          e.kind === 'call' &&
          e.name === 'window' &&
          e.args[0]?.kind === 'col' &&
          inner.has(e.args[0].name)
        ) {
          out.add(name);
        } else if (
          e.kind === 'call' &&
          e.name === 'get_field' &&
          e.args[0]?.kind === 'col' &&
          inner.has(e.args[0].name) &&
          e.args[1]?.kind === 'lit' &&
          (e.args[1].value === 'start' || e.args[1].value === 'end')
        ) {
          out.add(name);
        }
      }
      return out;
    }
    case 'union': {
      const sets = p.inputs.map(watermarkedColumns);
      return new Set([...sets[0]!].filter((c) => sets.every((s) => s.has(c))));
    }
  }
}

/** All source nodes, left to right. */
export function collectSources(p: LogicalPlan, out: Source<any>[] = []): Source<any>[] {
  if (p.kind === 'source') out.push(p.source);
  for (const c of children(p)) collectSources(c, out);
  return out;
}

/** What `.uid()` accepts: it names a directory of the checkpoint, and appears in progress and explain. */
const UID = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/**
 * Name the stateful operator at the top of `input` (Flink's `uid`): its state is kept under this id
 * instead of one derived from its position, so adding or removing operators upstream keeps it.
 */
export function uidNode(input: LogicalPlan, uid: string): LogicalPlan {
  if (typeof uid !== 'string' || !UID.test(uid)) {
    throw userError(
      'INVALID_ARGUMENT',
      `uid: give 1–64 letters, digits, '_', '.' or '-', starting with a letter, got ${JSON.stringify(uid)}`,
    );
  }
  switch (input.kind) {
    case 'aggregate':
    case 'dedup':
    case 'keyed':
    case 'join':
      if (input.uid !== undefined && input.uid !== uid) {
        throw userError('INVALID_PLAN', `uid: this operator is already named ${JSON.stringify(input.uid)}`);
      }
      return { ...input, uid };
    default:
      throw userError(
        'INVALID_PLAN',
        `uid(${JSON.stringify(uid)}) names a stateful operator: call it right after groupBy(…).agg(…), ` +
          `dropDuplicates, a stream–stream join or processWithState, not after ${input.kind}`,
      );
  }
}
