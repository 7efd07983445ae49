/** Binds join nodes to their operators: compiled keys, times, residual and output rows. */
import { compileExpr } from '../expr/codegen.ts';
import type { Expr } from '../expr/Expr.ts';
import type { Row, Schema } from '../schema/index.ts';
import { type LookupJoinSpec, LookupTable } from '../operators/join/lookupJoin.ts';
import type { JoinSideSpec, StreamJoinSpec } from '../operators/join/StreamJoin.ts';
import {
  compileJoinedRow,
  compileKeyText,
  compileOutputRow,
  compileResidual,
} from '../operators/join/joinRows.ts';
import {
  type JoinAnalysis,
  type TimeRef,
  analyzeJoinCondition,
  analyzeStreamJoin,
  rightName,
} from './joinNode.ts';
import type { PlanOf } from './logical.ts';

/** The bounds a stream–stream join's state has, per side (undefined: that side is never evicted). */
export interface JoinStateBounds {
  readonly analysis: JoinAnalysis;
  readonly leftEvictBy: number | undefined;
  readonly rightEvictBy: number | undefined;
}

export function joinStateBounds(p: PlanOf<'join'>): JoinStateBounds {
  const analysis = analyzeStreamJoin(p);
  const t = analysis.time;
  return {
    analysis,
    // A left row is done at left.time + lower ≤ wm: needs every future right row above wm.
    leftEvictBy: t && t.right.watermarked && Number.isFinite(t.lower) ? t.lower : undefined,
    rightEvictBy: t && t.left.watermarked && Number.isFinite(t.upper) ? t.upper : undefined,
  };
}

function timeFn(ref: TimeRef | undefined, schema: Schema): ((row: Row) => number | null) | null {
  if (ref === undefined) return null;
  const v = compileExpr({ kind: 'col', name: ref.column }, schema, 'join time');
  return ref.windowEnd
    ? (row) => (v(row) as { end: number } | null)?.end ?? null
    : (row) => (v(row) as number | null) ?? null;
}

export function bindStreamJoin(p: PlanOf<'join'>, operatorId: string): StreamJoinSpec {
  const { analysis, leftEvictBy, rightEvictBy } = joinStateBounds(p);
  const t = analysis.time;
  const side = (
    keys: readonly Expr[],
    schema: Schema,
    ref: TimeRef | undefined,
    evictBy: number | undefined,
    outer: boolean,
    name: string,
  ): JoinSideSpec => ({
    key: compileKeyText(keys, schema, `join ${name} key`),
    time: timeFn(ref, schema),
    dropLate: ref?.watermarked ?? false,
    evictBelowWatermarkBy: evictBy,
    outer,
  });
  const jt = p.joinType;
  return {
    operatorId,
    joinType: jt,
    left: side(
      analysis.leftKeys,
      p.left.schema,
      t?.left,
      leftEvictBy,
      jt === 'leftOuter' || jt === 'fullOuter',
      'left',
    ),
    right: side(
      analysis.rightKeys,
      p.right.schema,
      t?.right,
      rightEvictBy,
      jt === 'rightOuter' || jt === 'fullOuter',
      'right',
    ),
    residual: compileResidual(analysis.residual, p.joinedSchema, 'join condition'),
    joinedRow: compileJoinedRow(p.left.schema, p.right.schema, (n) => rightName(p.usingColumns, n)),
    outputRow: compileOutputRow(p.output),
  };
}

export function bindLookupJoin(p: PlanOf<'lookupJoin'>): LookupJoinSpec {
  const tableSchema = p.table.schema as Schema;
  const analysis = analyzeJoinCondition(p, p.input.schema, tableSchema, `join with table ${p.table.name}`);
  return {
    table: new LookupTable(p.table, compileKeyText(analysis.rightKeys, tableSchema, 'join table key')),
    outer: p.joinType === 'leftOuter',
    streamKey: compileKeyText(analysis.leftKeys, p.input.schema, 'join stream key'),
    residual: compileResidual(analysis.residual, p.joinedSchema, 'join condition'),
    joinedRow: compileJoinedRow(p.input.schema, tableSchema, (n) => rightName(p.usingColumns, n)),
    outputRow: compileOutputRow(p.output),
  };
}
