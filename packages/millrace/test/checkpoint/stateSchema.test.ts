/**
 * operatorStateInfo (plan/stateSchema.ts): the key and value fields each stateful node keeps,
 * from plans built through the public API — and that the changes that would misread state show
 * up in them (checked with checkLayout, as a restart does).
 */
import { describe, expect, it } from 'vitest';
import {
  count,
  createSession,
  interval,
  max,
  memoryStream,
  schema,
  sessionWindow,
  sum,
  t,
  window,
  type Stream,
} from '../../src/index.ts';
import { checkLayout } from '../../src/checkpoint/index.ts';
import { type OperatorStateInfo, isStatefulPlan, operatorStateInfo } from '../../src/plan/stateSchema.ts';

const session = createSession();
const bids = memoryStream(schema({ user: t.string, price: t.long, ts: t.timestamp }));
const clicks = memoryStream(schema({ user: t.string, clickAt: t.timestamp }));
const watermarked = () => session.readStream(bids).withWatermark('ts', '10 seconds');

function info(stream: Stream<any>, id: string): OperatorStateInfo {
  const p = stream.plan;
  if (!isStatefulPlan(p)) throw new Error(`not a stateful node: ${p.kind}`);
  const i = operatorStateInfo(p, id);
  // Written to disk as JSON: nothing may be lost on the way.
  expect(JSON.parse(JSON.stringify(i))).toEqual(i);
  return i;
}

/** checkLayout's verdict on one operator recorded as `before` and planned as `after`. */
function verdict(before: OperatorStateInfo, after: OperatorStateInfo) {
  return checkLayout(
    { numPartitions: 1, operators: [before] },
    { numPartitions: 1, operators: [after] },
    '/cp',
  );
}

describe('operatorStateInfo', () => {
  it('an aggregation with a window key: the keys (the window with its spec), each aggregate with its function', () => {
    const q = watermarked()
      .groupBy(($) => ({ w: window($.ts, '10 seconds', '5 seconds'), user: $.user }))
      .agg(($) => ({ n: count(), total: sum($.price) }));
    expect(info(q, 'aggregate-0')).toEqual({
      id: 'aggregate-0',
      kind: 'aggregate',
      format: 2,
      keySchema: [
        {
          name: 'w',
          type: 'struct<start: timestamp, end: timestamp>',
          function: 'window(ts, 10000, 5000, 0)',
        },
        { name: 'user', type: 'string' },
      ],
      valueSchema: [
        { name: 'n', type: 'long', function: 'count(*)' },
        { name: 'total', type: 'long', function: 'sum(price)' },
      ],
    });
  });

  it('an aggregation keyed by a watermarked time column marks it: the store keys start with its time', () => {
    const byTs = (s: Stream<any>) =>
      s.groupBy(($: any) => ({ ts: $.ts, user: $.user })).agg(($: any) => ({ top: max($.price) }));
    const marked = info(byTs(watermarked()), 'aggregate-0');
    expect(marked.keySchema).toEqual([
      { name: 'ts', type: 'timestamp', function: 'event time' },
      { name: 'user', type: 'string' },
    ]);
    expect(marked.valueSchema).toEqual([{ name: 'top', type: 'long', function: 'max(price)' }]);
    // Adding the watermark later changes the layout of the keys: refused.
    const plain = info(byTs(session.readStream(bids)), 'aggregate-0');
    expect(plain.keySchema[0]).toEqual({ name: 'ts', type: 'timestamp' });
    expect(verdict(plain, marked)?.message).toContain(
      'key field "ts" changed from timestamp to event time: timestamp',
    );
  });

  it('a session window aggregation is a sessionAggregate', () => {
    const q = watermarked()
      .groupBy(($) => ({ s: sessionWindow($.ts, '5 minutes'), user: $.user }))
      .agg(($) => ({ n: count(), spent: sum($.price) }));
    expect(info(q, 'sessionAggregate-0')).toEqual({
      id: 'sessionAggregate-0',
      kind: 'sessionAggregate',
      format: 1,
      keySchema: [
        { name: 's', type: 'struct<start: timestamp, end: timestamp>' },
        { name: 'user', type: 'string' },
      ],
      valueSchema: [
        { name: 'n', type: 'long', function: 'count(*)' },
        { name: 'spent', type: 'long', function: 'sum(price)' },
      ],
    });
  });

  it('dropDuplicates: the columns, and what is stored per key (the mode)', () => {
    expect(info(session.readStream(bids).dropDuplicates('user'), 'dedup-0')).toEqual({
      id: 'dedup-0',
      kind: 'dedup',
      format: 1,
      keySchema: [{ name: 'user', type: 'string' }],
      valueSchema: [{ name: 'seen', type: 'boolean', function: 'dropDuplicates' }],
    });
    expect(info(watermarked().dropDuplicates('user', 'ts'), 'dedup-0')).toEqual({
      id: 'dedup-0',
      kind: 'dedup',
      format: 1,
      keySchema: [
        { name: 'user', type: 'string' },
        { name: 'ts', type: 'timestamp', function: 'event time' },
      ],
      valueSchema: [{ name: 'seen', type: 'timestamp', function: 'dropDuplicates' }],
    });
    expect(info(watermarked().dropDuplicatesWithinWatermark('user'), 'dedup-0')).toEqual({
      id: 'dedup-0',
      kind: 'dedup',
      format: 1,
      keySchema: [{ name: 'user', type: 'string' }],
      valueSchema: [{ name: 'seen', type: 'timestamp', function: 'dropDuplicatesWithinWatermark' }],
    });
  });

  it('dropDuplicates without columns keys by every column', () => {
    expect(info(session.readStream(clicks).dropDuplicates(), 'dedup-0').keySchema).toEqual([
      { name: 'user', type: 'string' },
      { name: 'clickAt', type: 'timestamp' },
    ]);
  });

  it('a stream–stream join: the equality keys, and both sides buffered whole', () => {
    const q = watermarked().join(session.readStream(clicks).withWatermark('clickAt', '10 seconds'), {
      on: ['user'],
      where: (l, r) => r.clickAt.between(l.ts, l.ts.plus(interval('20 seconds'))),
      type: 'leftOuter',
    });
    expect(info(q, 'join-0')).toEqual({
      id: 'join-0',
      kind: 'join',
      format: 1,
      keySchema: [{ name: 'user', type: 'string' }],
      valueSchema: [
        { name: 'left.user', type: 'string' },
        { name: 'left.price', type: 'long' },
        { name: 'left.ts', type: 'timestamp' },
        { name: 'right.user', type: 'string' },
        { name: 'right.clickAt', type: 'timestamp' },
      ],
    });
  });

  it('a join on a condition names both sides of each key', () => {
    const other = memoryStream(schema({ buyer: t.string, at: t.timestamp }));
    const q = session.readStream(bids).join(session.readStream(other), {
      on: (l, r) => l.user.eq(r.buyer),
    });
    expect(info(q, 'join-0').keySchema).toEqual([{ name: 'user = buyer', type: 'string' }]);
  });

  it('processWithState: the key, the time mode of the timers, and whether there is a TTL', () => {
    const out = schema({ user: t.string, n: t.long });
    const q = watermarked()
      .groupByKey('user')
      .processWithState<number, { user: string; n: number }>({
        name: 'carts',
        outputSchema: out,
        outputMode: 'update',
        timeMode: 'eventTime',
        ttl: '1 hour',
        process() {},
      });
    expect(info(q, 'processWithState-0-carts')).toEqual({
      id: 'processWithState-0-carts',
      kind: 'keyed',
      format: 1,
      keySchema: [{ name: 'user', type: 'string' }],
      valueSchema: [
        { name: 'state', type: 'any' },
        { name: 'timers', type: 'timestamp', function: 'timeMode=eventTime' },
        { name: 'ttl', type: 'timestamp' },
      ],
    });
    // An object key is stored as an object, so its fields are named apart from a single key's.
    const objectKey = session
      .readStream(bids)
      .groupByKey(($) => ({ user: $.user, price: $.price }))
      .processWithState<number, { user: string; n: number }>({
        outputSchema: out,
        outputMode: 'update',
        timeMode: 'none',
        process() {},
      });
    expect(info(objectKey, 'processWithState-0')).toEqual({
      id: 'processWithState-0',
      kind: 'keyed',
      format: 1,
      keySchema: [
        { name: 'key.user', type: 'string' },
        { name: 'key.price', type: 'long' },
      ],
      valueSchema: [
        { name: 'state', type: 'any' },
        { name: 'timers', type: 'timestamp', function: 'timeMode=none' },
      ],
    });
  });
});

describe('changes a restart must refuse, from real plans', () => {
  const byUser = () => session.readStream(bids).groupBy('user');

  it('agg({ total: sum }) → agg({ n: count(), total: sum }) and sum → max', () => {
    const before = info(
      byUser().agg(($) => ({ total: sum($.price) })),
      'aggregate-0',
    );
    const added = info(
      byUser().agg(($) => ({ n: count(), total: sum($.price) })),
      'aggregate-0',
    );
    const e = verdict(before, added);
    expect(e?.code).toBe('STATE_SCHEMA_INCOMPATIBLE');
    expect(e?.message).toContain('aggregate-0: value field "n" (count(*): long) added');
    const maxed = info(
      byUser().agg(($) => ({ total: max($.price) })),
      'aggregate-0',
    );
    expect(verdict(before, maxed)?.message).toContain(
      'value field "total" changed from sum(price): long to max(price): long',
    );
    expect(
      verdict(
        before,
        info(
          byUser().agg(($) => ({ total: sum($.price) })),
          'aggregate-0',
        ),
      ),
    ).toBeNull();
  });

  it('another window size', () => {
    const windowed = (size: string) =>
      info(
        watermarked()
          .groupBy(($) => ({ w: window($.ts, size) }))
          .agg({ n: count() }),
        'aggregate-0',
      );
    expect(verdict(windowed('10 seconds'), windowed('1 minute'))?.message).toContain(
      'key field "w" changed from window(ts, 10000, 10000, 0): struct<start: timestamp, end: timestamp> to window(ts, 60000, 60000, 0)',
    );
  });

  it('dropDuplicates → dropDuplicatesWithinWatermark', () => {
    const e = verdict(
      info(watermarked().dropDuplicates('user'), 'dedup-0'),
      info(watermarked().dropDuplicatesWithinWatermark('user'), 'dedup-0'),
    );
    expect(e?.message).toContain(
      'dedup-0: value field "seen" changed from dropDuplicates: boolean to dropDuplicatesWithinWatermark: timestamp',
    );
  });

  it('processWithState: another time mode, a TTL added', () => {
    const keyed = (timeMode: 'processingTime' | 'eventTime', ttl?: string) =>
      info(
        watermarked()
          .groupByKey('user')
          .processWithState<number, { user: string }>({
            outputSchema: schema({ user: t.string }),
            outputMode: 'update',
            timeMode,
            ...(ttl === undefined ? {} : { ttl }),
            process() {},
          }),
        'processWithState-0',
      );
    const e = verdict(keyed('processingTime'), keyed('eventTime', '1 hour'));
    expect(e?.message).toContain(
      'processWithState-0: value field "ttl" (timestamp) added; value field "timers" changed from timeMode=processingTime: timestamp to timeMode=eventTime: timestamp',
    );
    // The TTL's duration does not shape state (each key stores its own expiry).
    expect(verdict(keyed('eventTime', '1 hour'), keyed('eventTime', '2 hours'))).toBeNull();
  });
});
