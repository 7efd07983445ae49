/**
 * Logical plan nodes: immutable data with a `kind`, each carrying its output
 * schema, computed when the node is made (the API analyses eagerly, as Spark's
 * DataFrames do, so a wrong column fails at the line that names it).
 *
 * Visitors are exhaustive `{ [K in PlanKind]: … }` tables: adding a kind does
 * not compile until explain, the planner and the streaming checks handle it.
 */
import type { Source } from '../connectors/contracts.ts';
import { userError } from '../errors/index.ts';
import { type Field, Schema, typeEquals, typeToString } from '../schema/index.ts';
import { type Expr, exprName, exprToString } from '../expr/Expr.ts';
import { resolveExpr } from '../expr/resolve.ts';

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
    };

export type PlanKind = LogicalPlan['kind'];
export type PlanOf<K extends PlanKind> = Extract<LogicalPlan, { kind: K }>;

export function children(p: LogicalPlan): readonly LogicalPlan[] {
  switch (p.kind) {
    case 'source':
      return [];
    case 'union':
      return p.inputs;
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

/** Select-list item naming: `alias` wins, then the column name, then the expression text. */
export function nameOf(e: Expr): string {
  return exprName(e);
}

/** All source nodes, left to right. */
export function collectSources(p: LogicalPlan, out: Source<any>[] = []): Source<any>[] {
  if (p.kind === 'source') out.push(p.source);
  for (const c of children(p)) collectSources(c, out);
  return out;
}
