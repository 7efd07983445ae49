/**
 * percentile_approx: rank error within Spark's bound n/accuracy on 100k
 * values, for single streams and for random splits merged in random order
 * with state-store round trips; determinism; memory.
 */
import { describe, expect, it } from 'vitest';
import type { AggregateFunction } from '../../src/operators/aggregates/AggregateFunction.ts';
import { type KllBuf, kllK } from '../../src/operators/aggregates/builtins/kll.ts';
import { DOUBLE, LONG, TIMESTAMP, bind, col, litArg, prng, roundTrip } from './helpers.ts';

const N = 100_000;
const PS = [
  0, 0.0005, 0.001, 0.01, 0.05, 0.1, 0.25, 0.333, 0.5, 0.667, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9995, 1,
];

/** Distance from the target rank ceil(p·n) to the ranks the value actually occupies. */
function rankError(sorted: Float64Array, v: number, p: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (sorted[m]! < v) lo = m + 1;
    else hi = m;
  }
  const first = lo + 1;
  hi = sorted.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (sorted[m]! <= v) lo = m + 1;
    else hi = m;
  }
  const last = lo;
  if (first > last) return Infinity; // not an input value
  const r = Math.max(1, Math.ceil(p * sorted.length));
  return r < first ? first - r : r > last ? r - last : 0;
}

const DISTRIBUTIONS: Record<string, (r: () => number, i: number) => number> = {
  uniform: (r) => r() * 1000,
  skewed: (r) => r() ** 4 * 1e6,
  'few distinct': (r) => Math.floor(r() * 50),
  ascending: (_r, i) => i,
  descending: (_r, i) => N - i,
  'sawtooth timestamps': (_r, i) => 1_700_000_000_000 + (i % 1000) * 1000 + Math.floor(i / 1000),
};

function feed(
  fn: AggregateFunction<any>,
  b: unknown,
  xs: ArrayLike<number>,
  from: number,
  to: number,
  args: unknown[],
) {
  for (let i = from; i < to; i++) {
    b = fn.update(b, xs[i], ...args);
    if (i % 20_000 === 0) b = roundTrip(b); // a batch boundary now and then
  }
  return b;
}

/** Worst normalised error (error / (n/accuracy)) over PS. */
function worst(result: number[], data: Float64Array, accuracy: number): number {
  const sorted = Float64Array.from(data).sort();
  let w = 0;
  result.forEach((v, i) => {
    w = Math.max(w, rankError(sorted, v, PS[i]!) / (data.length / accuracy));
  });
  return w;
}

describe.each([100, 1000])('accuracy %i on 100k values', (accuracy) => {
  const fn = bind('percentile_approx', [col(DOUBLE), litArg(PS), litArg(accuracy)]);
  const extra = [PS, accuracy];

  it.each(Object.keys(DISTRIBUTIONS))('%s: one stream', (dist) => {
    const r = prng(accuracy + dist.length);
    const data = Float64Array.from({ length: N }, (_, i) => DISTRIBUTIONS[dist]!(r, i));
    const b = feed(fn, fn.init(), data, 0, N, extra);
    const w = worst(fn.finish(b) as number[], data, accuracy);
    expect(w).toBeLessThanOrEqual(1);
  });

  it.each(Object.keys(DISTRIBUTIONS))('%s: random splits merged in random order', (dist) => {
    const r = prng(7 * accuracy + dist.length);
    const data = Float64Array.from({ length: N }, (_, i) => DISTRIBUTIONS[dist]!(r, i));
    const cuts = [0, ...Array.from({ length: 30 }, () => Math.floor(r() ** 2 * N)).sort((a, b) => a - b), N];
    let parts = cuts.slice(1).map((c, i) => feed(fn, fn.init(), data, cuts[i]!, c, extra));
    while (parts.length > 1) {
      const i = Math.floor(r() * parts.length);
      const a = parts[i];
      parts = parts.filter((_, j) => j !== i);
      const j = Math.floor(r() * parts.length);
      parts[j] = fn.merge(roundTrip(a), roundTrip(parts[j]));
    }
    const w = worst(fn.finish(parts[0]) as number[], data, accuracy);
    expect(w).toBeLessThanOrEqual(1);
  });
});

describe('bound over many seeds', () => {
  it('accuracy 1000: every percentile of 30 random streams within n/accuracy; typical error well below', () => {
    const fn = bind('percentile_approx', [col(DOUBLE), litArg(PS), litArg(1000)]);
    const ws: number[] = [];
    for (let seed = 0; seed < 30; seed++) {
      const r = prng(seed);
      const n = 20_000 + Math.floor(r() * 80_000);
      const data = Float64Array.from({ length: n }, () => r() * r());
      let b = fn.init();
      for (let i = 0; i < n; i++) b = fn.update(b, data[i]);
      ws.push(worst(fn.finish(b) as number[], data, 1000));
    }
    expect(Math.max(...ws)).toBeLessThanOrEqual(1);
  });

  it('the default accuracy (10000): within 10 ranks of 100k', () => {
    const fn = bind('percentile_approx', [col(LONG), litArg(PS)]);
    const r = prng(99);
    const data = Float64Array.from({ length: N }, () => Math.floor(r() * 1e9));
    let b = fn.init();
    for (let i = 0; i < N; i++) b = fn.update(b, data[i]);
    expect(worst(fn.finish(b) as number[], data, 10_000)).toBeLessThanOrEqual(1);
  });
});

describe('sketch behaviour', () => {
  it('is deterministic: the same input gives the same buffer', () => {
    const fn = bind('percentile_approx', [col(DOUBLE), litArg(0.5), litArg(100)]);
    const run = () => {
      let b = fn.init();
      for (let i = 0; i < 50_000; i++) b = fn.update(b, (i * 7919) % 10007);
      return b;
    };
    expect(run()).toEqual(run());
  });

  it('memory stays O(k): a few k values however long the stream', () => {
    const fn = bind('percentile_approx', [col(DOUBLE), litArg(0.5), litArg(100)]);
    let b = fn.init() as KllBuf;
    for (let i = 0; i < 1_000_000; i++) b = fn.update(b, i % 1013) as KllBuf;
    expect(b.n).toBe(1_000_000);
    expect(b.size).toBeLessThanOrEqual(4 * kllK(100));
    expect(b.levels.flat().length).toBe(b.size);
    // total weight is preserved exactly
    expect(b.levels.reduce((s, lv, h) => s + lv.length * 2 ** h, 0)).toBe(b.n);
  });

  it('is exact until compaction starts (about k values)', () => {
    const fn = bind('percentile_approx', [col(TIMESTAMP), litArg([0.1, 0.5, 0.9]), litArg(100)]);
    const data = Array.from({ length: kllK(100) - 1 }, (_, i) => 1_000_000 + ((i * 37) % 199));
    let b = fn.init();
    for (const x of data) b = fn.update(b, x);
    const sorted = [...data].sort((a, c) => a - c);
    expect(fn.finish(b)).toEqual([0.1, 0.5, 0.9].map((p) => sorted[Math.ceil(p * data.length) - 1]));
  });

  it('merging empty sketches', () => {
    const fn = bind('percentile_approx', [col(DOUBLE), litArg(0.5)]);
    expect(fn.finish(fn.merge(fn.init(), fn.init()))).toBeNull();
    expect(fn.finish(fn.merge(fn.init(), fn.update(fn.init(), 4)))).toBe(4);
  });
});
