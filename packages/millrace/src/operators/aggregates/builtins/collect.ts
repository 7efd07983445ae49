/**
 * Order- and value-keeping aggregates: first, last, any_value, collect_list,
 * collect_set, max_by, min_by.
 *
 * "First" and "last" follow arrival order within a partition; `merge(a, b)`
 * treats `a` as the earlier part (as session-window merges do).
 */
import { userError } from '../../../errors/index.ts';
import type { DataType } from '../../../schema/index.ts';
import type { AggArgInfo, AggregateDef, AggregateFunction } from '../AggregateFunction.ts';
import {
  argType,
  comparatorFor,
  distinctOf,
  expectAggArg,
  expectOrderable,
  keyOf,
  literalOf,
} from './common.ts';

// ---------------------------------------------------------------------------
// first, last, any_value

/** The chosen value; `has` is false until one is chosen. Mutated in place. */
export interface PickBuf {
  has: boolean;
  v: unknown;
}

function ignoreNullsArg(fn: string, args: readonly AggArgInfo[]): boolean {
  if (args.length < 2) return false;
  expectAggArg(fn, args, 1, 'ignoreNulls', 'boolean');
  const v = literalOf(fn, args, 1, 'ignoreNulls');
  if (typeof v !== 'boolean') {
    throw userError(
      'INVALID_ARGUMENT_TYPE',
      `${fn}: argument 2 (ignoreNulls) must be true or false, got ${String(v)}`,
    );
  }
  return v;
}

function pickFunction(isFirst: boolean, ignoreNulls: boolean): AggregateFunction<PickBuf> {
  const init = (): PickBuf => ({ has: false, v: null });
  const finish = (b: PickBuf): unknown => b.v;
  if (isFirst) {
    return {
      init,
      update: ignoreNulls
        ? (b, x) => {
            if (!b.has && x != null) {
              b.has = true;
              b.v = x;
            }
            return b;
          }
        : (b, x) => {
            if (!b.has) {
              b.has = true;
              b.v = x ?? null;
            }
            return b;
          },
      merge: (a, b) => (a.has ? a : b),
      finish,
    };
  }
  return {
    init,
    update: ignoreNulls
      ? (b, x) => {
          if (x != null) {
            b.has = true;
            b.v = x;
          }
          return b;
        }
      : (b, x) => {
          b.has = true;
          b.v = x ?? null;
          return b;
        },
    merge: (a, b) => (b.has ? b : a),
    finish,
  };
}

function pickDef(name: string, isFirst: boolean): AggregateDef {
  return {
    name,
    minArgs: 1,
    maxArgs: 2,
    resultType: (args) => (ignoreNullsArg(name, args), argType(args, 0)),
    resultNullable: (args) => !args[0] || args[0].nullable || args[0].type.kind === 'null',
    bind: (args, { distinct }) => {
      const f = pickFunction(isFirst, ignoreNullsArg(name, args));
      return distinct ? distinctOf(f, args) : f;
    },
  };
}

/** first(x, ignoreNulls = false): the value of the first row (the first non-null value with ignoreNulls). */
export const first: AggregateDef = pickDef('first', true);
/** last(x, ignoreNulls = false): the value of the last row (the last non-null value with ignoreNulls). */
export const last: AggregateDef = pickDef('last', false);
export const firstValue: AggregateDef = pickDef('first_value', true);
export const lastValue: AggregateDef = pickDef('last_value', false);
/** any_value(x, ignoreNulls = false): some value of the group (here: the first). */
export const anyValue: AggregateDef = pickDef('any_value', true);

// ---------------------------------------------------------------------------
// collect_list, collect_set

const collectListFn: AggregateFunction<unknown[]> = {
  init: () => [],
  update: (b, x) => {
    if (x != null) b.push(x);
    return b;
  },
  merge: (a, b) => {
    for (let i = 0; i < b.length; i++) a.push(b[i]);
    return a;
  },
  // A copy: the buffer keeps growing after an update-mode emit.
  finish: (b) => b.slice(),
};

/** Canonical value key → first occurrence; insertion-ordered. */
const collectSetFn: AggregateFunction<Map<unknown, unknown>> = {
  init: () => new Map(),
  update: (b, x) => {
    if (x != null) {
      const k = keyOf(x);
      if (!b.has(k)) b.set(k, x);
    }
    return b;
  },
  merge: (a, b) => {
    for (const [k, v] of b) if (!a.has(k)) a.set(k, v);
    return a;
  },
  finish: (b) => Array.from(b.values()),
};

function arrayOf(t: DataType): DataType {
  return { kind: 'array', element: t, containsNull: false };
}

function collectListDef(name: string): AggregateDef {
  return {
    name,
    minArgs: 1,
    maxArgs: 1,
    resultType: (args) => arrayOf(argType(args, 0)),
    resultNullable: () => false,
    // collect_list(DISTINCT x) is collect_set(x).
    bind: (_args, { distinct }) => (distinct ? collectSetFn : collectListFn),
  };
}

/** collect_list(x) (alias array_agg): the non-null values in arrival order. */
export const collectList: AggregateDef = collectListDef('collect_list');
export const arrayAgg: AggregateDef = collectListDef('array_agg');

/** collect_set(x): the distinct non-null values (by content: NaN = NaN, structs and arrays by value), first-seen order. */
export const collectSet: AggregateDef = {
  name: 'collect_set',
  minArgs: 1,
  maxArgs: 1,
  resultType: (args) => arrayOf(argType(args, 0)),
  resultNullable: () => false,
  bind: () => collectSetFn,
};

// ---------------------------------------------------------------------------
// max_by, min_by

/** The value `x` at the extremum `y` so far. Mutated in place. */
export interface ByBuf {
  has: boolean;
  x: unknown;
  y: unknown;
}

const NUMERIC_LIKE = new Set(['long', 'double', 'timestamp', 'date', 'string', 'boolean', 'null']);

function byFunction(isMax: boolean, yType: DataType): AggregateFunction<ByBuf> {
  // Strictly better only: on ties the earlier row wins (as Spark).
  let better: (y: any, best: any) => boolean;
  if (NUMERIC_LIKE.has(yType.kind)) {
    better = isMax
      ? (y, best) => (y !== y ? best === best : y > best)
      : (y, best) => (best !== best ? y === y : y < best);
  } else {
    const cmp = comparatorFor(yType);
    better = isMax ? (y, best) => cmp(y, best) > 0 : (y, best) => cmp(y, best) < 0;
  }
  const offer = (b: ByBuf, x: unknown, y: unknown): ByBuf => {
    if (y == null) return b;
    if (!b.has) {
      b.has = true;
      b.x = x ?? null;
      b.y = y;
    } else if (better(y, b.y)) {
      b.x = x ?? null;
      b.y = y;
    }
    return b;
  };
  return {
    init: () => ({ has: false, x: null, y: null }),
    update: offer,
    merge: (a, b) => (b.has ? offer(a, b.x, b.y) : a),
    finish: (b) => b.x,
  };
}

function byDef(name: 'max_by' | 'min_by'): AggregateDef {
  return {
    name,
    minArgs: 2,
    maxArgs: 2,
    resultType: (args) => (expectOrderable(name, args, 1, 'ordering'), argType(args, 0)),
    resultNullable: (args) => args.length < 2 || args.some((a) => a.nullable || a.type.kind === 'null'),
    bind: (args, { distinct }) => {
      const f = byFunction(name === 'max_by', argType(args, 1));
      return distinct ? distinctOf(f, args) : f;
    },
  };
}

/** max_by(x, y): the x of the row with the largest y (rows with null y are skipped; ties: first seen). */
export const maxBy: AggregateDef = byDef('max_by');
/** min_by(x, y): the x of the row with the smallest y. */
export const minBy: AggregateDef = byDef('min_by');

export const collectAggregates: readonly AggregateDef[] = [
  first,
  firstValue,
  last,
  lastValue,
  anyValue,
  collectList,
  arrayAgg,
  collectSet,
  maxBy,
  minBy,
];
