/**
 * String and array functions. Each is named after its Spark SQL function in
 * camelCase (`regexp_extract` → `regexpExtract`) and builds a call expression;
 * argument types are checked by the compiler here and by the analyzer at plan time.
 *
 * Result types carry nullability: `upper(Column<string | null>)` is a
 * `Column<string | null>`, `upper(Column<string>)` a `Column<string>`.
 */
import { Column, type ColumnLike, type NullOf, toExpr } from '../Column.ts';

type Str = string | null;
type Num = number | null;

/** A call of a built-in function; trailing `undefined` (omitted optional) arguments are dropped. */
function call<R>(name: string, ...args: (ColumnLike<unknown> | undefined)[]): Column<R> {
  let n = args.length;
  while (n > 0 && args[n - 1] === undefined) n--;
  return new Column({ kind: 'call', name, args: args.slice(0, n).map((a) => toExpr(a)) });
}

// -- case and length ---------------------------------------------------------

export function upper<T extends Str>(c: ColumnLike<T>): Column<string | NullOf<T>> {
  return call('upper', c);
}
export function lower<T extends Str>(c: ColumnLike<T>): Column<string | NullOf<T>> {
  return call('lower', c);
}
/** Capitalises the first letter of each space-separated word, lower-cases the rest. */
export function initcap<T extends Str>(c: ColumnLike<T>): Column<string | NullOf<T>> {
  return call('initcap', c);
}
/** Number of characters (code points) of a string, bytes of a binary. */
export function length<T extends string | Uint8Array | null>(c: ColumnLike<T>): Column<number | NullOf<T>> {
  return call('length', c);
}

// -- building and cutting ----------------------------------------------------

/** Concatenation; null when any argument is null. */
export function concat<T extends Str>(...cols: ColumnLike<T>[]): Column<string | NullOf<T>> {
  return call('concat', ...cols);
}
/** Concatenation with a separator, skipping nulls (array arguments are flattened). */
export function concatWs<S extends Str>(
  sep: ColumnLike<S>,
  ...cols: ColumnLike<string | readonly string[] | null>[]
): Column<string | NullOf<S>> {
  return call('concat_ws', sep, ...(cols as ColumnLike<unknown>[]));
}
/** Spark substring: `pos` is 1-based, negative counts from the end; `len` defaults to the rest. */
export function substring<T extends Str, P extends Num = number, L extends Num = number>(
  c: ColumnLike<T>,
  pos: ColumnLike<P>,
  len?: ColumnLike<L>,
): Column<string | NullOf<T> | NullOf<P> | NullOf<L>> {
  return call('substring', c, pos, len);
}
export function left<T extends Str, N extends Num = number>(
  c: ColumnLike<T>,
  n: ColumnLike<N>,
): Column<string | NullOf<T> | NullOf<N>> {
  return call('left', c, n);
}
export function right<T extends Str, N extends Num = number>(
  c: ColumnLike<T>,
  n: ColumnLike<N>,
): Column<string | NullOf<T> | NullOf<N>> {
  return call('right', c, n);
}
/** Removes leading and trailing spaces (or the characters of `chars`). */
export function trim<T extends Str, C extends Str = string>(
  c: ColumnLike<T>,
  chars?: ColumnLike<C>,
): Column<string | NullOf<T> | NullOf<C>> {
  return call('trim', c, chars);
}
export function ltrim<T extends Str, C extends Str = string>(
  c: ColumnLike<T>,
  chars?: ColumnLike<C>,
): Column<string | NullOf<T> | NullOf<C>> {
  return call('ltrim', c, chars);
}
export function rtrim<T extends Str, C extends Str = string>(
  c: ColumnLike<T>,
  chars?: ColumnLike<C>,
): Column<string | NullOf<T> | NullOf<C>> {
  return call('rtrim', c, chars);
}
/** Left-pads to `len` characters with `pad` (default ' '); longer strings are cut to `len`. */
export function lpad<T extends Str, N extends Num = number, P extends Str = string>(
  c: ColumnLike<T>,
  len: ColumnLike<N>,
  pad?: ColumnLike<P>,
): Column<string | NullOf<T> | NullOf<N> | NullOf<P>> {
  return call('lpad', c, len, pad);
}
export function rpad<T extends Str, N extends Num = number, P extends Str = string>(
  c: ColumnLike<T>,
  len: ColumnLike<N>,
  pad?: ColumnLike<P>,
): Column<string | NullOf<T> | NullOf<N> | NullOf<P>> {
  return call('rpad', c, len, pad);
}
/** Replaces every occurrence of `search` (plain text) by `replacement` (default ''). */
export function replace<T extends Str, S extends Str = string, R extends Str = string>(
  c: ColumnLike<T>,
  search: ColumnLike<S>,
  replacement?: ColumnLike<R>,
): Column<string | NullOf<T> | NullOf<S> | NullOf<R>> {
  return call('replace', c, search, replacement);
}
/** Replaces each character of `from` by the character at the same position of `to` (dropped if none). */
export function translate<T extends Str, F extends Str = string, U extends Str = string>(
  c: ColumnLike<T>,
  from: ColumnLike<F>,
  to: ColumnLike<U>,
): Column<string | NullOf<T> | NullOf<F> | NullOf<U>> {
  return call('translate', c, from, to);
}
export function reverse<T extends Str>(c: ColumnLike<T>): Column<string | NullOf<T>>;
export function reverse<T extends readonly unknown[] | null>(c: Column<T>): Column<T>;
export function reverse(c: ColumnLike<unknown>): Column<unknown> {
  return call('reverse', c);
}
export function repeat<T extends Str, N extends Num = number>(
  c: ColumnLike<T>,
  n: ColumnLike<N>,
): Column<string | NullOf<T> | NullOf<N>> {
  return call('repeat', c, n);
}
/** printf-style formatting (Java Formatter subset: %s %d %f %.2f %e %x %b %%, flags, width); null values print as "null". */
export function formatString<F extends Str>(
  format: ColumnLike<F>,
  ...args: ColumnLike<unknown>[]
): Column<string | NullOf<F>> {
  return call('format_string', format, ...args);
}

// -- searching ---------------------------------------------------------------

export function contains<T extends Str, U extends Str>(
  c: ColumnLike<T>,
  sub: ColumnLike<U>,
): Column<boolean | NullOf<T> | NullOf<U>> {
  return call('contains', c, sub);
}
export function startswith<T extends Str, U extends Str>(
  c: ColumnLike<T>,
  prefix: ColumnLike<U>,
): Column<boolean | NullOf<T> | NullOf<U>> {
  return call('startswith', c, prefix);
}
export function endswith<T extends Str, U extends Str>(
  c: ColumnLike<T>,
  suffix: ColumnLike<U>,
): Column<boolean | NullOf<T> | NullOf<U>> {
  return call('endswith', c, suffix);
}
/** 1-based position of the first `sub` in `c`, 0 when absent. */
export function instr<T extends Str, U extends Str>(
  c: ColumnLike<T>,
  sub: ColumnLike<U>,
): Column<number | NullOf<T> | NullOf<U>> {
  return call('instr', c, sub);
}
/** 1-based position of `sub` in `c` at or after `pos` (default 1), 0 when absent. Note the Spark argument order. */
export function locate<S extends Str, T extends Str>(
  sub: ColumnLike<S>,
  c: ColumnLike<T>,
  pos?: ColumnLike<Num>,
): Column<number | NullOf<S> | NullOf<T>> {
  return call('locate', sub, c, pos);
}
/** SQL LIKE: `%` matches any run of characters, `_` exactly one; `\` escapes. */
export function like<T extends Str, P extends Str>(
  c: ColumnLike<T>,
  pattern: ColumnLike<P>,
): Column<boolean | NullOf<T> | NullOf<P>> {
  return call('like', c, pattern);
}
/** Case-insensitive LIKE. */
export function ilike<T extends Str, P extends Str>(
  c: ColumnLike<T>,
  pattern: ColumnLike<P>,
): Column<boolean | NullOf<T> | NullOf<P>> {
  return call('ilike', c, pattern);
}

// -- regular expressions (Java syntax; a literal pattern is compiled once) ----

/** Whether the regex matches anywhere in the string. */
export function regexpLike<T extends Str, P extends Str>(
  c: ColumnLike<T>,
  pattern: ColumnLike<P>,
): Column<boolean | NullOf<T> | NullOf<P>> {
  return call('regexp_like', c, pattern);
}
export const rlike = regexpLike;
/** Group `idx` (default 1; 0 = whole match) of the first match; '' when there is no match. */
export function regexpExtract<T extends Str, P extends Str = string, I extends Num = number>(
  c: ColumnLike<T>,
  pattern: ColumnLike<P>,
  idx?: ColumnLike<I>,
): Column<string | NullOf<T> | NullOf<P> | NullOf<I>> {
  return call('regexp_extract', c, pattern, idx);
}
/** Group `idx` (default 1) of every match. */
export function regexpExtractAll<T extends Str, P extends Str = string, I extends Num = number>(
  c: ColumnLike<T>,
  pattern: ColumnLike<P>,
  idx?: ColumnLike<I>,
): Column<string[] | NullOf<T> | NullOf<P> | NullOf<I>> {
  return call('regexp_extract_all', c, pattern, idx);
}
/** Replaces every match; the replacement may use `$1` / `${name}` (Java syntax, `\$` for a dollar). */
export function regexpReplace<T extends Str, P extends Str = string, R extends Str = string>(
  c: ColumnLike<T>,
  pattern: ColumnLike<P>,
  replacement: ColumnLike<R>,
): Column<string | NullOf<T> | NullOf<P> | NullOf<R>> {
  return call('regexp_replace', c, pattern, replacement);
}
/** Splits around matches of the regex; `limit` > 0 caps the number of parts (the last holds the rest). */
export function split<T extends Str, P extends Str = string, N extends Num = number>(
  c: ColumnLike<T>,
  pattern: ColumnLike<P>,
  limit?: ColumnLike<N>,
): Column<string[] | NullOf<T> | NullOf<P> | NullOf<N>> {
  return call('split', c, pattern, limit);
}

// -- JSON --------------------------------------------------------------------

/** The value at a JSONPath (`$.a.b[0]`) of a JSON string, as a string; null when absent or invalid. */
export function getJsonObject(c: ColumnLike<unknown>, path: ColumnLike<Str>): Column<string | null> {
  return call('get_json_object', c, path);
}

// -- arrays ------------------------------------------------------------------

/** Element at a 1-based index (negative from the end); null when out of range. */
export function elementAt<E, N extends Num = number>(
  c: Column<readonly E[]> | Column<readonly E[] | null>,
  index: ColumnLike<N>,
): Column<E | null> {
  return call('element_at', c, index);
}
/** Number of elements; -1 for a null array (Spark). */
export function size(c: Column<readonly unknown[]> | Column<readonly unknown[] | null>): Column<number> {
  return call('size', c);
}
/** Whether the array holds the value (null when it does not but holds a null). */
export function arrayContains<E>(
  c: Column<readonly E[]> | Column<readonly E[] | null>,
  value: ColumnLike<E | null>,
): Column<boolean | null> {
  return call('array_contains', c, value);
}
