/** approx_count_distinct: HyperLogLog++ accuracy, exact merges, sparse/dense equivalence, hashing. */
import { describe, expect, it } from 'vitest';
import {
  type HllBuf,
  hllAdd,
  hllEstimate,
  hllFunction,
  hllInit,
  hllMerge,
  hllPrecision,
} from '../../src/operators/aggregates/builtins/hll.ts';
import {
  hash64,
  hashBytes,
  hashNumber,
  hashString,
  hashValue,
} from '../../src/operators/aggregates/builtins/hash64.ts';
import { DOUBLE, LONG, STRING, bind, col, litArg, prng, roundTrip } from './helpers.ts';

const hashOf = (f: (v: any) => void, v: unknown): string => (f(v), `${hash64.hi}:${hash64.lo}`);

describe('precision', () => {
  it("follows Spark's p = ceil(2·log2(1.106 / rsd))", () => {
    expect(hllPrecision(0.05)).toBe(9);
    expect(hllPrecision(0.02)).toBe(12);
    expect(hllPrecision(0.01)).toBe(14);
    expect(hllPrecision(0.39)).toBe(4);
    expect(() => hllPrecision(0.4)).toThrow(/at most 0.39/);
  });
});

describe('accuracy: within 3 × rsd of the truth', () => {
  for (const rsd of [0.05, 0.02]) {
    for (const n of [1000, 100_000]) {
      it(`rsd ${rsd}, ${n} distinct longs, strings and doubles (each value repeated)`, () => {
        const p = hllPrecision(rsd);
        const kinds = [
          { t: LONG, v: (i: number) => i }, // sequential integers: the hardest case for a weak hash
          { t: STRING, v: (i: number) => `user-${i}` },
          { t: DOUBLE, v: (i: number) => i / 7 + 0.5 },
        ];
        for (const { t, v } of kinds) {
          const f = hllFunction(p, t);
          let b = f.init();
          for (let i = 0; i < n; i++) b = f.update(b, v(i));
          for (let i = 0; i < n; i += 3) b = f.update(b, v(i)); // duplicates do not count
          const est = f.finish(b) as number;
          expect(Math.abs(est / n - 1), `${t.kind}: ${est} for ${n}`).toBeLessThan(3 * rsd);
        }
      });
    }
  }

  it('the rms error over many sketches is close to the rsd', () => {
    const n = 20_000;
    const errs: number[] = [];
    for (let s = 0; s < 40; s++) {
      const f = hllFunction(hllPrecision(0.05), LONG);
      let b = f.init();
      for (let i = 0; i < n; i++) b = f.update(b, s * 1e9 + i);
      errs.push((f.finish(b) as number) / n - 1);
    }
    const rms = Math.sqrt(errs.reduce((a, e) => a + e * e, 0) / errs.length);
    const bias = errs.reduce((a, e) => a + e, 0) / errs.length;
    expect(rms).toBeLessThan(0.05 * 1.3);
    expect(Math.abs(bias)).toBeLessThan(0.02);
  });

  it('small cardinalities are exact (sparse mode)', () => {
    const f = bind('approx_count_distinct', [col(STRING)]);
    for (const n of [0, 1, 2, 17, 100, 128]) {
      let b = f.init();
      for (let i = 0; i < n; i++) b = f.update(b, `k${i % (n || 1)}`);
      for (let i = 0; i < n; i++) b = f.update(b, `k${i}`);
      expect(f.finish(b)).toBe(n);
    }
  });

  it('nulls are ignored', () => {
    const f = bind('approx_count_distinct', [col(LONG), litArg(0.05)]);
    let b = f.init();
    for (const x of [1, null, 2, null, 1]) b = f.update(b, x);
    expect(f.finish(b)).toBe(2);
  });
});

describe('merge', () => {
  const build = (p: number, values: number[], rt = false): HllBuf => {
    const f = hllFunction(p, LONG);
    let b = f.init();
    for (const x of values) {
      b = f.update(b, x);
      if (rt) b = roundTrip(b);
    }
    return b as HllBuf;
  };

  it('gives exactly the sketch of the concatenation, in any order and bracketing (sparse, dense and mixed)', () => {
    for (const total of [50, 300, 5000, 40_000]) {
      const rnd = prng(total);
      const values = Array.from({ length: total }, () => Math.floor(rnd() * total * 2));
      const whole = build(9, values);
      for (let trial = 0; trial < 5; trial++) {
        const cuts = [
          0,
          ...Array.from({ length: 4 }, () => Math.floor(rnd() * total)).sort((a, b) => a - b),
          total,
        ];
        const parts = cuts.slice(1).map((c, i) => build(9, values.slice(cuts[i], c)));
        while (parts.length > 1) {
          const i = Math.floor(rnd() * parts.length);
          const a = parts.splice(i, 1)[0]!;
          const j = Math.floor(rnd() * parts.length);
          parts[j] = hllMerge(roundTrip(a), roundTrip(parts[j]!)); // any order: union is commutative
        }
        expect(parts[0]).toEqual(whole);
        expect(hllEstimate(parts[0]!)).toBe(hllEstimate(whole));
      }
    }
  });

  it('round trips between every update keep the sketch identical', () => {
    const rnd = prng(3);
    const values = Array.from({ length: 2000 }, () => Math.floor(rnd() * 1e6));
    expect(build(9, values, true)).toEqual(build(9, values));
  });

  it('a merge does not alias the other dense buffer', () => {
    const a = build(4, [1]);
    const b = build(
      4,
      Array.from({ length: 100 }, (_, i) => i),
    );
    hllMerge(a, b);
    const before = Uint8Array.from(b.d!);
    hllAdd(a, 0x7fffffff, 0);
    hllAdd(a, -1, -1);
    expect(b.d).toEqual(before);
  });

  it('refuses sketches of different precision', () => {
    expect(() => hllMerge(hllInit(9), hllInit(10))).toThrow(/precision 9 and 10/);
  });
});

describe('sparse to dense', () => {
  it('converting sparse entries gives the registers of direct dense updates', () => {
    const rnd = prng(11);
    for (const p of [4, 9, 14]) {
      const sparse = hllInit(p);
      const dense: HllBuf = { p, s: null, d: new Uint8Array(1 << p) };
      hllAdd(sparse, 0, 0); // all-zero hash: the largest rank
      hllAdd(dense, 0, 0);
      for (let i = 0; sparse.s !== null; i++) {
        // some hashes with many leading zeros after the index, to exercise the long ranks
        const hi = (Math.floor(rnd() * 2 ** 32) >>> (i % 20 === 0 ? 28 : 0)) | 0;
        const lo = i % 7 === 0 ? 0 : Math.floor(rnd() * 2 ** 32) | 0;
        hllAdd(sparse, hi, lo);
        hllAdd(dense, hi, lo);
        expect(i).toBeLessThan(1 << p);
      }
      expect(sparse.d).toEqual(dense.d);
    }
  });

  it('the dense size for rsd 0.05 is 512 bytes; sparse buffers stay small', () => {
    const f = hllFunction(9, LONG);
    let b = f.init() as HllBuf;
    for (let i = 0; i < 10; i++) b = f.update(b, i) as HllBuf;
    expect(b.s!.length).toBe(10);
    for (let i = 0; i < 1000; i++) b = f.update(b, i) as HllBuf;
    expect(b.d!.length).toBe(512);
  });
});

describe('hash', () => {
  it('equal values hash equally: -0 and 0, every NaN, integral doubles and integers', () => {
    expect(hashOf(hashNumber, -0)).toBe(hashOf(hashNumber, 0));
    expect(hashOf(hashNumber, NaN)).toBe(hashOf(hashNumber, 0 / 0));
    expect(hashOf(hashNumber, 3.0)).toBe(hashOf(hashNumber, 3));
    expect(hashOf(hashValue, 'ab')).toBe(hashOf(hashString, 'ab'));
    expect(hashOf(hashValue, { a: 1, b: 'x' })).toBe(hashOf(hashValue, { b: 'x', a: 1 }));
  });

  it('different values rarely collide (64 bits over 200k mixed values)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50_000; i++) {
      seen.add(hashOf(hashNumber, i));
      seen.add(hashOf(hashNumber, -i - 1));
      seen.add(hashOf(hashNumber, i + 0.5));
      seen.add(hashOf(hashNumber, i * 2 ** 32));
    }
    for (let i = 0; i < 50_000; i++) seen.add(hashOf(hashString, String(i)));
    expect(seen.size).toBe(250_000 - 1); // 0 · 2^32 = 0
    expect(hashOf(hashString, '')).not.toBe(hashOf(hashString, '\0'));
    expect(hashOf(hashString, 'abc')).not.toBe(hashOf(hashString, 'abc\0'));
    expect(hashOf(hashBytes, Uint8Array.of(1))).not.toBe(hashOf(hashBytes, Uint8Array.of(1, 0)));
  });

  it('is uniform enough: top index bits are balanced over sequential integers', () => {
    const buckets = new Array<number>(64).fill(0);
    for (let i = 0; i < 64_000; i++) {
      hashNumber(i);
      buckets[hash64.hi >>> 26]!++;
    }
    for (const c of buckets) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });
});
