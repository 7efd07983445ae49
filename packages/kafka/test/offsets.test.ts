/**
 * The pure decisions of the Kafka source (no cluster): offset JSON, Spark's rate limit,
 * starting-offset resolution, what a batch reads and which data-loss problems it reports —
 * including the cases the mock cluster cannot produce (a partition vanishing, offsets going
 * back after a topic is re-created, a log truncated below a batch's end).
 */
import { describe, expect, it } from 'vitest';
import {
  lag,
  offsetsFromJson,
  offsetsToJson,
  planReads,
  rateLimit,
  resolveStartingOffsets,
  tpKey,
} from '../src/source/offsets.ts';

const m = (o: Record<string, number>) => new Map(Object.entries(o));
const wm = (o: Record<string, [number, number]>) =>
  new Map(Object.entries(o).map(([k, [low, high]]) => [k, { low, high }]));

describe('offset JSON', () => {
  it("round-trips Spark's format, topics and partitions in order", () => {
    const map = offsetsFromJson('{"b":{"10":5,"2":7},"a":{"0":1}}', 'x', false);
    expect(new Map(map)).toEqual(m({ 'b:10': 5, 'b:2': 7, 'a:0': 1 }));
    expect(JSON.stringify(offsetsToJson(map))).toBe('{"a":{"0":1},"b":{"2":7,"10":5}}');
  });

  it('topics named "__proto__" or "constructor" are topics like any other (no prototype pollution)', () => {
    const map = offsetsFromJson('{"__proto__":{"0":5},"constructor":{"1":2}}', 'x', false);
    expect(JSON.stringify(offsetsToJson(map))).toBe('{"__proto__":{"0":5},"constructor":{"1":2}}');
    expect(({} as Record<string, unknown>)['0']).toBeUndefined();
  });

  it('rejects malformed offsets with the reason', () => {
    expect(() => offsetsFromJson('{"a":', 'offsets', false)).toThrow(/offsets is not valid JSON/);
    expect(() => offsetsFromJson({ a: [1] }, 'offsets', false)).toThrow(
      /must be an object \{"partition": offset\}/,
    );
    expect(() => offsetsFromJson({ a: { x: 1 } }, 'offsets', false)).toThrow(
      /"x" \(topic "a"\) is not a partition number/,
    );
    expect(() => offsetsFromJson({ a: { 0: -1 } }, 'offsets', false)).toThrow(/whole number >= 0/);
    expect(offsetsFromJson({ a: { 0: -2 } }, 'startingOffsets', true).get('a:0')).toBe(-2);
    expect(() => offsetsFromJson({ a: { 0: -3 } }, 'startingOffsets', true)).toThrow(
      /-2 = earliest, -1 = latest/,
    );
  });
});

describe('rateLimit (the shared maxOffsetsPerTrigger rule, connectors/partitioned)', () => {
  it('splits the limit by lag, gives every lagging partition at least 1, never passes the end', () => {
    const from = m({ 't:0': 0, 't:1': 0, 't:2': 5, 't:3': 0 });
    const until = m({ 't:0': 100, 't:1': 10, 't:2': 5, 't:3': 1 });
    // shares 19.8, 1.98, -, 0.198: exactly 22 (Spark's floor/ceil read 21)
    expect(rateLimit(22, from, until, new Map())).toEqual(m({ 't:0': 19, 't:1': 2, 't:2': 5, 't:3': 1 }));
    expect(rateLimit(1_000, from, until, new Map())).toEqual(until);
  });

  it('new partitions count from their earliest offset', () => {
    const out = rateLimit(10, m({ 't:0': 0 }), m({ 't:0': 50, 't:1': 60 }), m({ 't:1': 10 }));
    expect(out).toEqual(m({ 't:0': 5, 't:1': 15 }));
  });

  it('never reads more than maxOffsetsPerTrigger: 20 partitions behind by 1, limit 10 → 10 records', () => {
    const from = m(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`t:${i}`, 0])));
    const until = m(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`t:${i}`, 1])));
    const out = rateLimit(10, from, until, new Map());
    expect([...out.values()].reduce((a, b) => a + b, 0)).toBe(10);
  });

  it('nothing behind: the end as it is', () => {
    expect(rateLimit(5, m({ 't:0': 3 }), m({ 't:0': 3 }), new Map())).toEqual(m({ 't:0': 3 }));
  });
});

describe('resolveStartingOffsets', () => {
  const parts = ['t:0', 't:1'];
  const w = wm({ 't:0': [10, 20], 't:1': [0, 5] });

  it('earliest and latest use the watermarks', () => {
    expect(resolveStartingOffsets('earliest', parts, w, 'src').offsets).toEqual(m({ 't:0': 10, 't:1': 0 }));
    expect(resolveStartingOffsets('latest', parts, w, 'src').offsets).toEqual(m({ 't:0': 20, 't:1': 5 }));
  });

  it('specific offsets: -2/-1 resolved, out-of-log offsets are problems moved to the nearest end', () => {
    const r = resolveStartingOffsets(m({ 't:0': 3, 't:1': 9 }), parts, w, 'src');
    expect(r.offsets).toEqual(m({ 't:0': 10, 't:1': 5 }));
    expect(r.problems).toEqual([
      'startingOffsets asks for t-0 from offset 3, but its log starts at 10 (older records were deleted)',
      'startingOffsets asks for t-1 from offset 9, but its log ends at 5 (the offset does not exist yet)',
    ]);
    expect(resolveStartingOffsets(m({ 't:0': -1, 't:1': -2 }), parts, w, 'src')).toEqual({
      offsets: m({ 't:0': 20, 't:1': 0 }),
      problems: [],
    });
  });
});

describe('planReads', () => {
  it('reads [start, end) of each partition', () => {
    const p = planReads(
      m({ 't:0': 2, 't:1': 0 }),
      m({ 't:0': 5, 't:1': 0 }),
      wm({ 't:0': [0, 9], 't:1': [0, 0] }),
    );
    expect(p).toEqual({ ranges: [{ topic: 't', partition: 0, start: 2, end: 5 }], problems: [] });
  });

  it('a vanished partition (topic deleted) is a problem, and is not read', () => {
    const p = planReads(m({ 't:0': 2, 'gone:0': 4 }), m({ 't:0': 3, 'gone:0': 4 }), wm({ 't:0': [0, 9] }));
    expect(p.ranges).toEqual([{ topic: 't', partition: 0, start: 2, end: 3 }]);
    expect(p.problems).toEqual(['gone-0 is gone (its topic was deleted or has fewer partitions now)']);
    expect(planReads(m({ 'gone:0': 4 }), m({}), wm({})).problems).toEqual([
      'gone-0 is gone (its topic was deleted or has fewer partitions now)',
    ]);
  });

  it('an offset that went back (topic re-created) is a problem; the partition is skipped this batch', () => {
    const p = planReads(m({ 't:0': 50 }), m({ 't:0': 3 }), wm({ 't:0': [0, 3] }));
    expect(p.ranges).toEqual([]);
    expect(p.problems[0]).toContain('the offset of t-0 went back from 50 to 3');
  });

  it('records deleted before they were read: read from the low watermark', () => {
    const p = planReads(m({ 't:0': 2 }), m({ 't:0': 10 }), wm({ 't:0': [6, 12] }));
    expect(p.ranges).toEqual([{ topic: 't', partition: 0, start: 6, end: 10 }]);
    expect(p.problems).toEqual([
      'records 2..5 of t-0 were deleted (retention or DeleteRecords) before they were read; its log now starts at 6',
    ]);
  });

  it('a log that now ends before the batch end (truncated) is a problem; read what is there', () => {
    const p = planReads(m({ 't:0': 2 }), m({ 't:0': 10 }), wm({ 't:0': [0, 7] }));
    expect(p.ranges).toEqual([{ topic: 't', partition: 0, start: 2, end: 7 }]);
    expect(p.problems[0]).toContain('t-0 now ends at offset 7, but this batch covers records up to 9');
  });

  it('a partition added while running starts at earliest; not starting at 0 means records were missed', () => {
    const ok = planReads(m({ 't:0': 1 }), m({ 't:0': 1, 't:1': 4 }), wm({ 't:0': [0, 1], 't:1': [0, 4] }));
    expect(ok).toEqual({ ranges: [{ topic: 't', partition: 1, start: 0, end: 4 }], problems: [] });
    const late = planReads(m({}), m({ [tpKey('n', 0)]: 9 }), wm({ 'n:0': [5, 9] }));
    expect(late.ranges).toEqual([{ topic: 'n', partition: 0, start: 5, end: 9 }]);
    expect(late.problems[0]).toContain(
      'n-0 was added while the query ran and starts at offset 5 instead of 0',
    );
  });
});

describe('lag', () => {
  it("gives Spark's offsetsBehindLatest figures over the read partitions", () => {
    expect(lag(m({ 't:0': 10, 't:1': 5, 't:2': 7 }), m({ 't:0': 4, 't:1': 5, 't:2': 6 }))).toEqual({
      offsetsBehindLatest: 7,
      avgOffsetsBehindLatest: 2.3,
      maxOffsetsBehindLatest: 6,
      minOffsetsBehindLatest: 0,
    });
    expect(lag(m({}), m({}))).toBeNull();
  });
});
