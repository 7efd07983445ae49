/**
 * `window(time, sizeMs, slideMs, startMs)` as a row function: the tumbling
 * window struct containing `time`. In `groupBy` the aggregation operator
 * handles window keys itself (one row may fall in several sliding windows);
 * outside it only tumbling windows have a single value per row.
 */
import { userError } from '../../errors/index.ts';
import { WINDOW_TYPE, checkWindowSpec, lastWindowStart, type WindowSpec } from '../windows.ts';
import type { ArgInfo, FunctionDef } from './FunctionDef.ts';
import { expectArg, literalArg } from './argcheck.ts';

export function windowSpecOf(args: readonly ArgInfo[]): WindowSpec {
  return checkWindowSpec({
    sizeMs: literalArg<number>('window', args, 1, 'window duration in ms'),
    slideMs: literalArg<number>('window', args, 2, 'slide duration in ms'),
    startMs: literalArg<number>('window', args, 3, 'start offset in ms'),
  });
}

export const windowFunctions: FunctionDef[] = [
  {
    name: 'window',
    minArgs: 4,
    maxArgs: 4,
    returnType: (a) => {
      expectArg('window', a, 0, 'timestamp');
      windowSpecOf(a);
      return WINDOW_TYPE;
    },
    impl: (a) => {
      const spec = windowSpecOf(a);
      if (spec.slideMs !== spec.sizeMs) {
        throw userError(
          'INVALID_WINDOW',
          'a sliding window has several values per row: use it as a groupBy key, e.g. groupBy($ => ({ window: window($.t, "10 seconds", "5 seconds") }))',
        );
      }
      return (t: number) => {
        const start = lastWindowStart(t, spec);
        return { start, end: start + spec.sizeMs };
      };
    },
  },
];
