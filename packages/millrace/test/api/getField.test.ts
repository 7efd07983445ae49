import { expect, it } from 'vitest';
import { count, createSession, memoryStream, schema, t, window } from '../../src/index.ts';
import { testStream } from '../../src/testing/index.ts';

it('getField reads a struct field (a window start), and names the fields when asked for one that is not there', async () => {
  const input = memoryStream(schema({ at: t.timestamp }));
  const counts = createSession()
    .readStream(input)
    .groupBy(($) => ({ w: window($.at, '10 seconds') }))
    .agg({ n: count() });
  const q = counts.select(($) => ({ start: $.w.getField('start'), n: $.n }));
  expect(q.schema.toString()).toBe('[start: timestamp, n: long]');
  await testStream(q, { outputMode: 'complete' })
    .addData(input, [{ at: 1_000 }, { at: 12_000 }, { at: 13_000 }])
    .checkLastBatch([
      { start: 0, n: 1 },
      { start: 10_000, n: 2 },
    ])
    .run();
  expect(() => counts.select(($) => ({ x: $.w.getField('middle' as 'start') }))).toThrow(
    /get_field: the struct has no field "middle"; its fields are start, end/,
  );
});
