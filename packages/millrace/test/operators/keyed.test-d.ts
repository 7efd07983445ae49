/**
 * Type tests for groupByKey(…).processWithState(…): the key, rows, state and
 * output are typed from the stream. Checked by tsc through vitest's typecheck mode.
 */
import { describe, expectTypeOf, it } from 'vitest';
import {
  type KeyState,
  type KeyedContext,
  type KeyedStream,
  type Stream,
  type TimerInfo,
  createSession,
  memoryStream,
  schema,
  t,
} from '../../src/index.ts';

const s = createSession().readStream(memoryStream(schema({ id: t.string, ts: t.timestamp, n: t.long })));
type R = { id: string; ts: number; n: number };
const out = schema({ id: t.string, total: t.long });
type O = { id: string; total: number };

describe('groupByKey', () => {
  it('types the key from a column name, a column or an object of columns', () => {
    expectTypeOf(s.groupByKey('id')).toEqualTypeOf<KeyedStream<R, string>>();
    expectTypeOf(s.groupByKey(($) => $.n)).toEqualTypeOf<KeyedStream<R, number>>();
    expectTypeOf(s.groupByKey(($) => ({ id: $.id, n: $.n }))).toEqualTypeOf<
      KeyedStream<R, { id: string; n: number }>
    >();
    // @ts-expect-error — no such column
    s.groupByKey('nope');
  });
});

describe('processWithState', () => {
  it("passes the stream's row type to process and returns a stream of the output type", () => {
    const r = s.groupByKey('id').processWithState<{ total: number }, O>({
      outputSchema: out,
      outputMode: 'update',
      timeMode: 'processingTime',
      process(key, rows, state, ctx) {
        expectTypeOf(key).toEqualTypeOf<string>();
        expectTypeOf(rows).toEqualTypeOf<R[]>();
        expectTypeOf(state).toEqualTypeOf<KeyState<{ total: number }>>();
        expectTypeOf(ctx).toEqualTypeOf<KeyedContext>();
        expectTypeOf(state.get()).toEqualTypeOf<{ total: number } | undefined>();
        return [{ id: key, total: rows.length }];
      },
      onTimer(key, timer) {
        expectTypeOf(timer).toEqualTypeOf<TimerInfo>();
        return [{ id: key, total: 0 }];
      },
    });
    expectTypeOf(r).toEqualTypeOf<Stream<O>>();
  });

  it('infers the output type from the schema and checks what process returns', () => {
    const r = s.groupByKey('id').processWithState({
      outputSchema: out,
      outputMode: 'append',
      timeMode: 'none',
      process: (id, rows) => [{ id, total: rows.length }],
    });
    expectTypeOf(r).toEqualTypeOf<Stream<O>>();
    s.groupByKey('id').processWithState({
      outputSchema: out,
      outputMode: 'append',
      timeMode: 'none',
      // @ts-expect-error — total must be a number
      process: (id) => [{ id, total: 'x' }],
    });
    s.groupByKey('id').processWithState({
      outputSchema: out,
      // @ts-expect-error — complete mode is not a keyed-state output mode
      outputMode: 'complete',
      timeMode: 'none',
      process: () => [],
    });
  });
});
