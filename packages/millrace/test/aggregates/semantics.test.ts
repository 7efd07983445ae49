/** Spark semantics of the built-in aggregates on hand-written examples: nulls, NaN, ties, order, empty groups. */
import { describe, expect, it } from 'vitest';
import {
  BINARY,
  BOOLEAN,
  DATE,
  DOUBLE,
  LONG,
  NULL_TYPE,
  STRING,
  TIMESTAMP,
  bind,
  col,
  litArg,
  roundTrip,
  run,
} from './helpers.ts';

const rows = (...xs: unknown[]): unknown[][] => xs.map((x) => [x]);
const L = col(LONG);
const D = col(DOUBLE);
const S = col(STRING);

describe('count', () => {
  it('count(*) counts rows, nulls included; count(x) skips nulls; count of nothing is 0', () => {
    expect(run(bind('count', []), rows(1, null, 3))).toBe(3);
    expect(run(bind('count', [L]), rows(1, null, 3))).toBe(2);
    expect(run(bind('count', [L]), [])).toBe(0);
    expect(run(bind('count', [col(NULL_TYPE)]), rows(null, null))).toBe(0);
  });

  it('count(x, y) counts rows where both are non-null; DISTINCT counts distinct tuples', () => {
    const data = [
      [1, 'a'],
      [1, 'a'],
      [1, null],
      [null, 'a'],
      [2, 'a'],
    ];
    expect(run(bind('count', [L, S]), data)).toBe(3);
    expect(run(bind('count', [L, S], true), data)).toBe(2);
  });

  it('DISTINCT: NaN equals NaN, -0 equals 0, structs and arrays by content', () => {
    expect(run(bind('count', [D], true), rows(NaN, NaN, 0, -0, 1.5, null))).toBe(3);
    const st = col({ kind: 'struct', fields: [{ name: 'a', type: LONG, nullable: true }] });
    expect(run(bind('count', [st], true), rows({ a: 1 }, { a: 1 }, { a: 2 }, { a: null }))).toBe(3);
    const ar = col({ kind: 'array', element: STRING, containsNull: true });
    expect(run(bind('count', [ar], true), rows(['a', 'b'], ['a', 'b'], ['ab'], ['a,b'], [], [null]))).toBe(5);
  });

  it('a string "1" and a string "d1" do not collide with numbers in tuple keys', () => {
    const data = [
      [1, 'x'],
      ['1', 'x'],
    ];
    expect(run(bind('count', [col(STRING), S], true), data)).toBe(2);
  });

  it('count(DISTINCT) without a column is an error', () => {
    expect(() => bind('count', [], true)).toThrow(/count: DISTINCT needs at least one column/);
  });

  it('count buffers are plain numbers', () => {
    const f = bind('count', [L]);
    expect(typeof f.init()).toBe('number');
  });
});

describe('sum and avg', () => {
  it('ignore nulls; null when there are only nulls', () => {
    expect(run(bind('sum', [L]), rows(1, null, 2))).toBe(3);
    expect(run(bind('sum', [L]), rows(null, null))).toBeNull();
    expect(run(bind('avg', [L]), rows(1, null, 2))).toBe(1.5);
    expect(run(bind('avg', [D]), rows(null))).toBeNull();
    expect(run(bind('sum', [col(NULL_TYPE)]), rows(null))).toBeNull();
  });

  it('a sum of zero is 0, not null', () => {
    expect(run(bind('sum', [L]), rows(2, -2))).toBe(0);
  });

  it('NaN and infinities propagate', () => {
    expect(run(bind('sum', [D]), rows(1, NaN))).toBeNaN();
    expect(run(bind('avg', [D]), rows(Infinity, 1))).toBe(Infinity);
    expect(run(bind('sum', [D]), rows(Infinity, -Infinity))).toBeNaN();
  });

  it('sum(DISTINCT) and avg(DISTINCT)', () => {
    expect(run(bind('sum', [L], true), rows(1, 1, 2, null, 2))).toBe(3);
    expect(run(bind('avg', [L], true), rows(1, 1, 1, 4))).toBe(2.5);
  });

  it('update mutates one small object (no allocation per row)', () => {
    const f = bind('sum', [D]);
    const b = f.init();
    expect(f.update(b, 1.5)).toBe(b);
    expect(f.update(b, null)).toBe(b);
  });
});

describe('min and max', () => {
  it('numbers, strings, booleans, timestamps, dates, binary', () => {
    expect(run(bind('min', [L]), rows(3, null, -1, 2))).toBe(-1);
    expect(run(bind('max', [L]), rows(3, null, -1, 2))).toBe(3);
    expect(run(bind('min', [S]), rows('b', 'a', 'ab', null))).toBe('a');
    expect(run(bind('max', [S]), rows('b', 'a', 'ab', null))).toBe('b');
    expect(run(bind('min', [col(BOOLEAN)]), rows(true, false, true))).toBe(false);
    expect(run(bind('max', [col(BOOLEAN)]), rows(false, null, false))).toBe(false);
    expect(run(bind('max', [col(TIMESTAMP)]), rows(1_700_000_000_000, 1_700_000_000_001))).toBe(
      1_700_000_000_001,
    );
    expect(run(bind('min', [col(DATE)]), rows(19000, 18000))).toBe(18000);
    expect(
      run(bind('max', [col(BINARY)]), rows(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 0), Uint8Array.of(0, 9))),
    ).toEqual(Uint8Array.of(1, 2, 0));
    expect(run(bind('min', [col(BINARY)]), rows(Uint8Array.of(200), Uint8Array.of(7, 7)))).toEqual(
      Uint8Array.of(7, 7),
    );
  });

  it('only nulls give null; a strings column whose min would be "" is not mistaken for empty', () => {
    expect(run(bind('min', [L]), rows(null, null))).toBeNull();
    expect(run(bind('max', [S]), rows(null))).toBeNull();
    expect(run(bind('min', [S]), rows('a', ''))).toBe('');
    expect(run(bind('max', [L]), rows(0))).toBe(0);
  });

  it("NaN is larger than any other double (Spark's ordering)", () => {
    expect(run(bind('max', [D]), rows(1, NaN, Infinity))).toBeNaN();
    expect(run(bind('min', [D]), rows(NaN, 1, Infinity))).toBe(1);
    expect(run(bind('min', [D]), rows(NaN, NaN))).toBeNaN();
    expect(run(bind('max', [D]), rows(-Infinity, 2))).toBe(2);
  });

  it('arrays and structs compare element by element, nulls first', () => {
    const at = col({ kind: 'array', element: LONG, containsNull: true });
    expect(run(bind('max', [at]), rows([1, 2], [1, 2, 0], [1]))).toEqual([1, 2, 0]);
    expect(run(bind('min', [at]), rows([1, 2], [null, 5], [0]))).toEqual([null, 5]);
    const st = col({
      kind: 'struct',
      fields: [
        { name: 'a', type: LONG, nullable: false },
        { name: 'b', type: STRING, nullable: true },
      ],
    });
    expect(run(bind('max', [st]), rows({ a: 1, b: 'z' }, { a: 2, b: null }, { a: 2, b: 'a' }))).toEqual({
      a: 2,
      b: 'a',
    });
  });
});

describe('statistics', () => {
  it('sample statistics of one value are null; population ones 0', () => {
    expect(run(bind('stddev_samp', [D]), rows(5))).toBeNull();
    expect(run(bind('var_samp', [D]), rows(5, null))).toBeNull();
    expect(run(bind('var_pop', [D]), rows(5))).toBe(0);
    expect(run(bind('stddev_pop', [D]), rows(null))).toBeNull();
  });

  it('known values', () => {
    const data = rows(2, 4, 4, 4, 5, 5, 7, 9);
    expect(run(bind('stddev_pop', [L]), data)).toBe(2);
    expect(run(bind('var_pop', [L]), data)).toBe(4);
    expect(run(bind('variance', [L]), data)).toBeCloseTo(32 / 7, 12);
    expect(run(bind('stddev', [L]), data)).toBeCloseTo(Math.sqrt(32 / 7), 12);
  });

  it('Welford stays accurate with a large offset (no catastrophic cancellation)', () => {
    const data = rows(1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16);
    expect(run(bind('var_samp', [D]), data)).toBeCloseTo(30, 6);
  });
});

describe('first, last, any_value', () => {
  it('without ignoreNulls a null first/last row counts', () => {
    expect(run(bind('first', [L]), rows(null, 1, 2))).toBeNull();
    expect(run(bind('last', [L]), rows(1, 2, null))).toBeNull();
  });

  it('with ignoreNulls the first/last non-null value', () => {
    expect(run(bind('first', [L, litArg(true)]), rows(null, 1, 2))).toBe(1);
    expect(run(bind('last', [L, litArg(true)]), rows(1, 2, null))).toBe(2);
    expect(run(bind('first', [L, litArg(false)]), rows(null, 1))).toBeNull();
    expect(run(bind('first_value', [L, litArg(true)]), rows(null, 1))).toBe(1);
    expect(run(bind('last_value', [L]), rows(1, 3))).toBe(3);
    expect(run(bind('any_value', [L, litArg(true)]), rows(null, 3))).toBe(3);
  });

  it('merge(a, b) takes a as the earlier part', () => {
    const f = bind('first', [S]);
    const l = bind('last', [S]);
    const a = f.update(f.init(), 'early');
    const b = f.update(f.init(), 'late');
    expect(f.finish(f.merge(a, b))).toBe('early');
    expect(l.finish(l.merge(l.update(l.init(), 'early'), l.update(l.init(), 'late')))).toBe('late');
    // An empty later part does not override.
    expect(l.finish(l.merge(l.update(l.init(), 'x'), l.init()))).toBe('x');
  });
});

describe('collect_list and collect_set', () => {
  it('skip nulls; keep order; collect_set dedups by value', () => {
    expect(run(bind('collect_list', [L]), rows(3, null, 1, 3))).toEqual([3, 1, 3]);
    expect(run(bind('collect_set', [L]), rows(3, null, 1, 3))).toEqual([3, 1]);
    expect(run(bind('collect_set', [D]), rows(NaN, NaN, 0, -0))).toEqual([NaN, 0]);
    expect(run(bind('collect_list', [L]), rows(null))).toEqual([]);
    expect(run(bind('array_agg', [L]), rows(1, 2))).toEqual([1, 2]);
  });

  it('collect_set of structs whose keys come in different orders', () => {
    const st = col({
      kind: 'struct',
      fields: [
        { name: 'a', type: LONG, nullable: false },
        { name: 'b', type: LONG, nullable: false },
      ],
    });
    expect(run(bind('collect_set', [st]), rows({ a: 1, b: 2 }, { b: 2, a: 1 }, { a: 2, b: 1 }))).toEqual([
      { a: 1, b: 2 },
      { a: 2, b: 1 },
    ]);
  });

  it('finish returns a copy: later updates do not change an emitted array', () => {
    const f = bind('collect_list', [L]);
    let b = f.update(f.init(), 1);
    const out = f.finish(b) as number[];
    b = f.update(b, 2);
    expect(out).toEqual([1]);
    expect(f.finish(b)).toEqual([1, 2]);
  });

  it('collect_set survives the state store as a Map', () => {
    const f = bind('collect_set', [S]);
    let b = f.init();
    for (const x of ['a', 'b', 'a']) b = roundTrip(f.update(b, x));
    expect(b).toBeInstanceOf(Map);
    expect(f.finish(b)).toEqual(['a', 'b']);
  });
});

describe('max_by and min_by', () => {
  const data = [
    ['a', 3],
    ['b', 5],
    ['c', null],
    ['d', 5],
    [null, 1],
  ];
  it('the value at the extremum; rows with a null ordering are skipped; ties keep the first', () => {
    expect(run(bind('max_by', [S, L]), data)).toBe('b');
    expect(run(bind('min_by', [S, L]), data)).toBeNull(); // x is null at the minimum y
    expect(run(bind('min_by', [S, L]), data.slice(0, 4))).toBe('a');
    expect(run(bind('max_by', [S, L]), [['x', null]])).toBeNull();
  });
  it('ties across a merge keep the earlier part', () => {
    const f = bind('max_by', [S, L]);
    expect(f.finish(f.merge(f.update(f.init(), 'early', 5), f.update(f.init(), 'late', 5)))).toBe('early');
  });
  it('NaN is the largest ordering', () => {
    expect(
      run(bind('max_by', [S, D]), [
        ['a', 1],
        ['nan', NaN],
        ['b', Infinity],
      ]),
    ).toBe('nan');
  });
});

describe('bool_and, bool_or, count_if', () => {
  it('ignore nulls', () => {
    expect(run(bind('bool_and', [col(BOOLEAN)]), rows(true, null, true))).toBe(true);
    expect(run(bind('bool_and', [col(BOOLEAN)]), rows(true, false))).toBe(false);
    expect(run(bind('bool_or', [col(BOOLEAN)]), rows(false, null))).toBe(false);
    expect(run(bind('some', [col(BOOLEAN)]), rows(false, true))).toBe(true);
    expect(run(bind('any', [col(BOOLEAN)]), rows(null))).toBeNull();
    expect(run(bind('count_if', [col(BOOLEAN)]), rows(true, null, false, true))).toBe(2);
  });
});

describe('percentile_approx on small data (exact)', () => {
  it("Spark's definition: the smallest value with at least p of the values ≤ it", () => {
    const f = bind('percentile_approx', [L, litArg(0.5)]);
    expect(run(f, rows(1, 2, 3, 4))).toBe(2);
    expect(run(f, rows(4, 3, 1, 2, 5))).toBe(3);
    expect(run(f, rows(null))).toBeNull();
    const g = bind('percentile_approx', [L, litArg([0, 0.25, 0.5, 0.75, 1]), litArg(100)]);
    expect(run(g, rows(10, 20, 30, 40, null, 50, 60, 70, 80, 90, 100))).toEqual([10, 30, 50, 80, 100]);
    expect(run(g, rows(null))).toBeNull();
  });

  it('returns input values of the input type (timestamps stay timestamps)', () => {
    const f = bind('approx_percentile', [col(TIMESTAMP), litArg(0.9)]);
    const ts = Array.from({ length: 100 }, (_, i) => 1_700_000_000_000 + i * 1000);
    expect(run(f, rows(...ts))).toBe(ts[89]);
  });

  it('NaN sorts last', () => {
    expect(run(bind('percentile_approx', [D, litArg(1)]), rows(1, NaN, 2))).toBeNaN();
    expect(run(bind('percentile_approx', [D, litArg(0.5)]), rows(NaN, 1, NaN, 2))).toBe(2);
  });
});
