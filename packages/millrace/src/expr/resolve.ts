/**
 * Type resolution: the analyzer's view of an expression against an input
 * schema. Every check that can fail does so here, at plan time, with a message
 * that quotes the expression and says what would work.
 */
import { userError } from '../errors/index.ts';
import {
  BOOLEAN,
  DOUBLE,
  LONG,
  TIMESTAMP,
  NULL_TYPE,
  type DataType,
  type Schema,
  isNumeric,
  typeEquals,
  typeToString,
} from '../schema/index.ts';
import { type Expr, exprToString } from './Expr.ts';
import type { ArgInfo } from './functions/FunctionDef.ts';
import { lookupFunction } from './functions/registry.ts';
import { castNullable, checkCast } from './cast.ts';
import { commonTypeOf as commonType } from './functions/common.ts';

export interface TypeInfo {
  readonly type: DataType;
  readonly nullable: boolean;
}

export { commonTypeOf as commonType } from './functions/common.ts';

export function isComposite(t: DataType): boolean {
  return t.kind === 'array' || t.kind === 'struct';
}

function comparable(a: DataType, b: DataType): boolean {
  if (a.kind === 'null' || b.kind === 'null') return true;
  if (isNumeric(a) && isNumeric(b)) return true;
  if (a.kind === 'array' || a.kind === 'struct' || a.kind === 'json') return false;
  return a.kind === b.kind;
}

/** Resolved types per (expression node, schema): codegen asks again at every node. */
const memo = new WeakMap<Expr, WeakMap<Schema, TypeInfo>>();

export function resolveExpr(e: Expr, schema: Schema, where: string): TypeInfo {
  const known = memo.get(e)?.get(schema);
  if (known) return known;
  const info = resolveUncached(e, schema, where);
  let bySchema = memo.get(e);
  if (!bySchema) memo.set(e, (bySchema = new WeakMap()));
  bySchema.set(schema, info);
  return info;
}

function resolveUncached(e: Expr, schema: Schema, where: string): TypeInfo {
  const fail = (msg: string): never => {
    throw userError('INVALID_EXPRESSION', `${where}: in ${exprToString(e)}: ${msg}`);
  };
  switch (e.kind) {
    case 'col': {
      const f = schema.require(e.name, where);
      return { type: f.type, nullable: f.nullable };
    }
    case 'lit':
      return { type: e.type, nullable: e.value === null };
    case 'alias':
      return resolveExpr(e.arg, schema, where);
    case 'binary': {
      const l = resolveExpr(e.left, schema, where);
      const r = resolveExpr(e.right, schema, where);
      switch (e.op) {
        case '+':
        case '-':
        case '*':
        case '/':
        case '%': {
          // timestamp ± milliseconds (a long, e.g. interval('1 hour')) is a timestamp, as Spark's
          // timestamp ± INTERVAL: how join time-range conditions are written.
          const isMs = (t: TypeInfo) => t.type.kind === 'long' || t.type.kind === 'null';
          if (
            (e.op === '+' || e.op === '-') &&
            ((l.type.kind === 'timestamp' && isMs(r)) ||
              (e.op === '+' && isMs(l) && r.type.kind === 'timestamp'))
          ) {
            return { type: TIMESTAMP, nullable: l.nullable || r.nullable };
          }
          // timestamp − timestamp is the difference in milliseconds (Spark: an interval).
          if (e.op === '-' && l.type.kind === 'timestamp' && r.type.kind === 'timestamp') {
            return { type: LONG, nullable: l.nullable || r.nullable };
          }
          const okL = isNumeric(l.type) || l.type.kind === 'null';
          const okR = isNumeric(r.type) || r.type.kind === 'null';
          if (!okL || !okR) {
            fail(
              `"${e.op}" needs numbers, got ${typeToString(l.type)} and ${typeToString(r.type)}; ` +
                `use concat() for strings or cast() the operands`,
            );
          }
          const type =
            e.op === '/' ? DOUBLE : l.type.kind === 'double' || r.type.kind === 'double' ? DOUBLE : LONG;
          // Division and modulo by zero give null (Spark's non-ANSI behaviour).
          const divByZeroPossible =
            (e.op === '/' || e.op === '%') &&
            !(e.right.kind === 'lit' && typeof e.right.value === 'number' && e.right.value !== 0);
          return { type, nullable: l.nullable || r.nullable || divByZeroPossible };
        }
        case 'and':
        case 'or':
          for (const [side, info] of [
            ['left', l],
            ['right', r],
          ] as const) {
            if (info.type.kind !== 'boolean' && info.type.kind !== 'null') {
              fail(`${e.op.toUpperCase()} needs booleans, the ${side} side is ${typeToString(info.type)}`);
            }
          }
          return { type: BOOLEAN, nullable: l.nullable || r.nullable };
        default:
          // Structs and arrays (a window, say) compare for equality when their types are the same.
          if (
            (e.op === '=' || e.op === '!=' || e.op === '<=>') &&
            isComposite(l.type) &&
            typeEquals(l.type, r.type)
          ) {
            return { type: BOOLEAN, nullable: e.op === '<=>' ? false : l.nullable || r.nullable };
          }
          if (!comparable(l.type, r.type)) {
            fail(
              `cannot compare ${typeToString(l.type)} with ${typeToString(r.type)}; cast one side ` +
                `(e.g. timestampMillis(col) for epoch millis, or .cast('string'))`,
            );
          }
          return { type: BOOLEAN, nullable: e.op === '<=>' ? false : l.nullable || r.nullable };
      }
    }
    case 'unary': {
      const a = resolveExpr(e.arg, schema, where);
      switch (e.op) {
        case 'not':
          if (a.type.kind !== 'boolean' && a.type.kind !== 'null')
            fail(`NOT needs a boolean, got ${typeToString(a.type)}`);
          return { type: BOOLEAN, nullable: a.nullable };
        case 'neg':
          if (!isNumeric(a.type) && a.type.kind !== 'null')
            fail(`negation needs a number, got ${typeToString(a.type)}`);
          return { type: a.type, nullable: a.nullable };
        default:
          return { type: BOOLEAN, nullable: false };
      }
    }
    case 'case': {
      let type: DataType = NULL_TYPE;
      let nullable = e.otherwise === null;
      for (const b of e.branches) {
        const w = resolveExpr(b.when, schema, where);
        if (w.type.kind !== 'boolean' && w.type.kind !== 'null') {
          fail(`WHEN conditions must be boolean, got ${typeToString(w.type)} in ${exprToString(b.when)}`);
        }
      }
      for (const v of [...e.branches.map((b) => b.then), ...(e.otherwise ? [e.otherwise] : [])]) {
        const info = resolveExpr(v, schema, where);
        const c = commonType(type, info.type);
        if (!c) fail(`branches have incompatible types ${typeToString(type)} and ${typeToString(info.type)}`);
        type = c!;
        nullable ||= info.nullable;
      }
      return { type, nullable };
    }
    case 'cast': {
      const a = resolveExpr(e.arg, schema, where);
      const problem = checkCast(a.type, e.to);
      if (problem) fail(problem);
      return { type: e.to, nullable: a.nullable || castNullable(a.type, e.to) };
    }
    case 'call': {
      const def = lookupFunction(e.name);
      if (e.args.length < def.minArgs || e.args.length > def.maxArgs) {
        const want = def.minArgs === def.maxArgs ? `${def.minArgs}` : `${def.minArgs} to ${def.maxArgs}`;
        fail(`${def.name} takes ${want} argument(s), got ${e.args.length}`);
      }
      const args = argInfos(e.args, schema, where);
      let type: DataType;
      try {
        type = def.returnType(args);
      } catch (err) {
        throw userError('INVALID_EXPRESSION', `${where}: in ${exprToString(e)}: ${(err as Error).message}`);
      }
      const nullable = def.resultNullable
        ? def.resultNullable(args)
        : def.nulls === 'handled'
          ? true
          : args.some((a) => a.nullable);
      return { type, nullable };
    }
    case 'udf':
      for (const a of e.args) resolveExpr(a, schema, where);
      return { type: e.returnType, nullable: e.nullable };
  }
}

export function argInfos(args: readonly Expr[], schema: Schema, where: string): ArgInfo[] {
  return args.map((a) => {
    const info = resolveExpr(a, schema, where);
    const inner = a.kind === 'alias' ? a.arg : a;
    return inner.kind === 'lit' ? { ...info, literal: { value: inner.value } } : info;
  });
}
