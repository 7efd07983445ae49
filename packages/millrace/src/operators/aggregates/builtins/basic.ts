/**
 * count, count_if, sum, avg, min, max, bool_and, bool_or (Spark semantics:
 * nulls are ignored except by count(*); sum/avg/min/max of only nulls are null).
 *
 * Buffers on the per-row path are numbers or one small object mutated in
 * place, so `update` allocates nothing.
 */
import { userError } from '../../../errors/index.ts';
import { BOOLEAN, DOUBLE, LONG, type DataType } from '../../../schema/index.ts';
import type { AggArgInfo, AggregateDef, AggregateFunction } from '../AggregateFunction.ts';
import {
  argType,
  canonicalString,
  comparatorFor,
  distinctOf,
  expectAggArg,
  expectOrderable,
  keyOf,
} from './common.ts';

// ---------------------------------------------------------------------------
// count

const countRows: AggregateFunction<number> = {
  init: () => 0,
  update: (n) => n + 1,
  merge: (a, b) => a + b,
  finish: (n) => n,
};
const countNonNull: AggregateFunction<number> = {
  init: () => 0,
  update: (n, x) => (x == null ? n : n + 1),
  merge: (a, b) => a + b,
  finish: (n) => n,
};
const countAllNonNull: AggregateFunction<number> = {
  init: () => 0,
  update: (n, ...xs) => {
    for (let i = 0; i < xs.length; i++) if (xs[i] == null) return n;
    return n + 1;
  },
  merge: (a, b) => a + b,
  finish: (n) => n,
};

// A Map (key → true) rather than a Set: msgpackr's default options keep Maps but turn Sets into arrays.
type KeySet = Map<unknown, true>;

const unionKeys = (a: KeySet, b: KeySet): KeySet => {
  for (const k of b.keys()) a.set(k, true);
  return a;
};

/** count(DISTINCT x, …): the keys of the distinct values; rows with any null argument are skipped. */
function countDistinct(arity: number): AggregateFunction<KeySet> {
  if (arity === 1) {
    return {
      init: () => new Map(),
      update: (s, x) => (x == null ? s : s.set(keyOf(x), true)),
      merge: unionKeys,
      finish: (s) => s.size,
    };
  }
  return {
    init: () => new Map(),
    update: (s, ...xs) => {
      let k = '';
      for (let i = 0; i < xs.length; i++) {
        if (xs[i] == null) return s;
        k += canonicalString(xs[i]) + ';';
      }
      return s.set(k, true);
    },
    merge: unionKeys,
    finish: (s) => s.size,
  };
}

function bindCount(fn: string, args: readonly AggArgInfo[], distinct: boolean): AggregateFunction<any> {
  if (distinct) {
    if (args.length === 0) {
      throw userError(
        'INVALID_ARGUMENT',
        `${fn}: DISTINCT needs at least one column, e.g. count(DISTINCT x)`,
      );
    }
    return countDistinct(args.length);
  }
  if (args.length === 0) return countRows;
  // A non-nullable argument (count(1), count(id)) counts rows.
  if (args.every((a) => !a.nullable && a.type.kind !== 'null')) return countRows;
  return args.length === 1 ? countNonNull : countAllNonNull;
}

/** count(*) (no arguments) counts rows; count(x, …) counts rows where every argument is non-null. */
export const count: AggregateDef = {
  name: 'count',
  minArgs: 0,
  maxArgs: Infinity,
  resultType: () => LONG,
  resultNullable: () => false,
  bind: (args, { distinct }) => bindCount('count', args, distinct),
};

/** count_distinct(x, …) = count(DISTINCT x, …) (PySpark's count_distinct). */
export const countDistinctDef: AggregateDef = {
  name: 'count_distinct',
  minArgs: 1,
  maxArgs: Infinity,
  resultType: () => LONG,
  resultNullable: () => false,
  bind: (args) => bindCount('count_distinct', args, true),
};

/** count_if(cond): the number of rows where cond is true. */
export const countIf: AggregateDef = {
  name: 'count_if',
  minArgs: 1,
  maxArgs: 1,
  resultType: (args) => (expectAggArg('count_if', args, 0, 'condition', 'boolean'), LONG),
  resultNullable: () => false,
  bind: (args, { distinct }) => {
    const f: AggregateFunction<number> = {
      init: () => 0,
      update: (n, x) => (x === true ? n + 1 : n),
      merge: (a, b) => a + b,
      finish: (n) => n,
    };
    return distinct ? distinctOf(f, args) : f;
  },
};

// ---------------------------------------------------------------------------
// sum, avg

/** Sum and count of the non-null values seen; mutated in place. */
export interface SumBuf {
  s: number;
  n: number;
}

const sumAvgUpdate = (b: SumBuf, x: unknown): SumBuf => {
  if (x != null) {
    b.s += x as number;
    b.n++;
  }
  return b;
};
const sumAvgMerge = (a: SumBuf, b: SumBuf): SumBuf => {
  a.s += b.s;
  a.n += b.n;
  return a;
};
const sumFn: AggregateFunction<SumBuf> = {
  init: () => ({ s: 0, n: 0 }),
  update: sumAvgUpdate,
  merge: sumAvgMerge,
  finish: (b) => (b.n === 0 ? null : b.s),
};
const avgFn: AggregateFunction<SumBuf> = {
  init: () => ({ s: 0, n: 0 }),
  update: sumAvgUpdate,
  merge: sumAvgMerge,
  finish: (b) => (b.n === 0 ? null : b.s / b.n),
};

function sumType(fn: string, args: readonly AggArgInfo[]): DataType {
  expectAggArg(fn, args, 0, 'value', 'numeric');
  return argType(args, 0).kind === 'long' ? LONG : DOUBLE;
}

const nullableArg0 = (args: readonly AggArgInfo[]): boolean => {
  const a = args[0];
  return !a || a.nullable || a.type.kind === 'null';
};

/**
 * sum(x): long for long input, double for double input; null when there is no
 * non-null value. Long sums are exact up to 2^53 (JS numbers); Spark's long
 * wraps at 2^63 instead.
 */
export const sum: AggregateDef = {
  name: 'sum',
  minArgs: 1,
  maxArgs: 1,
  resultType: (args) => sumType('sum', args),
  resultNullable: nullableArg0,
  bind: (args, { distinct }) => (distinct ? distinctOf(sumFn, args) : sumFn),
};

/** sum_distinct(x) = sum(DISTINCT x). */
export const sumDistinct: AggregateDef = {
  name: 'sum_distinct',
  minArgs: 1,
  maxArgs: 1,
  resultType: (args) => sumType('sum_distinct', args),
  resultNullable: nullableArg0,
  bind: (args) => distinctOf(sumFn, args),
};

function avgDef(name: string): AggregateDef {
  return {
    name,
    minArgs: 1,
    maxArgs: 1,
    resultType: (args) => (expectAggArg(name, args, 0, 'value', 'numeric'), DOUBLE),
    resultNullable: nullableArg0,
    bind: (args, { distinct }) => (distinct ? distinctOf(avgFn, args) : avgFn),
  };
}

/** avg(x): a double, the mean of the non-null values (summed as doubles, as Spark does). */
export const avg: AggregateDef = avgDef('avg');
/** mean: Spark's alias of avg. */
export const mean: AggregateDef = avgDef('mean');

// ---------------------------------------------------------------------------
// min, max

/** The extremum so far; `has` is false until the first non-null value. Mutated in place. */
export interface ExtremumBuf {
  has: boolean;
  v: unknown;
}

const extremumMerge =
  (update: (b: ExtremumBuf, x: unknown) => ExtremumBuf) =>
  (a: ExtremumBuf, b: ExtremumBuf): ExtremumBuf =>
    b.has ? update(a, b.v) : a;

/**
 * For numbers, strings, booleans, timestamps and dates: JS comparison, with
 * Spark's NaN ordering (NaN is larger than every other double).
 */
function primitiveExtremum(isMax: boolean): AggregateFunction<ExtremumBuf> {
  const update = isMax
    ? (b: ExtremumBuf, x: any): ExtremumBuf => {
        if (x == null) return b;
        const v = b.v as any;
        if (!b.has) {
          b.has = true;
          b.v = x;
        } else if (x !== x ? v === v : x > v) b.v = x;
        return b;
      }
    : (b: ExtremumBuf, x: any): ExtremumBuf => {
        if (x == null) return b;
        const v = b.v as any;
        if (!b.has) {
          b.has = true;
          b.v = x;
        } else if (v !== v ? x === x : x < v) b.v = x;
        return b;
      };
  return {
    init: () => ({ has: false, v: 0 }),
    update,
    merge: extremumMerge(update),
    finish: (b) => (b.has ? b.v : null),
  };
}

/** For binary, arrays and structs: a comparator. */
function comparedExtremum(isMax: boolean, type: DataType): AggregateFunction<ExtremumBuf> {
  const cmp = comparatorFor(type);
  const sign = isMax ? 1 : -1;
  const update = (b: ExtremumBuf, x: unknown): ExtremumBuf => {
    if (x == null) return b;
    if (!b.has) {
      b.has = true;
      b.v = x;
    } else if (sign * cmp(x, b.v) > 0) b.v = x;
    return b;
  };
  return {
    init: () => ({ has: false, v: null }),
    update,
    merge: extremumMerge(update),
    finish: (b) => (b.has ? b.v : null),
  };
}

const PRIMITIVE_ORDERED = new Set(['long', 'double', 'timestamp', 'date', 'string', 'boolean', 'null']);

export function extremumFunction(isMax: boolean, type: DataType): AggregateFunction<ExtremumBuf> {
  return PRIMITIVE_ORDERED.has(type.kind) ? primitiveExtremum(isMax) : comparedExtremum(isMax, type);
}

function extremumDef(name: 'min' | 'max'): AggregateDef {
  return {
    name,
    minArgs: 1,
    maxArgs: 1,
    resultType: (args) => (expectOrderable(name, args, 0, 'value'), argType(args, 0)),
    resultNullable: nullableArg0,
    // DISTINCT does not change a min or max.
    bind: (args) => extremumFunction(name === 'max', argType(args, 0)),
  };
}

/** min(x), max(x): numbers, strings, booleans, timestamps, dates, binary, arrays and structs of those. */
export const min: AggregateDef = extremumDef('min');
export const max: AggregateDef = extremumDef('max');

// ---------------------------------------------------------------------------
// bool_and, bool_or. Buffer: 2 = no value yet, else 0/1.

function boolDef(name: string, isAnd: boolean): AggregateDef {
  const f: AggregateFunction<number> = isAnd
    ? {
        init: () => 2,
        update: (b, x) => (x == null ? b : b === 2 ? (x ? 1 : 0) : x ? b : 0),
        merge: (a, b) => (a === 2 ? b : b === 2 ? a : a & b),
        finish: (b) => (b === 2 ? null : b === 1),
      }
    : {
        init: () => 2,
        update: (b, x) => (x == null ? b : b === 2 ? (x ? 1 : 0) : x ? 1 : b),
        merge: (a, b) => (a === 2 ? b : b === 2 ? a : a | b),
        finish: (b) => (b === 2 ? null : b === 1),
      };
  return {
    name,
    minArgs: 1,
    maxArgs: 1,
    resultType: (args) => (expectAggArg(name, args, 0, 'value', 'boolean'), BOOLEAN),
    resultNullable: nullableArg0,
    bind: () => f,
  };
}

/** bool_and(x) (alias every): true when every non-null value is true. */
export const boolAnd: AggregateDef = boolDef('bool_and', true);
export const every: AggregateDef = boolDef('every', true);
/** bool_or(x) (aliases some, any): true when some non-null value is true. */
export const boolOr: AggregateDef = boolDef('bool_or', false);
export const some: AggregateDef = boolDef('some', false);
export const anyDef: AggregateDef = boolDef('any', false);

export const basicAggregates: readonly AggregateDef[] = [
  count,
  countDistinctDef,
  countIf,
  sum,
  sumDistinct,
  avg,
  mean,
  min,
  max,
  boolAnd,
  every,
  boolOr,
  some,
  anyDef,
];
