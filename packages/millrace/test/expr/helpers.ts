/** Shared helpers for expression tests: compile a Column against a schema and run it on a row. */
import type { Column } from '../../src/api/Column.ts';
import { compileExpr } from '../../src/expr/codegen.ts';
import { resolveExpr } from '../../src/expr/resolve.ts';
import { type Schema, schema, t } from '../../src/schema/index.ts';

/** A schema with a nullable and a non-nullable column of each common type. */
export const S = schema({
  s: t.string.orNull(),
  s2: t.string.orNull(),
  str: t.string,
  n: t.long.orNull(),
  n2: t.long.orNull(),
  long: t.long,
  d: t.double.orNull(),
  dbl: t.double,
  b: t.boolean.orNull(),
  b2: t.boolean.orNull(),
  ts: t.timestamp.orNull(),
  tsn: t.timestamp,
  dt: t.date.orNull(),
  dt2: t.date.orNull(),
  arr: t.array(t.string).orNull(),
  nums: t.array(t.long.orNull()),
  j: t.json.orNull(),
  bin: t.binary.orNull(),
});

/** Evaluate a column on one row (missing fields are null). */
export function ev(c: Column<any>, row: Record<string, unknown> = {}, sch: Schema<any> = S): unknown {
  return compileExpr(c.expr, sch, 'test')(row);
}

/** The compiled function itself (to inspect its source). */
export function compiled(c: Column<any>, sch: Schema<any> = S): (row: any) => unknown {
  return compileExpr(c.expr, sch, 'test');
}

/** Resolved type and nullability. */
export function typeOf(c: Column<any>, sch: Schema<any> = S): { type: string; nullable: boolean } {
  const info = resolveExpr(c.expr, sch, 'test');
  return {
    type: info.type.kind === 'array' ? `array<${info.type.element.kind}>` : info.type.kind,
    nullable: info.nullable,
  };
}

/** Epoch ms of a UTC date-time. */
export const TS = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number =>
  Date.UTC(y, mo - 1, d, h, mi, s, ms);
/** Epoch day of a UTC date. */
export const D = (y: number, mo: number, d: number): number => Math.floor(TS(y, mo, d) / 86_400_000);
