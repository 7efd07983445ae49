/** Regressions for Spark-compatibility fixes in casts, equality and CASE typing. */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { col, lit, when } from '../../src/api/functions/index.ts';
import type { Column } from '../../src/api/Column.ts';
import { ev } from './helpers.ts';

describe('CAST follows Spark (non-ANSI)', () => {
  it('string → long reads decimal text only', () => {
    expect(ev(col<string | null>('s').cast('long'), { s: '0x10' })).toBe(null);
    expect(ev(col<string | null>('s').cast('long'), { s: '1e3' })).toBe(null);
    expect(ev(col<string | null>('s').cast('long'), { s: ' 42 ' })).toBe(42);
    expect(ev(col<string | null>('s').cast('long'), { s: '-7.9' })).toBe(-7);
  });

  it('string → double accepts exponents, rejects hex', () => {
    expect(ev(col<string | null>('s').cast('double'), { s: '1e3' })).toBe(1000);
    expect(ev(col<string | null>('s').cast('double'), { s: '0x10' })).toBe(null);
  });

  it('double → string prints like Java', () => {
    expect(ev(col<number>('dbl').cast('string'), { dbl: 1 })).toBe('1.0');
    expect(ev(col<number>('dbl').cast('string'), { dbl: 0.5 })).toBe('0.5');
  });

  it('string → timestamp/date rejects impossible values instead of rolling over', () => {
    expect(ev(col<string | null>('s').cast('timestamp'), { s: '2023-02-30 00:00:00' })).toBe(null);
    expect(ev(col<string | null>('s').cast('timestamp'), { s: '2023-01-01 25:00:00' })).toBe(null);
    expect(ev(col<string | null>('s').cast('timestamp'), { s: '2024-02-29 12:00:00' })).toBe(
      Date.UTC(2024, 1, 29, 12),
    );
    expect(ev(col<string | null>('s').cast('date'), { s: '2016-12-31T23:59:59-05:00' })).toBe(
      Date.UTC(2016, 11, 31) / 86_400_000,
    );
  });
});

describe('equality', () => {
  it('NaN = NaN is true for doubles (Spark)', () => {
    expect(ev(col<number>('dbl').eq(col<number>('dbl')), { dbl: NaN })).toBe(true);
    expect(ev(col<number>('dbl').neq(col<number>('dbl')), { dbl: NaN })).toBe(false);
    expect(ev(col<number>('dbl').eq(lit(1.5)), { dbl: 1.5 })).toBe(true);
  });
});

describe('CASE typing', () => {
  it('keeps a nullable branch value nullable after otherwise()', () => {
    const c = when(col<boolean>('b2').eq(true), col<string | null>('s')).otherwise('x');
    expectTypeOf(c).toEqualTypeOf<Column<string | null>>();
    const d = when(col<boolean>('b2').eq(true), lit('a')).otherwise('x');
    expectTypeOf(d).toEqualTypeOf<Column<string>>();
    expect(ev(c, { b2: true, s: null })).toBe(null);
  });
});
