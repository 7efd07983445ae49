/** Math, comparison, null-handling and hash functions. */
import { describe, expect, it } from 'vitest';
import { callFunction, col, lit } from '../../src/api/functions/index.ts';
import {
  abs,
  bround,
  ceil,
  exp,
  floor,
  greatest,
  hash,
  ifnull,
  isnan,
  least,
  ln,
  log,
  log10,
  log2,
  nanvl,
  nullif,
  nvl,
  nvl2,
  pmod,
  pow,
  round,
  signum,
  sqrt,
} from '../../src/api/functions/math.ts';
import { murmurHashBytes, murmurHashInt } from '../../src/expr/functions/misc.ts';
import { javaDoubleToString, roundNumber, toFixedHalfUp } from '../../src/expr/functions/math.ts';
import { D, TS, compiled, ev, typeOf } from './helpers.ts';

const n = col<number | null>('n');
const n2 = col<number | null>('n2');
const d = col<number | null>('d');
const long = col<number>('long');
const dbl = col<number>('dbl');
const s = col<string | null>('s');

describe('abs, floor, ceil, sqrt, pow, exp, signum', () => {
  it('computes and types results like Spark', () => {
    expect(ev(abs(n), { n: -3 })).toBe(3);
    expect(ev(abs(d), { d: -2.5 })).toBe(2.5);
    expect(typeOf(abs(long)).type).toBe('long');
    expect(typeOf(abs(dbl)).type).toBe('double');
    expect(ev(floor(d), { d: -1.5 })).toBe(-2);
    expect(ev(ceil(d), { d: -1.5 })).toBe(-1);
    expect(ev(ceil(d), { d: 1.000001 })).toBe(2);
    expect(ev(floor(n), { n: 7 })).toBe(7);
    expect(typeOf(floor(dbl))).toEqual({ type: 'long', nullable: false });
    expect(ev(sqrt(n), { n: 16 })).toBe(4);
    expect(ev(sqrt(d), { d: -1 })).toBeNaN();
    expect(ev(pow(n, n2), { n: 2, n2: 10 })).toBe(1024);
    expect(ev(pow(n, 0.5), { n: 9 })).toBe(3);
    expect(typeOf(pow(long, long)).type).toBe('double');
    expect(ev(exp(n), { n: 0 })).toBe(1);
    expect(ev(signum(d), { d: -4.2 })).toBe(-1);
    expect(ev(callFunction('ceiling', d), { d: 0.1 })).toBe(1);
    expect(ev(callFunction('power', lit(2), lit(3)))).toBe(8);
  });

  it('null in, null out', () => {
    for (const f of [abs, floor, ceil, sqrt, exp, signum]) expect(ev(f(n), { n: null })).toBeNull();
    expect(ev(pow(n, 2), { n: null })).toBeNull();
  });

  it('inlines hot functions, without null checks for non-nullable inputs', () => {
    const f = compiled(abs(long).plus(floor(dbl)).plus(sqrt(long)));
    expect(f.toString()).toContain('Math.abs(r.long)');
    expect(f.toString()).toContain('Math.floor(r.dbl)');
    expect(f.toString()).not.toContain('== null');
    expect(f({ long: 4, dbl: 1.5 })).toBe(7);
  });

  it('rejects non-numbers, naming the function', () => {
    expect(() => ev(abs(s as never))).toThrow(/abs: argument 1 must be numeric, got string/);
    expect(() => ev(pow(n, s as never))).toThrow(/pow: argument 2 must be numeric, got string/);
  });
});

describe('logarithms', () => {
  it('log / ln / log10 / log2 give null for x ≤ 0', () => {
    expect(ev(ln(d), { d: Math.E })).toBe(1);
    expect(ev(log(d), { d: 1 })).toBe(0);
    expect(ev(log(2, d), { d: 8 })).toBeCloseTo(3, 12);
    expect(ev(log10(n), { n: 1000 })).toBe(3);
    expect(ev(log2(n), { n: 1024 })).toBe(10);
    expect(ev(ln(d), { d: 0 })).toBeNull();
    expect(ev(log(d), { d: -1 })).toBeNull();
    expect(ev(log(-2, d), { d: 8 })).toBeNull();
    expect(ev(log10(n), { n: null })).toBeNull();
    expect(ev(callFunction('log1p', d), { d: -1 })).toBeNull();
    expect(typeOf(ln(dbl)).nullable).toBe(true);
  });
});

describe('round (HALF_UP) and bround (HALF_EVEN)', () => {
  it('rounds half away from zero on the decimal value', () => {
    expect(ev(round(d, 2), { d: 2.675 })).toBe(2.68); // 2.67499999… in binary, 2.675 as a decimal
    expect(ev(round(d, 2), { d: 1.005 })).toBe(1.01);
    expect(ev(round(d), { d: 2.5 })).toBe(3);
    expect(ev(round(d), { d: -2.5 })).toBe(-3);
    expect(ev(round(d), { d: 0.49999999999999994 })).toBe(0);
    expect(ev(round(d, 1), { d: 0.05 })).toBe(0.1);
    expect(ev(round(d, 3), { d: 1.5 })).toBe(1.5);
    expect(ev(round(d, 0), { d: -0.4 })).toBe(0);
    expect(Object.is(ev(round(d, 0), { d: -0.4 }), -0)).toBe(false);
    expect(ev(round(d, 1), { d: 9.96 })).toBe(10);
    expect(ev(round(d, 2), { d: 1e-10 })).toBe(0);
    expect(ev(round(d, 2), { d: 123456789.125 })).toBe(123456789.13);
  });

  it('negative scales round to tens, hundreds…', () => {
    expect(ev(round(n, -2), { n: 1250 })).toBe(1300);
    expect(ev(round(n, -2), { n: -1250 })).toBe(-1300);
    expect(ev(round(n, -1), { n: 14 })).toBe(10);
    expect(ev(round(n, -4), { n: 1250 })).toBe(0);
    expect(ev(round(d, -1), { d: 15.5 })).toBe(20);
    expect(typeOf(round(long, -1)).type).toBe('long');
  });

  it('keeps longs, NaN and infinities', () => {
    expect(ev(round(n, 2), { n: 7 })).toBe(7);
    expect(ev(round(d), { d: NaN })).toBeNaN();
    expect(ev(round(d), { d: Infinity })).toBe(Infinity);
    expect(ev(round(d), { d: null })).toBeNull();
  });

  it('bround rounds half to even', () => {
    expect(ev(bround(d), { d: 2.5 })).toBe(2);
    expect(ev(bround(d), { d: 3.5 })).toBe(4);
    expect(ev(bround(d), { d: -2.5 })).toBe(-2);
    expect(ev(bround(d, 1), { d: 0.25 })).toBe(0.2);
    expect(ev(bround(d, 1), { d: 0.35 })).toBe(0.4);
    expect(ev(bround(d, 1), { d: 0.251 })).toBe(0.3);
    expect(ev(bround(n, -1), { n: 25 })).toBe(20);
    expect(ev(bround(d), { d: 0.5 })).toBe(0);
  });

  it('needs a literal scale', () => {
    expect(() => ev(callFunction('round', d, n))).toThrow(
      /round: argument 2 \(scale\) must be a literal long/,
    );
  });

  it('decimal helpers', () => {
    expect(roundNumber(2.345, 2, 'half_up')).toBe(2.35);
    expect(toFixedHalfUp(0.004, 2)).toBe('0.00');
    expect(toFixedHalfUp(0.005, 2)).toBe('0.01');
    expect(toFixedHalfUp(120, 2)).toBe('120.00');
    expect(toFixedHalfUp(99.995, 2)).toBe('100.00');
    expect(toFixedHalfUp(1e21, 1)).toBe('1000000000000000000000.0');
    expect(javaDoubleToString(100)).toBe('100.0');
    expect(javaDoubleToString(0.0001)).toBe('1.0E-4');
    expect(javaDoubleToString(-0)).toBe('-0.0');
  });
});

describe('pmod, isnan, nanvl', () => {
  it('pmod is a positive modulo, null for 0', () => {
    expect(ev(pmod(n, 3), { n: -7 })).toBe(2);
    expect(ev(pmod(n, 3), { n: 7 })).toBe(1);
    expect(ev(pmod(n, n2), { n: 7, n2: 0 })).toBeNull();
    expect(ev(pmod(d, 2), { d: -1.5 })).toBe(0.5);
  });
  it('isnan is false for null', () => {
    expect(ev(isnan(d), { d: NaN })).toBe(true);
    expect(ev(isnan(d), { d: 1 })).toBe(false);
    expect(ev(isnan(d), { d: null })).toBe(false);
    expect(typeOf(isnan(d)).nullable).toBe(false);
  });
  it('nanvl replaces NaN only', () => {
    expect(ev(nanvl(d, 0), { d: NaN })).toBe(0);
    expect(ev(nanvl(d, 0), { d: 1.5 })).toBe(1.5);
    expect(ev(nanvl(d, col<number>('dbl')), { d: null, dbl: 1 })).toBeNull();
    expect(ev(nanvl(d, lit(null)), { d: 2.5 })).toBe(2.5);
    expect(() => ev(nanvl(n, 0))).toThrow(/nanvl: argument 1 must be double, got long/);
  });
});

describe('greatest, least', () => {
  it('skip nulls; null only when all are null', () => {
    expect(ev(greatest(n, n2, 5), { n: 1, n2: 9 })).toBe(9);
    expect(ev(greatest(n, n2), { n: null, n2: 3 })).toBe(3);
    expect(ev(greatest(n, n2), {})).toBeNull();
    expect(ev(least(n, n2, 5), { n: 1, n2: 9 })).toBe(1);
    expect(ev(least(n, n2), { n: null, n2: 3 })).toBe(3);
    expect(ev(greatest(s, lit('m')), { s: 'z' })).toBe('z');
    expect(ev(least(s, lit('m')), { s: 'abc' })).toBe('abc');
    expect(
      ev(greatest(col<number | null>('ts'), col<number>('tsn')), { ts: TS(2025, 1, 1), tsn: TS(2024, 1, 1) }),
    ).toBe(TS(2025, 1, 1));
    expect(
      ev(least(col<number | null>('dt'), col<number | null>('dt2')), {
        dt: D(2024, 2, 29),
        dt2: D(2024, 3, 1),
      }),
    ).toBe(D(2024, 2, 29));
    expect(ev(greatest(col<boolean | null>('b'), col<boolean | null>('b2')), { b: false, b2: true })).toBe(
      true,
    );
  });
  it('widen numbers and treat NaN as the largest double', () => {
    expect(typeOf(greatest(n, d)).type).toBe('double');
    expect(ev(greatest(n, d), { n: 2, d: 1.5 })).toBe(2);
    expect(ev(greatest(d, 1), { d: NaN })).toBeNaN();
    expect(ev(least(d, 1), { d: NaN })).toBe(1);
  });
  it('are nullable only when every argument is', () => {
    expect(typeOf(greatest(n, long)).nullable).toBe(false);
    expect(typeOf(greatest(n, n2)).nullable).toBe(true);
  });
  it('reject mixed or unordered types', () => {
    expect(() => ev(callFunction('greatest', n, s))).toThrow(
      /greatest: arguments must have one type, got long and string/,
    );
    expect(() => ev(callFunction('least', col('arr'), col('arr')))).toThrow(
      /least: argument 1 must be a number, string, boolean, timestamp or date, got array<string>/,
    );
    expect(() => ev(callFunction('greatest', n))).toThrow(
      /greatest takes 2 to Infinity argument\(s\), got 1/,
    );
  });
});

describe('nullif, ifnull, nvl, nvl2', () => {
  it('nullif', () => {
    expect(ev(nullif(n, 0), { n: 0 })).toBeNull();
    expect(ev(nullif(n, 0), { n: 5 })).toBe(5);
    expect(ev(nullif(n, n2), { n: 5, n2: null })).toBe(5);
    expect(ev(nullif(n, n2), { n: null, n2: 5 })).toBeNull();
    expect(ev(nullif(s, ''), { s: '' })).toBeNull();
    expect(ev(nullif(d, col<number | null>('d')), { d: NaN })).toBeNull();
    expect(typeOf(nullif(long, 0))).toEqual({ type: 'long', nullable: true });
    expect(() => ev(callFunction('nullif', n, s))).toThrow(
      /nullif: arguments must have one type, got long and string/,
    );
  });
  it('ifnull / nvl / nvl2', () => {
    expect(ev(ifnull(n, 0), { n: null })).toBe(0);
    expect(ev(ifnull(n, 0), { n: 4 })).toBe(4);
    expect(ev(nvl(s, 'none'), { s: null })).toBe('none');
    expect(ev(callFunction('nvl', s, s), { s: null })).toBeNull();
    expect(typeOf(ifnull(n, 0)).nullable).toBe(false);
    expect(typeOf(ifnull(n, n2)).nullable).toBe(true);
    expect(ev(nvl2(s, 'set', 'unset'), { s: 'x' })).toBe('set');
    expect(ev(nvl2(s, 'set', 'unset'), { s: null })).toBe('unset');
    expect(() => ev(callFunction('ifnull', n, s))).toThrow(
      /ifnull: arguments must have one type, got long and string/,
    );
  });
});

describe('hash (Spark Murmur3, seed 42)', () => {
  it('matches Spark for ints, strings and arrays', () => {
    // Values from Spark: hash(0) = 933211791, hash(4) = -397064898 (int columns),
    // hash('Spark', array(123), 2) = -1321691492.
    expect(murmurHashInt(0, 42)).toBe(933211791);
    expect(murmurHashInt(4, 42)).toBe(-397064898);
    let h = murmurHashBytes(new TextEncoder().encode('Spark'), 42);
    h = murmurHashInt(123, h);
    expect(murmurHashInt(2, h)).toBe(-1321691492);
  });

  it('is deterministic, 32-bit, and skips nulls', () => {
    const v = ev(hash(s, n), { s: 'Spark', n: 7 });
    expect(v).toBe(ev(hash(s, n), { s: 'Spark', n: 7 }));
    expect(Number.isInteger(v) && (v as number) >= -(2 ** 31) && (v as number) < 2 ** 31).toBe(true);
    expect(v).not.toBe(ev(hash(s, n), { s: 'Spark', n: 8 }));
    expect(ev(hash(s), { s: null })).toBe(42);
    expect(ev(hash(s, n), { s: null, n: 7 })).toBe(ev(hash(n), { n: 7 }));
    expect(ev(hash(s), { s: 'Spark' })).toBe(murmurHashBytes(new TextEncoder().encode('Spark'), 42));
    expect(typeOf(hash(s))).toEqual({ type: 'long', nullable: false });
  });

  it('hashes longs as 64-bit values (Spark bigint), negative and large ones too', () => {
    const vals = [0, 1, -1, 2 ** 32, -(2 ** 40) - 3, Number.MAX_SAFE_INTEGER].map((x) =>
      ev(hash(n), { n: x }),
    );
    expect(new Set(vals).size).toBe(vals.length);
    expect(ev(hash(d), { d: 0 })).toBe(ev(hash(d), { d: -0 }));
    expect(ev(hash(d), { d: 1 })).not.toBe(ev(hash(n), { n: 1 })); // double bits differ from the long
    expect(ev(hash(col('arr')), { arr: ['a', 'b'] })).not.toBe(ev(hash(col('arr')), { arr: ['b', 'a'] }));
  });
});
