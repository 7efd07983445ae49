/** The typed API: wrappers build the right AggExpr; udaf() validates its spec and makes a working AggregateDef. */
import { describe, expect, it } from 'vitest';
import { AggColumn } from '../../src/api/AggColumn.ts';
import {
  approxCountDistinct,
  avg,
  boolAnd,
  boolOr,
  collectList,
  collectSet,
  count,
  countDistinct,
  countIf,
  first,
  last,
  max,
  maxBy,
  mean,
  min,
  minBy,
  percentileApprox,
  stddev,
  stddevPop,
  stddevSamp,
  sum,
  sumDistinct,
  udaf,
  varPop,
  varSamp,
  variance,
  anyValue,
} from '../../src/api/functions/aggregates.ts';
import { udafDef } from '../../src/operators/aggregates/builtins/udaf.ts';
import { col } from '../../src/api/functions/core.ts';
import { MillraceError } from '../../src/errors/index.ts';
import { lookupAggregate } from '../../src/operators/aggregates/registry.ts';
import { t } from '../../src/schema/index.ts';
import { DOUBLE, LONG, STRING, bind, col as argCol, roundTrip, run, runSplit, prng } from './helpers.ts';

const x = col<number | null>('x');
const s = col<string>('s');
const ref = (name: string) => ({ kind: 'col', name });

describe('wrappers build AggExprs with Spark names', () => {
  it.each([
    ['count()', count(), 'count', [], false],
    ["count('*')", count('*'), 'count', [], false],
    ['count(x)', count(x), 'count', [ref('x')], false],
    ['countDistinct(x, s)', countDistinct(x, s), 'count', [ref('x'), ref('s')], true],
    ['countIf', countIf(col<boolean>('b')), 'count_if', [ref('b')], false],
    ['sum', sum(x), 'sum', [ref('x')], false],
    ['sumDistinct', sumDistinct(x), 'sum', [ref('x')], true],
    ['avg', avg(x), 'avg', [ref('x')], false],
    ['mean', mean(x), 'avg', [ref('x')], false],
    ['min', min(s), 'min', [ref('s')], false],
    ['max', max(x), 'max', [ref('x')], false],
    ['maxBy', maxBy(s, x), 'max_by', [ref('s'), ref('x')], false],
    ['minBy', minBy(s, x), 'min_by', [ref('s'), ref('x')], false],
    ['first', first(x), 'first', [ref('x')], false],
    [
      'first(x, true)',
      first(x, true),
      'first',
      [ref('x'), { kind: 'lit', value: true, type: { kind: 'boolean' } }],
      false,
    ],
    [
      'last',
      last(x, false),
      'last',
      [ref('x'), { kind: 'lit', value: false, type: { kind: 'boolean' } }],
      false,
    ],
    ['anyValue', anyValue(x), 'any_value', [ref('x')], false],
    ['collectList', collectList(s), 'collect_list', [ref('s')], false],
    ['collectSet', collectSet(s), 'collect_set', [ref('s')], false],
    ['stddev', stddev(x), 'stddev', [ref('x')], false],
    ['stddevSamp', stddevSamp(x), 'stddev_samp', [ref('x')], false],
    ['stddevPop', stddevPop(x), 'stddev_pop', [ref('x')], false],
    ['variance', variance(x), 'variance', [ref('x')], false],
    ['varSamp', varSamp(x), 'var_samp', [ref('x')], false],
    ['varPop', varPop(x), 'var_pop', [ref('x')], false],
    ['boolAnd', boolAnd(col<boolean>('b')), 'bool_and', [ref('b')], false],
    ['boolOr', boolOr(col<boolean>('b')), 'bool_or', [ref('b')], false],
    ['approxCountDistinct', approxCountDistinct(s), 'approx_count_distinct', [ref('s')], false],
    [
      'approxCountDistinct(s, 0.01)',
      approxCountDistinct(s, 0.01),
      'approx_count_distinct',
      [ref('s'), { kind: 'lit', value: 0.01, type: DOUBLE }],
      false,
    ],
  ] as const)('%s', (_title, a, name, args, distinct) => {
    expect(a).toBeInstanceOf(AggColumn);
    expect(a.agg).toEqual({ kind: 'agg', name, args, distinct });
    expect(() => lookupAggregate(a.agg.name)).not.toThrow();
  });

  it('percentileApprox: a double literal, or an array<double> literal, and a long accuracy', () => {
    expect(percentileApprox(x, 0.5).agg.args).toEqual([ref('x'), { kind: 'lit', value: 0.5, type: DOUBLE }]);
    expect(percentileApprox(x, [0.25, 0.75], 100).agg).toEqual({
      kind: 'agg',
      name: 'percentile_approx',
      args: [
        ref('x'),
        { kind: 'lit', value: [0.25, 0.75], type: { kind: 'array', element: DOUBLE, containsNull: false } },
        { kind: 'lit', value: 100, type: LONG },
      ],
      distinct: false,
    });
  });

  it('filter() keeps working on wrapper results', () => {
    const a = sum(x).filter(col<boolean>('ok'));
    expect(a.agg.filter).toEqual(ref('ok'));
  });

  it('clear errors for bad arguments', () => {
    expect(() => sum('price' as never)).toThrow(
      'sum: the column must be a Column, got "price"; for a column by name use col("price")',
    );
    expect(() => count(3 as never)).toThrow(/count: the column must be a Column, got number 3/);
    expect(() => countDistinct(x, 'y' as never)).toThrow(/countDistinct: .*col\("y"\)/);
    expect(() => percentileApprox(x, 1.5)).toThrow(
      /percentileApprox: a percentage must be a number between 0 and 1, got number 1.5/,
    );
    expect(() => percentileApprox(x, [])).toThrow(/at least one percentage/);
    expect(() => percentileApprox(x, 0.5, 0)).toThrow(/accuracy must be a positive integer/);
    expect(() => percentileApprox(x, 0.5, 1.5)).toThrow(/accuracy must be a positive integer/);
    expect(() => approxCountDistinct(x, 0.5)).toThrow(
      /approxCountDistinct: rsd must be a number in \(0, 0.39\]/,
    );
    expect(() => first(x, 'yes' as never)).toThrow(/first: ignoreNulls must be true or false/);
    expect(() => maxBy(s, 'x' as never)).toThrow(/maxBy: the ordering must be a Column/);
  });
});

// -- udaf ------------------------------------------------------------------------

interface GeoBuf {
  logSum: number;
  n: number;
}
const geoMeanSpec = {
  resultType: t.double.orNull(),
  init: (): GeoBuf => ({ logSum: 0, n: 0 }),
  update: (b: GeoBuf, v: number | null): GeoBuf => {
    if (v !== null && v > 0) {
      b.logSum += Math.log(v);
      b.n++;
    }
    return b;
  },
  merge: (a: GeoBuf, b: GeoBuf): GeoBuf => ({ logSum: a.logSum + b.logSum, n: a.n + b.n }),
  finish: (b: GeoBuf): number | null => (b.n === 0 ? null : Math.exp(b.logSum / b.n)),
};

describe('udaf', () => {
  it('makes an AggColumn carrying its definition', () => {
    const geoMean = udaf('geo_mean', geoMeanSpec);
    const a = geoMean(x);
    expect(a).toBeInstanceOf(AggColumn);
    expect(a.agg.name).toBe('geo_mean');
    expect(a.agg.args).toEqual([ref('x')]);
    expect(a.agg.distinct).toBe(false);
    const def = a.agg.def!;
    expect(def.name).toBe('geo_mean');
    expect(def.resultType([argCol(DOUBLE)])).toEqual(DOUBLE);
    expect(def.resultNullable([argCol(DOUBLE)])).toBe(true);
  });

  it('the bound function aggregates, merges and survives the state store', () => {
    const fn = udaf('geo_mean', geoMeanSpec)(x).agg.def!.bind([argCol(DOUBLE)], { distinct: false });
    const rows = [[1], [null], [4], [16], [-3]];
    expect(run(fn, rows)).toBeCloseTo(4, 12);
    expect(run(fn, rows, { roundTrip: true })).toBeCloseTo(4, 12);
    expect(runSplit(fn, rows, prng(1), { roundTrip: true })).toBeCloseTo(4, 12);
    expect(run(fn, [[null]])).toBeNull();
  });

  it('validates the spec with clear errors', () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(MillraceError);
        return (e as Error).message;
      }
      throw new Error('expected an error');
    };
    expect(err(() => udaf('', geoMeanSpec))).toMatch(/udaf\(\): give the aggregate a name/);
    expect(err(() => udaf('g', null as never))).toMatch(
      /udaf "g": give \{ resultType, init, update, merge, finish \}/,
    );
    expect(err(() => udaf('g', { ...geoMeanSpec, resultType: undefined as never }))).toMatch(
      /udaf "g": resultType must be a type from t, e.g. t.double/,
    );
    expect(err(() => udaf('g', { ...geoMeanSpec, resultType: DOUBLE as never }))).toMatch(/got a DataType/);
    expect(err(() => udaf('g', { ...geoMeanSpec, merge: undefined as never }))).toBe(
      'udaf "g": merge must be a function (merge(a, b) combines two partial buffers), got undefined',
    );
    expect(err(() => udaf('g', { ...geoMeanSpec, finish: 'x' as never }))).toMatch(
      /finish must be a function/,
    );
    expect(err(() => udaf('g', { ...geoMeanSpec, reduce: () => 0 } as never))).toMatch(
      /unknown option\(s\) "reduce"/,
    );
    expect(err(() => (udaf('g', geoMeanSpec) as (...a: unknown[]) => unknown)())).toMatch(
      /update takes 1 argument\(s\) after the buffer, but was called with 0/,
    );
  });

  it('a buffer that is not plain data is refused at bind, naming the class and the path', () => {
    class Acc {
      n = 0;
    }
    const def = udafDef('bad', { ...geoMeanSpec, init: () => ({ inner: new Acc() }) } as never);
    expect(() => def.bind([argCol(DOUBLE)], { distinct: false })).toThrow(
      /udaf "bad": init\(\) returned a Acc instance at buffer.inner; buffers are kept in the state store/,
    );
    const fnBuf = udafDef('bad2', { ...geoMeanSpec, init: () => [() => 1] } as never);
    expect(() => fnBuf.bind([], { distinct: false })).toThrow(/returned a function at buffer\[0\]/);
    const ok = udafDef('ok', {
      ...geoMeanSpec,
      init: () => ({
        m: new Map([['a', [1]]]),
        s: new Set([1]),
        b: new Uint8Array(2),
        o: Object.create(null),
      }),
    } as never);
    expect(() => ok.bind([], { distinct: false })).not.toThrow();
  });

  it('finish returning null for a non-nullable result type is an error', () => {
    const def = udafDef('cnt', {
      resultType: t.long,
      init: () => 0,
      update: (n: unknown) => (n as number) + 1,
      merge: (a: unknown, b: unknown) => (a as number) + (b as number),
      finish: () => null,
    });
    const fn = def.bind([], { distinct: false });
    expect(() => fn.finish(fn.init())).toThrow(
      /udaf "cnt": finish returned null but resultType is not nullable/,
    );
  });

  it('DISTINCT is refused for user aggregates', () => {
    const def = udafDef('g', geoMeanSpec as never);
    expect(() => def.bind([argCol(DOUBLE)], { distinct: true })).toThrow(/DISTINCT is not supported/);
  });
});

describe('built-in buffers are plain data (checked like a udaf buffer)', async () => {
  const { checkPlainData } = await import('../../src/operators/aggregates/builtins/udaf.ts');
  it.each([
    ['count', [argCol(LONG)]],
    ['sum', [argCol(DOUBLE)]],
    ['min', [argCol(STRING)]],
    ['collect_set', [argCol(STRING)]],
    ['approx_count_distinct', [argCol(STRING)]],
    ['stddev', [argCol(DOUBLE)]],
  ] as const)('%s', (name, args) => {
    const fn = bind(name, [...args]);
    let b = fn.init();
    for (const v of name === 'collect_set' || name === 'min' || name === 'approx_count_distinct'
      ? ['a', 'b']
      : [1, 2])
      b = fn.update(b, v);
    expect(() => checkPlainData(name, 'update', b)).not.toThrow();
    expect(roundTrip(b)).toEqual(b);
  });
});

describe("buffers survive msgpackr's default options too (no Sets; Maps and bytes only)", async () => {
  const { Packr } = await import('msgpackr');
  const plain = new Packr();
  const rt = <T>(v: T): T => plain.unpack(plain.pack(v)) as T;
  it.each([
    ['count', true, [argCol(LONG)]],
    ['count', true, [argCol(LONG), argCol(STRING)]],
    ['collect_set', false, [argCol(STRING)]],
    ['sum', true, [argCol(LONG)]],
    ['approx_count_distinct', false, [argCol(LONG)]],
  ] as const)('%s (distinct: %s)', (name, distinct, args) => {
    const fn = bind(name, [...args], distinct);
    const rows = Array.from({ length: 3000 }, (_, i) => [i % 700, `s${i % 3}`]);
    const want = run(fn, rows);
    let b = fn.init();
    for (const r of rows) b = rt(fn.update(b, ...r));
    expect(fn.finish(b)).toEqual(want);
  });
});
