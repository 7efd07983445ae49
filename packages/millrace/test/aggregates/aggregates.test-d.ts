/** Static result types of the aggregate wrappers. */
import { describe, expectTypeOf, it } from 'vitest';
import type { AggColumn } from '../../src/api/AggColumn.ts';
import {
  approxCountDistinct,
  avg,
  collectList,
  collectSet,
  count,
  countDistinct,
  first,
  max,
  maxBy,
  min,
  percentileApprox,
  stddev,
  stddevPop,
  sum,
  udaf,
} from '../../src/api/functions/aggregates.ts';
import { col } from '../../src/api/functions/core.ts';
import { t } from '../../src/schema/index.ts';

const n = col<number | null>('n');
const num = col<number>('num');
const s = col<string | null>('s');
const str = col<string>('str');
const st = col<{ a: number; b: string } | null>('st');

describe('aggregate wrappers', () => {
  it('counts are numbers', () => {
    expectTypeOf(count()).toEqualTypeOf<AggColumn<number>>();
    expectTypeOf(count(s)).toEqualTypeOf<AggColumn<number>>();
    expectTypeOf(countDistinct(s, n)).toEqualTypeOf<AggColumn<number>>();
    expectTypeOf(approxCountDistinct(str, 0.01)).toEqualTypeOf<AggColumn<number>>();
  });

  it('sum/avg keep nullability; sample statistics are always nullable', () => {
    expectTypeOf(sum(n)).toEqualTypeOf<AggColumn<number | null>>();
    expectTypeOf(sum(num)).toEqualTypeOf<AggColumn<number>>();
    expectTypeOf(avg(num)).toEqualTypeOf<AggColumn<number>>();
    expectTypeOf(stddev(num)).toEqualTypeOf<AggColumn<number | null>>();
    expectTypeOf(stddevPop(num)).toEqualTypeOf<AggColumn<number>>();
  });

  it('min/max/first keep the value type', () => {
    expectTypeOf(min(str)).toEqualTypeOf<AggColumn<string>>();
    expectTypeOf(max(s)).toEqualTypeOf<AggColumn<string | null>>();
    expectTypeOf(first(st, true)).toEqualTypeOf<AggColumn<{ a: number; b: string } | null>>();
    expectTypeOf(maxBy(str, n)).toEqualTypeOf<AggColumn<string | null>>();
    expectTypeOf(maxBy(str, num)).toEqualTypeOf<AggColumn<string>>();
  });

  it('collections drop null elements', () => {
    expectTypeOf(collectList(s)).toEqualTypeOf<AggColumn<string[]>>();
    expectTypeOf(collectSet(st)).toEqualTypeOf<AggColumn<{ a: number; b: string }[]>>();
  });

  it('percentileApprox: a value, or an array for an array of percentages', () => {
    expectTypeOf(percentileApprox(num, 0.5)).toEqualTypeOf<AggColumn<number>>();
    expectTypeOf(percentileApprox(n, [0.5, 0.9], 100)).toEqualTypeOf<AggColumn<number[] | null>>();
  });

  it('wrong column types do not compile', () => {
    // @ts-expect-error: sum needs numbers
    sum(str);
    // @ts-expect-error: avg needs numbers
    avg(s);
    // @ts-expect-error: percentiles of strings
    percentileApprox(str, 0.5);
    // @ts-expect-error: a column name is not a Column
    count('price');
  });

  it('udaf infers the result and argument types', () => {
    const geo = udaf('geo', {
      resultType: t.double.orNull(),
      init: () => ({ s: 0, n: 0 }),
      update: (b, v: number | null) => (v === null ? b : { s: b.s + Math.log(v), n: b.n + 1 }),
      merge: (a, b) => ({ s: a.s + b.s, n: a.n + b.n }),
      finish: (b) => (b.n === 0 ? null : Math.exp(b.s / b.n)),
    });
    expectTypeOf(geo(n)).toEqualTypeOf<AggColumn<number | null>>();
    // @ts-expect-error: a string column for a number argument
    geo(str);
  });
});
