/**
 * Type tests for deduplication: key columns are checked names; the row type passes through.
 * Checked by tsc through vitest's typecheck mode; nothing here runs.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { type Stream, createSession, memoryStream, schema, t } from '../../src/index.ts';

const s = createSession().readStream(memoryStream(schema({ id: t.string, ts: t.timestamp, n: t.long })));
type R = { id: string; ts: number; n: number };

describe('dropDuplicates', () => {
  it('keeps the row type and only accepts column names of the stream', () => {
    expectTypeOf(s.dropDuplicates('id', 'ts')).toEqualTypeOf<Stream<R>>();
    expectTypeOf(s.dropDuplicates()).toEqualTypeOf<Stream<R>>();
    // @ts-expect-error — no such column
    s.dropDuplicates('nope');
    // @ts-expect-error — a column of another shape is not a name
    s.dropDuplicates(s.cols.id);
  });

  it('dropDuplicatesWithinWatermark too', () => {
    const w = s.withWatermark('ts', '1 minute');
    expectTypeOf(w.dropDuplicatesWithinWatermark('id')).toEqualTypeOf<Stream<R>>();
    // @ts-expect-error — no such column
    w.dropDuplicatesWithinWatermark('nope');
  });
});
