/**
 * `window(time, sizeMs, slideMs, startMs)` as a row function: the tumbling
 * window struct containing `time`. In `groupBy` the aggregation operator
 * handles window keys itself (one row may fall in several sliding windows);
 * outside it only tumbling windows have a single value per row.
 * `session_window(time, gap)` is typed here but has no row value at all: it
 * only works as a groupBy key (operators/session/SessionAggregate.ts).
 */
import { userError } from '../../errors/index.ts';
import { type DataType, typeEquals } from '../../schema/index.ts';
import { WINDOW_TYPE, checkWindowSpec, lastWindowStart, type WindowSpec } from '../windows.ts';
import type { ArgInfo, FunctionDef } from './FunctionDef.ts';
import { expectArg, literalArg } from './argcheck.ts';
import { parseDuration } from '../../util/durations.ts';

export function windowSpecOf(args: readonly ArgInfo[]): WindowSpec {
  return checkWindowSpec({
    sizeMs: literalArg<number>('window', args, 1, 'window duration in ms'),
    slideMs: literalArg<number>('window', args, 2, 'slide duration in ms'),
    startMs: literalArg<number>('window', args, 3, 'start offset in ms'),
  });
}

/** A `{ start, end }` window struct, as window() and session_window() produce. */
export function isWindowStruct(t: DataType): boolean {
  return typeEquals(t, WINDOW_TYPE);
}

/** The event time of a value: a timestamp itself, or a window's `end - 1` (Spark's window_time). */
export function eventTimeOf(t: DataType): ((v: unknown) => number | null) | null {
  if (t.kind === 'timestamp') return (v) => (v as number | null) ?? null;
  if (isWindowStruct(t)) return (v) => (v == null ? null : (v as { end: number }).end - 1);
  return null;
}

export const windowFunctions: FunctionDef[] = [
  {
    name: 'window',
    minArgs: 4,
    maxArgs: 4,
    returnType: (a) => {
      // The time may be a window struct (a window column of an earlier aggregation): its time is end - 1.
      if (!isWindowStruct(a[0]!.type)) expectArg('window', a, 0, 'timestamp');
      windowSpecOf(a);
      return WINDOW_TYPE;
    },
    impl: (a) => {
      const spec = windowSpecOf(a);
      const fromStruct = isWindowStruct(a[0]!.type);
      if (spec.slideMs !== spec.sizeMs) {
        throw userError(
          'INVALID_WINDOW',
          'a sliding window has several values per row: use it as a groupBy key, e.g. groupBy($ => ({ window: window($.t, "10 seconds", "5 seconds") }))',
        );
      }
      return (v: number | { end: number }) => {
        const t = fromStruct ? (v as { end: number }).end - 1 : (v as number);
        const start = lastWindowStart(t, spec);
        return { start, end: start + spec.sizeMs };
      };
    },
  },
  {
    // session_window(time, gap): the gap is ms (number) or duration text ('5 minutes'), literal or per row.
    // Only the session aggregation operator (operators/session) evaluates it, as a groupBy key.
    name: 'session_window',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => {
      expectArg('session_window', a, 0, 'timestamp');
      expectArg('session_window', a, 1, 'numeric', 'string');
      const gap = a[1]!.literal?.value;
      if (typeof gap === 'number' && !(gap > 0)) {
        throw userError('INVALID_WINDOW', `session_window: the gap must be positive, got ${gap} ms`);
      }
      if (typeof gap === 'string' && !(parseDuration(gap, 'session_window gap') > 0)) {
        throw userError('INVALID_WINDOW', `session_window: the gap must be positive, got "${gap}"`);
      }
      return WINDOW_TYPE;
    },
    // Rows without a time or a positive gap get no session (they are dropped), so the key is never null.
    resultNullable: () => false,
    impl: () => {
      throw userError(
        'INVALID_WINDOW',
        'session_window has no value for a single row (a session spans rows and merges as they arrive): ' +
          "use it as a groupBy key, e.g. groupBy($ => ({ session: sessionWindow($.t, '5 minutes'), user: $.user }))",
      );
    },
  },
];
