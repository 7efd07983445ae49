/**
 * maxOffsetsPerTrigger, one rule for every partitioned source
 * (connectors/partitioned): a hard maximum, split in proportion to what each
 * partition has available, and no partition starved while the limit allows.
 */
import { describe, expect, it } from 'vitest';
import {
  limitOffsetSpans,
  partitionOffsetsProblem,
  samePartitionOffsets,
  sortedPartitionOffsets,
  splitOffsetLimit,
} from '../../src/index.ts';

describe('splitOffsetLimit', () => {
  it('never reads more than the limit: 20 partitions behind by 1 each, limit 10 → 10 (Spark would read 20)', () => {
    const take = splitOffsetLimit(Array(20).fill(1), 10);
    expect(take.reduce((a, b) => a + b, 0)).toBe(10);
    expect(take).toEqual([...Array(10).fill(1), ...Array(10).fill(0)]);
  });

  it('reads exactly the limit when more is available (Spark floors and loses up to n-1)', () => {
    // 100:10:0:1 of 22 — shares 19.8, 1.98, 0, 0.198
    expect(splitOffsetLimit([100, 10, 0, 1], 22)).toEqual([19, 2, 0, 1]);
    expect(splitOffsetLimit([60, 20, 10], 30)).toEqual([20, 7, 3]);
    expect(splitOffsetLimit([50, 50], 10)).toEqual([5, 5]);
  });

  it('everything when the total fits; nothing from partitions with nothing available', () => {
    expect(splitOffsetLimit([3, 0, 4], 100)).toEqual([3, 0, 4]);
    expect(splitOffsetLimit([0, 0], 5)).toEqual([0, 0]);
    expect(splitOffsetLimit([-4, 5], 3)).toEqual([0, 3]);
  });

  it('a small partition is not starved while the limit allows one record each', () => {
    expect(splitOffsetLimit([1_000_000, 1], 10)).toEqual([9, 1]);
  });

  it('refuses a limit that is not a whole number ≥ 1', () => {
    expect(() => splitOffsetLimit([1], 0)).toThrow(/whole number ≥ 1/);
    expect(() => splitOffsetLimit([1], 1.5)).toThrow(/whole number ≥ 1/);
  });

  it('properties over random inputs: Σ = min(limit, total), each ≤ available and within 1 of its share', () => {
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let run = 0; run < 2000; run++) {
      const n = 1 + rnd(12);
      const avail = Array.from({ length: n }, () => (rnd(4) === 0 ? 0 : rnd(rnd(2) ? 10 : 100_000)));
      const limit = 1 + rnd(rnd(2) ? 20 : 50_000);
      const take = splitOffsetLimit(avail, limit);
      const total = avail.reduce((a, b) => a + b, 0);
      expect(take.reduce((a, b) => a + b, 0)).toBe(Math.min(limit, total));
      const behind = avail.filter((a) => a > 0).length;
      take.forEach((t, i) => {
        expect(t).toBeGreaterThanOrEqual(0);
        expect(t).toBeLessThanOrEqual(avail[i]!);
        if (total > limit) expect(Math.abs(t - (avail[i]! * limit) / total)).toBeLessThan(1);
        if (avail[i]! > 0 && limit >= behind) expect(t).toBeGreaterThanOrEqual(1);
      });
    }
  });
});

describe('limitOffsetSpans and the offset shape', () => {
  it('moves ends back under the limit; spans with nothing to read keep their end', () => {
    const spans = new Map([
      ['a:0', { start: 0, end: 60 }],
      ['a:1', { start: 5, end: 25 }],
      ['a:2', { start: 7, end: 7 }],
      ['b:0', { start: 0, end: 10 }],
    ]);
    expect(limitOffsetSpans(spans, 30)).toEqual(
      new Map([
        ['a:0', 20],
        ['a:1', 12],
        ['a:2', 7],
        ['b:0', 3],
      ]),
    );
    expect(limitOffsetSpans(spans, undefined).get('a:0')).toBe(60);
  });

  it("Spark's offset JSON: sorted for stable text, compared by value, validated", () => {
    const o = { b: { '10': 5, '2': 7 }, a: { '0': 1 } };
    expect(JSON.stringify(sortedPartitionOffsets(o))).toBe('{"a":{"0":1},"b":{"2":7,"10":5}}');
    expect(samePartitionOffsets(o, { a: { '0': 1 }, b: { '2': 7, '10': 5 } })).toBe(true);
    expect(samePartitionOffsets(o, { a: { '0': 1 } })).toBe(false);
    expect(samePartitionOffsets({ toString: { '0': 1 } }, {})).toBe(false);
    expect(partitionOffsetsProblem(o)).toBeUndefined();
    expect(partitionOffsetsProblem({ a: { x: 1 } })).toMatch(/not a partition number/);
    expect(partitionOffsetsProblem({ a: { '0': -1 } })).toMatch(/>= 0/);
    expect(partitionOffsetsProblem({ a: { '0': -2 } }, -2)).toBeUndefined();
    expect(partitionOffsetsProblem([1])).toMatch(/must be an object/);
  });
});
