/**
 * Column<T>: a typed wrapper around an expression tree. `T` is the TypeScript
 * type of the values (including `null` when the column can be null), so
 * `$.price.mul(0.908)` is a Column<number> and `$.name.mul(2)` does not compile.
 */
import { userError } from '../errors/index.ts';
import {
  BOOLEAN,
  DATE,
  DOUBLE,
  JSON_TYPE,
  LONG,
  NULL_TYPE,
  STRING,
  TIMESTAMP,
  type DataType,
  BINARY,
} from '../schema/index.ts';
import type { BinaryOp, Expr } from '../expr/Expr.ts';

/** `null` when T admits null, otherwise never: carries nullability through operators. */
export type NullOf<T> = null extends T ? null : never;

export type ColumnLike<T> = Column<T> | T;

export type CastTarget =
  'string' | 'long' | 'int' | 'double' | 'boolean' | 'timestamp' | 'date' | 'binary' | 'json';
export type CastResult<K extends CastTarget> = K extends 'string'
  ? string
  : K extends 'boolean'
    ? boolean
    : K extends 'binary'
      ? Uint8Array
      : K extends 'json'
        ? unknown
        : number;

const CAST_TYPES: Record<CastTarget, DataType> = {
  string: STRING,
  long: LONG,
  int: LONG,
  double: DOUBLE,
  boolean: BOOLEAN,
  timestamp: TIMESTAMP,
  date: DATE,
  binary: BINARY,
  json: JSON_TYPE,
};

export class Column<T = unknown> {
  /** Phantom: the value type. */
  declare readonly __type?: T;

  constructor(readonly expr: Expr) {}

  // -- arithmetic -----------------------------------------------------------
  plus<U extends number | null>(
    this: Column<number | null>,
    o: ColumnLike<U>,
  ): Column<number | NullOf<T> | NullOf<U>> {
    return this.bin('+', o);
  }
  minus<U extends number | null>(
    this: Column<number | null>,
    o: ColumnLike<U>,
  ): Column<number | NullOf<T> | NullOf<U>> {
    return this.bin('-', o);
  }
  mul<U extends number | null>(
    this: Column<number | null>,
    o: ColumnLike<U>,
  ): Column<number | NullOf<T> | NullOf<U>> {
    return this.bin('*', o);
  }
  /** Always a double; division by zero gives null (Spark). */
  div<U extends number | null>(this: Column<number | null>, o: ColumnLike<U>): Column<number | null> {
    return this.bin('/', o);
  }
  mod<U extends number | null>(this: Column<number | null>, o: ColumnLike<U>): Column<number | null> {
    return this.bin('%', o);
  }
  negate(this: Column<number | null>): Column<number | NullOf<T>> {
    return new Column({ kind: 'unary', op: 'neg', arg: this.expr });
  }

  // -- comparison -----------------------------------------------------------
  eq<U extends T | null>(o: ColumnLike<U>): Column<boolean | NullOf<T> | NullOf<U>> {
    return this.bin('=', o);
  }
  neq<U extends T | null>(o: ColumnLike<U>): Column<boolean | NullOf<T> | NullOf<U>> {
    return this.bin('!=', o);
  }
  lt<U extends T | null>(o: ColumnLike<U>): Column<boolean | NullOf<T> | NullOf<U>> {
    return this.bin('<', o);
  }
  le<U extends T | null>(o: ColumnLike<U>): Column<boolean | NullOf<T> | NullOf<U>> {
    return this.bin('<=', o);
  }
  gt<U extends T | null>(o: ColumnLike<U>): Column<boolean | NullOf<T> | NullOf<U>> {
    return this.bin('>', o);
  }
  ge<U extends T | null>(o: ColumnLike<U>): Column<boolean | NullOf<T> | NullOf<U>> {
    return this.bin('>=', o);
  }
  /** A field of a struct column (Spark's `col.getField`): `$.window.getField('start')`. */
  getField<K extends keyof NonNullable<T> & string>(name: K): Column<NonNullable<T>[K] | NullOf<T>> {
    return new Column({ kind: 'call', name: 'get_field', args: [this.expr, litExpr(name)] });
  }
  /** Null-safe equality (`<=>`): null equals null, never returns null. */
  eqNullSafe<U extends T | null>(o: ColumnLike<U>): Column<boolean> {
    return this.bin('<=>', o);
  }
  between<U extends T | null>(lo: ColumnLike<U>, hi: ColumnLike<U>): Column<boolean | NullOf<T> | NullOf<U>> {
    return this.ge(lo).and(this.le(hi)) as Column<boolean | NullOf<T> | NullOf<U>>;
  }
  /** `col IN (v1, v2, …)`. */
  isin(...values: ColumnLike<T>[]): Column<boolean | NullOf<T>> {
    if (values.length === 0) throw userError('INVALID_ARGUMENT', 'isin: give at least one value');
    let out: Column<any> = this.eq(values[0]!);
    for (const v of values.slice(1)) out = out.or(this.eq(v));
    return out;
  }

  // -- boolean logic (SQL three-valued) -------------------------------------
  and<U extends boolean | null>(
    this: Column<boolean | null>,
    o: ColumnLike<U>,
  ): Column<boolean | NullOf<T> | NullOf<U>> {
    return this.bin('and', o);
  }
  or<U extends boolean | null>(
    this: Column<boolean | null>,
    o: ColumnLike<U>,
  ): Column<boolean | NullOf<T> | NullOf<U>> {
    return this.bin('or', o);
  }
  not(this: Column<boolean | null>): Column<boolean | NullOf<T>> {
    return new Column({ kind: 'unary', op: 'not', arg: this.expr });
  }

  // -- nulls ----------------------------------------------------------------
  isNull(): Column<boolean> {
    return new Column({ kind: 'unary', op: 'isNull', arg: this.expr });
  }
  isNotNull(): Column<boolean> {
    return new Column({ kind: 'unary', op: 'isNotNull', arg: this.expr });
  }

  // -- naming and types -----------------------------------------------------
  /** Name this column in a select list. */
  as(name: string): Column<T> {
    return new Column({ kind: 'alias', arg: this.expr.kind === 'alias' ? this.expr.arg : this.expr, name });
  }
  alias(name: string): Column<T> {
    return this.as(name);
  }
  /** Spark CAST (non-ANSI): a value that cannot convert becomes null. */
  cast<K extends CastTarget>(to: K): Column<CastResult<K> | null> {
    const type = CAST_TYPES[to];
    if (!type)
      throw userError(
        'INVALID_ARGUMENT',
        `cast: unknown type "${String(to)}"; use one of ${Object.keys(CAST_TYPES).join(', ')}`,
      );
    return new Column({ kind: 'cast', arg: this.expr, to: type });
  }

  toString(): string {
    return `Column(${JSON.stringify(this.expr.kind)})`;
  }

  private bin(op: BinaryOp, o: ColumnLike<unknown>): Column<any> {
    return new Column({ kind: 'binary', op, left: this.expr, right: toExpr(o) });
  }
}

/** A literal's expression, its type inferred from the JS value. */
export function litExpr(value: unknown): Expr {
  if (value instanceof Column) return value.expr;
  if (value === null || value === undefined) return { kind: 'lit', value: null, type: NULL_TYPE };
  switch (typeof value) {
    case 'number':
      return { kind: 'lit', value, type: Number.isInteger(value) ? LONG : DOUBLE };
    case 'string':
      return { kind: 'lit', value, type: STRING };
    case 'boolean':
      return { kind: 'lit', value, type: BOOLEAN };
    case 'bigint':
      return { kind: 'lit', value: Number(value), type: LONG };
    default:
      if (value instanceof Date) return { kind: 'lit', value: value.getTime(), type: TIMESTAMP };
      if (value instanceof Uint8Array) return { kind: 'lit', value, type: BINARY };
      throw userError(
        'INVALID_LITERAL',
        `lit(): cannot make a literal of ${JSON.stringify(value)}; use a number, string, boolean, Date or null`,
      );
  }
}

export function toExpr(v: ColumnLike<unknown>): Expr {
  return v instanceof Column ? v.expr : litExpr(v);
}

/**
 * The typed column accessor passed to `select($ => …)`, `where($ => …)`:
 * one Column per field of the row type. A plain object built from the schema.
 */
export type Cols<R> = { readonly [K in keyof R & string]: Column<R[K]> };
