/**
 * BatchOrder: however the records of different partitions interleave on arrival (and
 * whatever offsets transaction markers take), the rows come out in one order fixed by offsets.
 */
import { describe, expect, it } from 'vitest';
import { BatchOrder } from '../src/source/batchOrder.ts';
import { prng } from 'millrace/testing';

interface Rec {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

const ranges = [
  { topic: 'a', partition: 0, start: 100, end: 160 },
  { topic: 'a', partition: 1, start: 0, end: 7 },
  { topic: 'a', partition: 2, start: 5, end: 5 }, // empty: no lane
  { topic: 'b', partition: 0, start: 30, end: 75 },
];

/** The records of `ranges`, with every `gapEvery`-th offset taken by a transaction marker (never delivered). */
function recordsOf(gapEvery: number): Map<string, Rec[]> {
  const out = new Map<string, Rec[]>();
  for (const r of ranges) {
    const list: Rec[] = [];
    for (let o = r.start; o < r.end; o++) {
      if (gapEvery > 0 && o % gapEvery === gapEvery - 1) continue;
      list.push({ topic: r.topic, partition: r.partition, offset: o });
    }
    out.set(`${r.topic}:${r.partition}`, list);
  }
  return out;
}

/**
 * Feed the records the way readBatch does, arriving in a random interleaving and random poll
 * sizes (each partition in offset order), with positions reported now and then and the end
 * reported when a partition is done; return the rows in release order and the most rows held.
 */
function run(seed: number, gapEvery: number, maxRecordsPerPoll: number): { out: string[]; held: number } {
  const rng = prng(seed);
  const order = new BatchOrder<string>(ranges, maxRecordsPerPoll);
  const queues = [...recordsOf(gapEvery).entries()].map(([k, list]) => ({ k, list, i: 0 }));
  const out: string[] = [];
  let held = 0;
  while (queues.some((q) => q.i < q.list.length) || !order.done) {
    const poll = 1 + Math.floor(rng() * 12);
    for (let n = 0; n < poll; n++) {
      const open = queues.filter((q) => q.i < q.list.length);
      if (open.length === 0) break;
      // Skewed: partitions arrive at different speeds.
      const q = open[Math.floor(rng() ** 2 * open.length)]!;
      const r = q.list[q.i++]!;
      const lane = order.lane(r.topic, r.partition)!;
      lane.rows.push(`${r.topic}:${r.partition}@${r.offset}`);
      lane.offsets.push(r.offset);
      if (r.offset >= lane.reached) lane.reached = r.offset + 1;
    }
    for (const q of queues) {
      const r = ranges.find((x) => `${x.topic}:${x.partition}` === q.k)!;
      if (q.i === q.list.length) order.reachedAt(r.topic, r.partition, r.end);
      else if (rng() < 0.3) order.reachedAt(r.topic, r.partition, q.list[q.i]!.offset);
    }
    order.release(out);
    held = Math.max(held, order.waiting);
  }
  return { out, held };
}

/** The order by offsets alone: slots of `w` offsets, partition by partition, round by round. */
function expectedOrder(gapEvery: number, w: number): string[] {
  const recs = recordsOf(gapEvery);
  const out: string[] = [];
  const lanes = ranges.filter((r) => r.end > r.start);
  for (let round = 0; lanes.some((r) => r.start + round * w < r.end); round++) {
    for (const r of lanes) {
      const lo = r.start + round * w;
      const hi = lo + w;
      for (const x of recs.get(`${r.topic}:${r.partition}`)!) {
        if (x.offset >= lo && x.offset < hi) out.push(`${x.topic}:${x.partition}@${x.offset}`);
      }
    }
  }
  return out;
}

describe('BatchOrder', () => {
  it('slots are maxRecordsPerPoll / partitions offsets wide (at least 1)', () => {
    expect(new BatchOrder(ranges, 30).window).toBe(10);
    expect(new BatchOrder(ranges, 31).window).toBe(11);
    expect(new BatchOrder(ranges, 1).window).toBe(1);
    expect(new BatchOrder([], 10).done).toBe(true);
  });

  for (const gapEvery of [0, 4]) {
    it(`releases the same order for any arrival interleaving${gapEvery ? ' (offsets taken by markers)' : ''}`, () => {
      for (const poll of [3, 30, 10_000]) {
        const w = new BatchOrder(ranges, poll).window;
        const want = expectedOrder(gapEvery, w);
        for (let seed = 1; seed <= 40; seed++) {
          const { out } = run(seed, gapEvery, poll);
          expect(out, `seed ${seed}, maxRecordsPerPoll ${poll}`).toEqual(want);
        }
      }
    });
  }

  it('with a large slot a batch comes out partition by partition', () => {
    const { out } = run(7, 0, 10_000);
    const lanes = out.map((x) => x.split('@')[0]);
    expect([...new Set(lanes)]).toEqual(['a:0', 'a:1', 'b:0']);
    expect(lanes.filter((l, i) => i > 0 && l !== lanes[i - 1]).length).toBe(2);
  });

  it('releases rows of the slot under the cursor as they arrive, before the slot is complete', () => {
    const order = new BatchOrder<string>([{ topic: 't', partition: 0, start: 0, end: 10 }], 100);
    const lane = order.lane('t', 0)!;
    lane.rows.push('r0', 'r1');
    lane.offsets.push(0, 1);
    lane.reached = 2;
    const out: string[] = [];
    order.release(out);
    expect(out).toEqual(['r0', 'r1']);
    expect(order.done).toBe(false);
    order.reachedAt('t', 0, 10); // the rest were markers
    order.release(out);
    expect(order.done).toBe(true);
  });
});
