/**
 * Joins in the logical plan: building the node (names, output schema, condition) and reading its
 * condition apart (equality keys, the event-time range that bounds state, the rest).
 *
 * The condition is resolved against the *joined* schema: the left columns, then the right ones.
 * A right column named like a left column is only allowed for `on: ['k', …]` (a using-join); it
 * appears in the joined schema as `right.k`, and in the output once (Spark's using-join).
 *
 *   left.join(right, { on: ($l, $r) => $l.ad.eq($r.ad).and($r.at.between($l.at, $l.at.plus(interval('1 hour')))) })
 *        conjuncts:  l.ad = r.ad                ──► equality key (left ad, right ad)
 *                    r.at >= l.at               ──► l.at <= r.at + 0         (upper = 0)
 *                    r.at <= l.at + 1 h         ──► l.at >= r.at - 1 h       (lower = 1 h)
 *                    anything else              ──► residual, checked on each candidate pair
 *
 * `left.time ∈ [right.time − lower, right.time + upper]` is what bounds the state of a
 * stream–stream join (see operators/join/StreamJoin.ts).
 */
import { userError } from '../errors/index.ts';
import type { TableSource } from '../connectors/contracts.ts';
import { type Expr, exprToString } from '../expr/Expr.ts';
import { resolveExpr } from '../expr/resolve.ts';
import { transformUp } from '../expr/rewrite.ts';
import { isWindowStruct } from '../expr/functions/window.ts';
import { type Field, Schema, typeToString } from '../schema/index.ts';
import { type LogicalPlan, type PlanOf, watermarkedColumns } from './logical.ts';

export type JoinType = 'inner' | 'leftOuter' | 'rightOuter' | 'fullOuter' | 'leftSemi';

const JOIN_TYPES: Record<string, JoinType> = {
  inner: 'inner',
  leftOuter: 'leftOuter',
  left: 'leftOuter',
  left_outer: 'leftOuter',
  rightOuter: 'rightOuter',
  right: 'rightOuter',
  right_outer: 'rightOuter',
  fullOuter: 'fullOuter',
  full: 'fullOuter',
  full_outer: 'fullOuter',
  outer: 'fullOuter',
  leftSemi: 'leftSemi',
  left_semi: 'leftSemi',
  semi: 'leftSemi',
};

export function readJoinType(t: unknown, where: string): JoinType {
  const jt = typeof t === 'string' ? JOIN_TYPES[t] : undefined;
  if (jt === undefined) {
    throw userError(
      'INVALID_ARGUMENT',
      `${where}: unknown join type ${JSON.stringify(t)}; use 'inner', 'leftOuter', 'rightOuter', 'fullOuter' or 'leftSemi'`,
    );
  }
  return jt;
}

/** Where each output column comes from. */
export type OutputColumn =
  | { readonly from: 'left' | 'right'; readonly name: string; readonly as: string }
  /** A using column of a full outer join: the left value, else the right one. */
  | { readonly from: 'coalesce'; readonly name: string; readonly as: string };

/** What stream–stream and stream–table joins share. */
export interface JoinShape {
  readonly joinType: JoinType;
  /** Over the joined schema (left columns, then right ones; using columns of the right as `right.<name>`). */
  readonly condition: Expr;
  readonly usingColumns: readonly string[];
  readonly joinedSchema: Schema;
  readonly output: readonly OutputColumn[];
}

export const rightName = (using: readonly string[], name: string): string =>
  using.includes(name) ? `right.${name}` : name;

/** How a join is asked for: using columns (on: ['id']), a condition over the joined schema, or both. */
export interface JoinOn {
  readonly using: readonly string[];
  /** Over the joined schema; with using columns it must contain their equalities (null: just those). */
  readonly condition: Expr | null;
}

/** The joined schema, the condition and the output columns of `left JOIN right`. */
export function joinShape(
  left: Schema,
  right: Schema,
  joinType: JoinType,
  on: JoinOn,
  where: string,
): JoinShape {
  const using = on.using;
  for (const c of using) {
    if (typeof c !== 'string') throw userError('INVALID_ARGUMENT', `${where}: on: give column names`);
    left.require(c, `${where} (left side)`);
    right.require(c, `${where} (right side)`);
  }
  const clashes = right.names.filter((n) => left.names.includes(n) && !using.includes(n));
  if (clashes.length > 0) {
    throw userError(
      'INVALID_PLAN',
      `${where}: both sides have the column(s) ${clashes.map((c) => `"${c}"`).join(', ')}; rename one side ` +
        `(withColumnRenamed) or, if they are the join key, join on them by name: on: [${clashes.map((c) => `'${c}'`).join(', ')}]`,
    );
  }
  const joinedFields: Field[] = [
    ...left.fields,
    ...right.fields.map((f) => ({ ...f, name: rightName(using, f.name) })),
  ];
  const reserved = joinedFields.filter((f, i) => joinedFields.findIndex((g) => g.name === f.name) !== i);
  if (reserved.length > 0) {
    throw userError(
      'INVALID_PLAN',
      `${where}: the left side has a column named "${reserved[0]!.name}"; rename it`,
    );
  }
  const joinedSchema = new Schema(joinedFields);
  let condition: Expr;
  if (on.condition === null) {
    if (using.length === 0) throw userError('INVALID_ARGUMENT', `${where}: on: give at least one column`);
    condition = usingCondition(using);
  } else {
    condition = on.condition;
  }
  const info = resolveExpr(condition, joinedSchema, `${where} condition`);
  if (info.type.kind !== 'boolean') {
    throw userError(
      'INVALID_PLAN',
      `${where}: the join condition ${exprToString(condition)} is ${typeToString(info.type)}, not boolean`,
    );
  }

  const leftNullable = joinType === 'rightOuter' || joinType === 'fullOuter';
  const rightNullable = joinType === 'leftOuter' || joinType === 'fullOuter';
  const output: OutputColumn[] = [];
  const fields: Field[] = [];
  for (const f of left.fields) {
    if (using.includes(f.name)) {
      const r = right.require(f.name, where);
      if (joinType === 'rightOuter') {
        output.push({ from: 'right', name: f.name, as: f.name });
        fields.push({ ...r, name: f.name });
      } else if (joinType === 'fullOuter') {
        output.push({ from: 'coalesce', name: f.name, as: f.name });
        fields.push({ ...f, nullable: f.nullable && r.nullable });
      } else {
        output.push({ from: 'left', name: f.name, as: f.name });
        fields.push(f);
      }
      continue;
    }
    output.push({ from: 'left', name: f.name, as: f.name });
    fields.push(leftNullable ? { ...f, nullable: true } : f);
  }
  if (joinType !== 'leftSemi') {
    for (const f of right.fields) {
      if (using.includes(f.name)) continue;
      output.push({ from: 'right', name: f.name, as: f.name });
      fields.push(rightNullable ? { ...f, nullable: true } : f);
    }
  }
  return {
    joinType,
    condition,
    usingColumns: using,
    joinedSchema,
    output: joinType === 'leftSemi' ? output.filter((o) => o.from !== 'right') : output,
  };
}

/** `l.a = right.a AND l.b = right.b …` for using columns. */
export function usingCondition(using: readonly string[]): Expr {
  return using
    .map((c): Expr => ({
      kind: 'binary',
      op: '=',
      left: { kind: 'col', name: c },
      right: { kind: 'col', name: `right.${c}` },
    }))
    .reduce((a, b) => ({ kind: 'binary', op: 'and', left: a, right: b }));
}

export function joinNode(left: LogicalPlan, right: LogicalPlan, joinType: JoinType, on: JoinOn): LogicalPlan {
  const shape = joinShape(left.schema, right.schema, joinType, on, 'join');
  const schema = outputSchema(shape, left.schema, right.schema);
  return { kind: 'join', left, right, ...shape, schema };
}

export function lookupJoinNode(
  input: LogicalPlan,
  table: TableSource<any>,
  joinType: JoinType,
  on: JoinOn,
): LogicalPlan {
  const where = `join with table ${table.name}`;
  if (joinType !== 'inner' && joinType !== 'leftOuter') {
    throw userError(
      'UNSUPPORTED_OPERATION',
      `${where}: a stream joined with a static table supports 'inner' and 'leftOuter' joins, got '${joinType}' ` +
        `(a right or full outer join would have to emit every unmatched table row, which a stream never proves)`,
    );
  }
  const shape = joinShape(input.schema, table.schema as Schema, joinType, on, where);
  const analysis = analyzeJoinCondition(shape, input.schema, table.schema as Schema, where);
  if (analysis.leftKeys.length === 0) {
    throw userError(
      'UNSUPPORTED_OPERATION',
      `${where}: the condition ${exprToString(shape.condition)} has no equality between a stream column and a table column; ` +
        `a lookup join needs one (e.g. on: ['id'])`,
    );
  }
  return {
    kind: 'lookupJoin',
    input,
    table,
    ...shape,
    schema: outputSchema(shape, input.schema, table.schema as Schema),
  };
}

function outputSchema(shape: JoinShape, left: Schema, right: Schema): Schema {
  const leftNullable = shape.joinType === 'rightOuter' || shape.joinType === 'fullOuter';
  const rightNullable = shape.joinType === 'leftOuter' || shape.joinType === 'fullOuter';
  return new Schema(
    shape.output.map((o): Field => {
      if (o.from === 'coalesce') {
        const l = left.require(o.name, 'join');
        const r = right.require(o.name, 'join');
        return { ...l, nullable: l.nullable && r.nullable };
      }
      const f = (o.from === 'left' ? left : right).require(o.name, 'join');
      const usingCol = shape.usingColumns.includes(o.name);
      const nullable = usingCol
        ? f.nullable
        : o.from === 'left'
          ? leftNullable || f.nullable
          : rightNullable || f.nullable;
      return { ...f, name: o.as, nullable };
    }),
  );
}

// ---------------------------------------------------------------------------
// Reading the condition apart

/** A side's event time in the range condition: a column (timestamp, or a window whose end counts). */
export interface TimeRef {
  readonly column: string;
  /** The column is a window struct: its `end` is the time. */
  readonly windowEnd: boolean;
  /** Whether the column carries a watermark on its side's input (late rows dropped; the other side evictable). */
  readonly watermarked: boolean;
}

export interface JoinAnalysis {
  /** Equality keys, pairwise: over the left schema and over the right schema (right names restored). */
  readonly leftKeys: readonly Expr[];
  readonly rightKeys: readonly Expr[];
  /** `left.time ∈ [right.time − lower, right.time + upper]`; Infinity where unbounded. */
  readonly time: {
    readonly left: TimeRef;
    readonly right: TimeRef;
    readonly lower: number;
    readonly upper: number;
  } | null;
  /** The conjuncts that are not equality keys, over the joined schema (null: none). */
  readonly residual: Expr | null;
}

function conjuncts(e: Expr, out: Expr[] = []): Expr[] {
  if (e.kind === 'binary' && e.op === 'and') {
    conjuncts(e.left, out);
    conjuncts(e.right, out);
  } else out.push(e);
  return out;
}

function columnsOf(e: Expr, out = new Set<string>()): Set<string> {
  transformUp(e, (x) => {
    if (x.kind === 'col') out.add(x.name);
    return x;
  });
  return out;
}

/** `col`, `col + lit`, `col - lit` (a timestamp or window column plus milliseconds). */
function timeTerm(e: Expr): { column: string; offset: number } | null {
  const x = e.kind === 'alias' ? e.arg : e;
  if (x.kind === 'col') return { column: x.name, offset: 0 };
  if (
    x.kind === 'binary' &&
    (x.op === '+' || x.op === '-') &&
    x.left.kind === 'col' &&
    x.right.kind === 'lit' &&
    typeof x.right.value === 'number'
  ) {
    return { column: x.left.name, offset: x.op === '+' ? x.right.value : -x.right.value };
  }
  return null;
}

export function analyzeJoinCondition(
  shape: JoinShape,
  left: Schema,
  right: Schema,
  where: string,
  watermarks?: { left: Set<string>; right: Set<string> },
): JoinAnalysis {
  const leftNames = new Set(left.names);
  const rightInternal = new Map(right.names.map((n) => [rightName(shape.usingColumns, n), n]));
  const sideOf = (e: Expr): 'left' | 'right' | 'both' | 'none' => {
    const cols = [...columnsOf(e)];
    if (cols.length === 0) return 'none';
    const l = cols.every((c) => leftNames.has(c));
    const r = cols.every((c) => rightInternal.has(c));
    return l ? 'left' : r ? 'right' : 'both';
  };
  const toRight = (e: Expr): Expr =>
    transformUp(e, (x) => (x.kind === 'col' ? { kind: 'col', name: rightInternal.get(x.name)! } : x));

  const leftKeys: Expr[] = [];
  const rightKeys: Expr[] = [];
  const residual: Expr[] = [];
  // Bounds per pair of time columns; the pair that bounds state best is chosen below.
  const pairs = new Map<string, { left: string; right: string; lower: number; upper: number }>();
  const bound = (l: string, r: string, kind: 'lower' | 'upper', v: number) => {
    const id = JSON.stringify([l, r]);
    let time = pairs.get(id);
    if (time === undefined) pairs.set(id, (time = { left: l, right: r, lower: Infinity, upper: Infinity }));
    time[kind] = Math.min(time[kind], v);
  };
  const isTime = (side: Schema, name: string) => {
    const f = side.field(name);
    return f !== undefined && (f.type.kind === 'timestamp' || isWindowStruct(f.type));
  };

  for (const c of conjuncts(shape.condition)) {
    if (c.kind === 'binary' && c.op === '=') {
      const a = sideOf(c.left);
      const b = sideOf(c.right);
      if ((a === 'left' && b === 'right') || (a === 'right' && b === 'left')) {
        const [l, r] = a === 'left' ? [c.left, c.right] : [c.right, c.left];
        leftKeys.push(l);
        rightKeys.push(toRight(r));
        // Equal event times (or the same window) also bound the state: a range of zero width.
        const lt = timeTerm(l);
        const rt = timeTerm(toRight(r));
        if (
          lt &&
          rt &&
          lt.offset === 0 &&
          rt.offset === 0 &&
          isTime(left, lt.column) &&
          isTime(right, rt.column)
        ) {
          bound(lt.column, rt.column, 'lower', 0);
          bound(lt.column, rt.column, 'upper', 0);
        }
        continue;
      }
    }
    residual.push(c);
    if (c.kind !== 'binary' || !['<', '<=', '>', '>='].includes(c.op)) continue;
    const a = sideOf(c.left);
    const b = sideOf(c.right);
    if (!((a === 'left' && b === 'right') || (a === 'right' && b === 'left'))) continue;
    const x = timeTerm(a === 'left' ? c.left : toRight(c.left));
    const y = timeTerm(b === 'left' ? c.right : toRight(c.right));
    if (!x || !y) continue;
    // Normalise to   left.time  OP  right.time + d
    let op = c.op;
    let lt: { column: string; offset: number };
    let rt: { column: string; offset: number };
    if (a === 'left') {
      lt = x;
      rt = y;
    } else {
      lt = y;
      rt = x;
      op = op === '<' ? '>' : op === '<=' ? '>=' : op === '>' ? '<' : '<=';
    }
    if (!isTime(left, lt.column) || !isTime(right, rt.column)) continue;
    const d = rt.offset - lt.offset;
    if (op === '<' || op === '<=') bound(lt.column, rt.column, 'upper', d);
    else bound(lt.column, rt.column, 'lower', -d);
  }
  // Several pairs (e.g. `b.t BETWEEN a.t AND a.t + 1 h AND b.t <= a.expires`): prefer the pair whose
  // columns carry watermarks (it can evict), then the one with more finite bounds; the other
  // pairs' conjuncts stay in the residual, which every candidate pair is checked against anyway.
  const score = (p: { left: string; right: string; lower: number; upper: number }) =>
    (watermarks?.left.has(p.left) ? 4 : 0) +
    (watermarks?.right.has(p.right) ? 4 : 0) +
    (Number.isFinite(p.lower) ? 1 : 0) +
    (Number.isFinite(p.upper) ? 1 : 0);
  let t: { left: string; right: string; lower: number; upper: number } | null = null;
  for (const p of pairs.values()) if (t === null || score(p) > score(t)) t = p;
  const ref = (side: Schema, column: string, marked: Set<string> | undefined): TimeRef => ({
    column,
    windowEnd: isWindowStruct(side.require(column, where).type),
    watermarked: marked?.has(column) ?? false,
  });
  return {
    leftKeys,
    rightKeys,
    time: t && {
      left: ref(left, t.left, watermarks?.left),
      right: ref(right, t.right, watermarks?.right),
      lower: t.lower,
      upper: t.upper,
    },
    residual:
      residual.length === 0
        ? null
        : residual.reduce((p, q) => ({ kind: 'binary', op: 'and', left: p, right: q })),
  };
}

/** The analysis of a stream–stream join node, with which time columns carry watermarks. */
export function analyzeStreamJoin(p: PlanOf<'join'>): JoinAnalysis {
  return analyzeJoinCondition(p, p.left.schema, p.right.schema, 'join', {
    left: watermarkedColumns(p.left),
    right: watermarkedColumns(p.right),
  });
}

export function describeJoin(p: JoinShape): string {
  if (p.usingColumns.length === 0) return `${p.joinType}, ${exprToString(p.condition)}`;
  const using = `using [${p.usingColumns.join(', ')}]`;
  const onlyUsing = exprToString(p.condition) === exprToString(usingCondition(p.usingColumns));
  return `${p.joinType}, ${using}${onlyUsing ? '' : ` where ${exprToString(p.condition)}`}`;
}
