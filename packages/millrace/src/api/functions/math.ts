/**
 * Math, comparison, null-handling and hash functions (Spark SQL names in camelCase).
 */
import { Column, type ColumnLike, type NullOf, toExpr } from '../Column.ts';

type Num = number | null;
type Orderable = number | string | boolean | null;

function call<R>(name: string, ...args: (ColumnLike<unknown> | undefined)[]): Column<R> {
  let n = args.length;
  while (n > 0 && args[n - 1] === undefined) n--;
  return new Column({ kind: 'call', name, args: args.slice(0, n).map((a) => toExpr(a)) });
}

type NumFn = <T extends Num>(c: ColumnLike<T>) => Column<number | NullOf<T>>;
const numFn =
  (name: string): NumFn =>
  (c) =>
    call(name, c);

// -- arithmetic --------------------------------------------------------------

/** Absolute value (long stays long). */
export const abs: NumFn = numFn('abs');
/** Round half away from zero to `scale` decimals (negative: tens, hundreds…), on the decimal value as Spark does. */
export function round<T extends Num>(c: ColumnLike<T>, scale?: number): Column<number | NullOf<T>> {
  return call('round', c, scale);
}
/** Banker's rounding (HALF_EVEN). */
export function bround<T extends Num>(c: ColumnLike<T>, scale?: number): Column<number | NullOf<T>> {
  return call('bround', c, scale);
}
/** Largest long ≤ x. */
export const floor: NumFn = numFn('floor');
/** Smallest long ≥ x. */
export const ceil: NumFn = numFn('ceil');
export const sqrt: NumFn = numFn('sqrt');
export const cbrt: NumFn = numFn('cbrt');
export const exp: NumFn = numFn('exp');
export const signum: NumFn = numFn('signum');
export const sin: NumFn = numFn('sin');
export const cos: NumFn = numFn('cos');
export const tan: NumFn = numFn('tan');
export const asin: NumFn = numFn('asin');
export const acos: NumFn = numFn('acos');
export const atan: NumFn = numFn('atan');
export const degrees: NumFn = numFn('degrees');
export const radians: NumFn = numFn('radians');

export function pow<A extends Num, B extends Num>(
  base: ColumnLike<A>,
  exponent: ColumnLike<B>,
): Column<number | NullOf<A> | NullOf<B>> {
  return call('pow', base, exponent);
}
export function atan2<A extends Num, B extends Num>(
  y: ColumnLike<A>,
  x: ColumnLike<B>,
): Column<number | NullOf<A> | NullOf<B>> {
  return call('atan2', y, x);
}
/** Natural logarithm, or `log(base, x)`; null for x ≤ 0. */
export function log(x: ColumnLike<Num>): Column<number | null>;
export function log(base: ColumnLike<Num>, x: ColumnLike<Num>): Column<number | null>;
export function log(a: ColumnLike<Num>, b?: ColumnLike<Num>): Column<number | null> {
  return call('log', a, b);
}
/** Natural logarithm; null for x ≤ 0. */
export function ln(x: ColumnLike<Num>): Column<number | null> {
  return call('ln', x);
}
export function log10(x: ColumnLike<Num>): Column<number | null> {
  return call('log10', x);
}
export function log2(x: ColumnLike<Num>): Column<number | null> {
  return call('log2', x);
}
/** Positive modulo; null when the divisor is 0. */
export function pmod(x: ColumnLike<Num>, y: ColumnLike<Num>): Column<number | null> {
  return call('pmod', x, y);
}
export function isnan(c: ColumnLike<Num>): Column<boolean> {
  return call('isnan', c);
}

// -- comparison and nulls ----------------------------------------------------

/** The largest non-null argument; null only when all are null. */
export function greatest<A extends Orderable, B extends Orderable>(
  a: ColumnLike<A>,
  b: ColumnLike<B>,
  ...rest: ColumnLike<A | B>[]
): Column<NonNullable<A | B> | (NullOf<A> & NullOf<B>)> {
  return call('greatest', a, b, ...rest);
}
/** The smallest non-null argument; null only when all are null. */
export function least<A extends Orderable, B extends Orderable>(
  a: ColumnLike<A>,
  b: ColumnLike<B>,
  ...rest: ColumnLike<A | B>[]
): Column<NonNullable<A | B> | (NullOf<A> & NullOf<B>)> {
  return call('least', a, b, ...rest);
}
/** Null when `a` equals `b`, else `a`. */
export function nullif<A extends Orderable, B extends A | null>(
  a: ColumnLike<A>,
  b: ColumnLike<B>,
): Column<NonNullable<A> | null> {
  return call('nullif', a, b);
}
/** `a` unless it is null, then `b`. */
export function ifnull<A, B>(a: ColumnLike<A>, b: ColumnLike<B>): Column<NonNullable<A> | B> {
  return call('ifnull', a, b);
}
export const nvl = ifnull;
/** `b` when `a` is not null, else `c`. */
export function nvl2<B, C>(a: ColumnLike<unknown>, b: ColumnLike<B>, c: ColumnLike<C>): Column<B | C> {
  return call('nvl2', a, b, c);
}
/** `a` unless it is NaN, then `b`. */
export function nanvl<A extends Num, B extends Num>(
  a: ColumnLike<A>,
  b: ColumnLike<B>,
): Column<number | NullOf<A> | NullOf<B>> {
  return call('nanvl', a, b);
}

// -- hashing -----------------------------------------------------------------

/** Spark's hash(): Murmur3 (32-bit, seed 42) of the arguments; nulls are skipped. */
export function hash(...cols: ColumnLike<unknown>[]): Column<number> {
  return call('hash', ...cols);
}
