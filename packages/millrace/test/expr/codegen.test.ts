/** Core expression semantics through compileExpr: arithmetic, logic, CASE, casts, nulls, analysis errors. */
import { describe, expect, it } from 'vitest';
import { Column } from '../../src/api/Column.ts';
import { callFunction, coalesce, col, lit, udf, when } from '../../src/api/functions/index.ts';
import { upper } from '../../src/api/functions/string.ts';
import { schema, t } from '../../src/schema/index.ts';
import { S, TS, compiled, ev, typeOf } from './helpers.ts';

const n = col<number | null>('n');
const n2 = col<number | null>('n2');
const long = col<number>('long');
const d = col<number | null>('d');
const b = col<boolean | null>('b');
const b2 = col<boolean | null>('b2');
const s = col<string | null>('s');

describe('arithmetic', () => {
  it('computes + - * / % on longs and doubles', () => {
    expect(ev(n.plus(n2), { n: 7, n2: 5 })).toBe(12);
    expect(ev(n.minus(n2), { n: 7, n2: 5 })).toBe(2);
    expect(ev(n.mul(n2), { n: 7, n2: 5 })).toBe(35);
    expect(ev(n.div(n2), { n: 7, n2: 2 })).toBe(3.5);
    expect(ev(n.mod(n2), { n: 7, n2: 5 })).toBe(2);
    expect(ev(n.mod(n2), { n: -7, n2: 5 })).toBe(-2); // Java/Spark: sign of the dividend
    expect(ev(d.mul(2), { d: 1.25 })).toBe(2.5);
    expect(ev(n.negate(), { n: 3 })).toBe(-3);
  });

  it('types long op long as long, anything with a double as double, / always double', () => {
    expect(typeOf(n.plus(n2)).type).toBe('long');
    expect(typeOf(long.mul(2)).type).toBe('long');
    expect(typeOf(n.plus(d)).type).toBe('double');
    expect(typeOf(long.mul(0.5)).type).toBe('double');
    expect(typeOf(long.div(2)).type).toBe('double');
    expect(typeOf(n.mod(n2)).type).toBe('long');
  });

  it('gives null for division and modulo by zero (non-ANSI Spark)', () => {
    expect(ev(n.div(n2), { n: 1, n2: 0 })).toBeNull();
    expect(ev(n.mod(n2), { n: 1, n2: 0 })).toBeNull();
    expect(ev(d.div(0), { d: 1.5 })).toBeNull();
    expect(ev(long.div(col<number>('long')), { long: 0 })).toBeNull();
    expect(typeOf(long.div(col<number>('long'))).nullable).toBe(true);
    expect(typeOf(long.div(2)).nullable).toBe(false);
  });

  it('propagates nulls', () => {
    expect(ev(n.plus(n2), { n: null, n2: 1 })).toBeNull();
    expect(ev(n.plus(n2), { n: 1, n2: null })).toBeNull();
    expect(ev(n.plus(lit(null)), { n: 1 })).toBeNull();
    expect(ev(n.negate(), { n: null })).toBeNull();
    expect(ev(n.mul(2).plus(1), {})).toBeNull();
  });
});

describe('comparisons', () => {
  it('compares numbers, strings, timestamps', () => {
    expect(ev(n.lt(n2), { n: 1, n2: 2 })).toBe(true);
    expect(ev(n.le(n2), { n: 2, n2: 2 })).toBe(true);
    expect(ev(n.gt(n2), { n: 1, n2: 2 })).toBe(false);
    expect(ev(n.ge(n2), { n: 3, n2: 2 })).toBe(true);
    expect(ev(n.eq(n2), { n: 2, n2: 2 })).toBe(true);
    expect(ev(n.neq(n2), { n: 2, n2: 2 })).toBe(false);
    expect(ev(n.eq(d), { n: 2, d: 2.0 })).toBe(true);
    expect(ev(s.lt('b'), { s: 'a' })).toBe(true);
    expect(ev(col<number | null>('ts').gt(col<number | null>('tsn')), { ts: 2, tsn: 1 })).toBe(true);
    expect(ev(n.between(1, 3), { n: 3 })).toBe(true);
    expect(ev(n.isin(1, 5, 9), { n: 5 })).toBe(true);
    expect(ev(n.isin(1, 5, 9), { n: 4 })).toBe(false);
  });

  it('gives null when a side is null, except null-safe <=>', () => {
    expect(ev(n.eq(n2), { n: null, n2: 1 })).toBeNull();
    expect(ev(n.lt(1), { n: null })).toBeNull();
    expect(ev(n.eqNullSafe(n2), { n: null, n2: null })).toBe(true);
    expect(ev(n.eqNullSafe(n2), { n: null, n2: 1 })).toBe(false);
    expect(ev(n.eqNullSafe(n2), { n: 1, n2: 1 })).toBe(true);
    expect(typeOf(n.eqNullSafe(n2)).nullable).toBe(false);
  });
});

describe('three-valued logic', () => {
  const T = true;
  const F = false;
  const N = null;
  // [left, right, AND, OR]
  const table: [boolean | null, boolean | null, boolean | null, boolean | null][] = [
    [T, T, T, T],
    [T, F, F, T],
    [T, N, N, T],
    [F, T, F, T],
    [F, F, F, F],
    [F, N, F, N],
    [N, T, N, T],
    [N, F, F, N],
    [N, N, N, N],
  ];
  it.each(table)('%s AND/OR %s = %s / %s', (l, r, and, or) => {
    expect(ev(b.and(b2), { b: l, b2: r })).toBe(and);
    expect(ev(b.or(b2), { b: l, b2: r })).toBe(or);
  });

  it('NOT', () => {
    expect(ev(b.not(), { b: true })).toBe(false);
    expect(ev(b.not(), { b: false })).toBe(true);
    expect(ev(b.not(), { b: null })).toBeNull();
  });

  it('short-circuits: the right side is not evaluated when the left decides', () => {
    let calls = 0;
    const probe = udf('probe', t.boolean.orNull(), (x: boolean | null) => (calls++, x));
    const and = compiled(b.and(probe(b2)));
    const or = compiled(b.or(probe(b2)));
    and({ b: false, b2: true });
    or({ b: true, b2: false });
    expect(calls).toBe(0);
    expect(and({ b: true, b2: false })).toBe(false);
    expect(or({ b: false, b2: true })).toBe(true);
    expect(and({ b: null, b2: false })).toBe(false);
    expect(or({ b: null, b2: true })).toBe(true);
    expect(calls).toBe(4);
  });
});

describe('isNull / isNotNull', () => {
  it('tests for null', () => {
    expect(ev(n.isNull(), { n: null })).toBe(true);
    expect(ev(n.isNull(), { n: 0 })).toBe(false);
    expect(ev(n.isNotNull(), { n: 0 })).toBe(true);
    expect(ev(n.isNotNull(), {})).toBe(false);
    expect(typeOf(n.isNull()).nullable).toBe(false);
  });

  it('is constant for non-nullable columns', () => {
    expect(ev(long.isNull(), { long: 1 })).toBe(false);
    expect(ev(long.isNotNull(), { long: 1 })).toBe(true);
  });
});

describe('CASE WHEN', () => {
  it('picks the first true branch, else otherwise', () => {
    const c = when(n.gt(10), lit('big')).when(n.gt(5), lit('mid')).otherwise('small');
    expect(ev(c, { n: 11 })).toBe('big');
    expect(ev(c, { n: 6 })).toBe('mid');
    expect(ev(c, { n: 1 })).toBe('small');
    expect(ev(c, { n: null })).toBe('small'); // a null condition is not true
    expect(typeOf(c)).toEqual({ type: 'string', nullable: false });
  });

  it('gives null without otherwise when nothing matches', () => {
    const c = when(n.gt(10), lit('big'));
    expect(ev(c, { n: 11 })).toBe('big');
    expect(ev(c, { n: 1 })).toBeNull();
    expect(typeOf(c).nullable).toBe(true);
  });

  it('evaluates only the chosen branch', () => {
    let calls = 0;
    const probe = udf('probe', t.long, (x: number) => (calls++, x));
    const f = compiled(when(b, probe(long)).otherwise(0));
    expect(f({ b: false, long: 3 })).toBe(0);
    expect(calls).toBe(0);
    expect(f({ b: true, long: 3 })).toBe(3);
    expect(calls).toBe(1);
  });

  it('widens long and double branches to double', () => {
    expect(typeOf(when(b, lit(1)).otherwise(1.5)).type).toBe('double');
  });

  it('rejects a non-boolean condition and incompatible branches', () => {
    expect(() => ev(when(n as unknown as Column<boolean>, lit(1)))).toThrow(
      /WHEN conditions must be boolean, got long/,
    );
    expect(() => ev(when(b, lit(1)).otherwise('x'))).toThrow(/incompatible types long and string/);
  });
});

describe('CAST', () => {
  it('string → long: numbers parse, anything else is null', () => {
    expect(ev(s.cast('long'), { s: '42' })).toBe(42);
    expect(ev(s.cast('long'), { s: ' 7 ' })).toBe(7);
    expect(ev(s.cast('long'), { s: 'abc' })).toBeNull();
    expect(ev(s.cast('long'), { s: '' })).toBeNull();
    expect(ev(s.cast('long'), { s: null })).toBeNull();
    expect(ev(s.cast('double'), { s: '1.5' })).toBe(1.5);
    expect(typeOf(col<string>('str').cast('long')).nullable).toBe(true);
  });

  it('timestamp ↔ long counts seconds', () => {
    expect(ev(col<number>('tsn').cast('long'), { tsn: 1_500 })).toBe(1);
    expect(ev(col<number>('tsn').cast('long'), { tsn: -1 })).toBe(-1); // floor, as Spark
    expect(ev(long.cast('timestamp'), { long: 60 })).toBe(60_000);
    expect(ev(col<number>('tsn').cast('double'), { tsn: 1_500 })).toBe(1.5);
  });

  it('timestamp → string', () => {
    expect(ev(col<number>('tsn').cast('string'), { tsn: TS(2025, 1, 2, 3, 4, 5) })).toBe(
      '2025-01-02 03:04:05',
    );
    expect(ev(col<number>('tsn').cast('string'), { tsn: TS(2025, 1, 2, 3, 4, 5, 60) })).toBe(
      '2025-01-02 03:04:05.060',
    );
    expect(ev(col<string>('str').cast('timestamp'), { str: '2025-01-02 03:04:05' })).toBe(
      TS(2025, 1, 2, 3, 4, 5),
    );
  });

  it('other casts', () => {
    expect(ev(s.cast('boolean'), { s: 'yes' })).toBe(true);
    expect(ev(s.cast('boolean'), { s: 'maybe' })).toBeNull();
    expect(ev(long.cast('string'), { long: 5 })).toBe('5');
    expect(ev(d.cast('long'), { d: -2.7 })).toBe(-2);
    expect(ev(col('dt').cast('string'), { dt: 0 })).toBe('1970-01-01');
  });

  it('rejects impossible casts at analysis', () => {
    expect(() => ev(col('b').cast('timestamp'))).toThrow(/cannot cast boolean to timestamp/);
  });
});

describe('null handling', () => {
  it('coalesce returns the first non-null argument', () => {
    expect(ev(coalesce(n, n2, 0), { n: null, n2: 5 })).toBe(5);
    expect(ev(coalesce(n, n2, 0), { n: 1, n2: 5 })).toBe(1);
    expect(ev(coalesce(n, n2, 0), {})).toBe(0);
    expect(ev(coalesce(n, n2), {})).toBeNull();
    expect(typeOf(coalesce(n, 0)).nullable).toBe(false);
    expect(typeOf(coalesce(n, n2)).nullable).toBe(true);
    expect(() => ev(coalesce(n, 'x'))).toThrow(/coalesce: arguments must have one type, got long and string/);
  });

  it('non-nullable inputs compile without null checks', () => {
    const sch = schema({ a: t.long, b: t.long, name: t.string, ok: t.boolean });
    const f = compiled(
      when(col<boolean>('ok').not(), lit(0)).otherwise(
        col<number>('a')
          .plus(col<number>('b'))
          .mul(2)
          .div(3)
          .plus(upper(col<string>('name')).eq('X').cast('long')),
      ),
      sch,
    );
    expect(f.toString()).not.toContain('== null');
    expect(f({ a: 3, b: 3, name: 'x', ok: true })).toBe(5);
    // …while a nullable one is guarded.
    expect(compiled(n.plus(1)).toString()).toContain('== null');
  });

  // BUG (reported): genLogical emits `(a == null || c == null)` for AND/OR even when both sides
  // are non-nullable. Harmless for results, but the guard is dead code in the hot loop.
  it('non-nullable AND/OR compile without null checks', () => {
    const sch = schema({ a: t.long, name: t.string });
    const f = compiled(
      col<number>('a')
        .gt(10)
        .and(upper(col<string>('name')).eq('X')),
      sch,
    );
    expect(f({ a: 11, name: 'x' })).toBe(true);
    expect(f.toString()).not.toContain('== null');
  });
});

describe('udf', () => {
  it('calls the function with the values, nulls included', () => {
    const countA = udf('countA', t.long, (x: string | null) => (x ?? '').split('a').length - 1);
    expect(ev(countA(s), { s: 'banana' })).toBe(3);
    expect(ev(countA(s), { s: null })).toBe(0);
    expect(typeOf(countA(s))).toEqual({ type: 'long', nullable: false });
  });
});

describe('analysis errors', () => {
  it('names the missing column and lists the available ones', () => {
    expect(() => ev(col<number>('nope').plus(1))).toThrow(
      /no column named "nope"; the input has: s, s2, str, n/,
    );
  });

  it('rejects wrong operand types, naming the operator', () => {
    expect(() => ev((s as Column<any>).plus(1))).toThrow(/"\+" needs numbers, got string and long/);
    expect(() => ev((n as Column<any>).and(true))).toThrow(/AND needs booleans, the left side is long/);
    expect(() => ev((s as Column<any>).not())).toThrow(/NOT needs a boolean, got string/);
    expect(() => ev((s as Column<any>).eq(1))).toThrow(/cannot compare string with long/);
  });

  it('rejects wrong function argument types, naming the function and the expected type', () => {
    expect(() => ev(callFunction('upper', n))).toThrow(/upper: argument 1 must be string, got long/);
    expect(() => ev(callFunction('upper', s, s))).toThrow(/upper takes 1 argument\(s\), got 2/);
    expect(() => ev(callFunction('no_such_fn', s))).toThrow(/no built-in function named "no_such_fn"/);
  });

  it('reports the error at analysis, before any row is seen', () => {
    expect(() => compiled(callFunction('regexp_extract', s, lit('('), lit(1)))).toThrow(
      /regexp_extract: invalid regular expression "\("/,
    );
  });

  it('the failing expression is quoted in the message', () => {
    expect(() => ev(callFunction('year', s.eq('x')))).toThrow(
      /in year\(\(s = 'x'\)\): year: argument 1 must be timestamp or date or string, got boolean/,
    );
  });
});

it('new Column from a raw expression works with compileExpr', () => {
  const c = new Column<number>({
    kind: 'binary',
    op: '+',
    left: { kind: 'col', name: 'long' },
    right: { kind: 'lit', value: 1, type: { kind: 'long' } },
  });
  expect(ev(c, { long: 1 }, S)).toBe(2);
});
