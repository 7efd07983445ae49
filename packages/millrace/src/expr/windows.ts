/**
 * Event-time windows (Spark's `window(col, size[, slide[, start]])`): `[start, end)`
 * intervals of `size` ms, one every `slide` ms, aligned to `startOffset`.
 * A timestamp belongs to every window that contains it: one for a tumbling
 * window, ceil(size / slide) for a sliding one.
 *
 *   t = 12, size 10, slide 5:   [5, 15) and [10, 20)
 *        0    5    10   15   20
 *        |----|----|--t-|----|
 */
import { userError } from '../errors/index.ts';
import { TIMESTAMP, type DataType } from '../schema/index.ts';

export interface WindowSpec {
  readonly sizeMs: number;
  readonly slideMs: number;
  readonly startMs: number;
}

export const WINDOW_TYPE: DataType = {
  kind: 'struct',
  fields: [
    { name: 'start', type: TIMESTAMP, nullable: false },
    { name: 'end', type: TIMESTAMP, nullable: false },
  ],
};

export function checkWindowSpec(spec: WindowSpec): WindowSpec {
  const { sizeMs, slideMs, startMs } = spec;
  if (!(sizeMs > 0))
    throw userError('INVALID_WINDOW', `window: the duration must be positive, got ${sizeMs} ms`);
  if (!(slideMs > 0) || slideMs > sizeMs) {
    throw userError(
      'INVALID_WINDOW',
      `window: the slide (${slideMs} ms) must be positive and no longer than the window (${sizeMs} ms)`,
    );
  }
  if (Math.abs(startMs) >= slideMs) {
    throw userError(
      'INVALID_WINDOW',
      `window: the start offset (${startMs} ms) must be smaller than the slide (${slideMs} ms)`,
    );
  }
  return spec;
}

/** Start of the latest window that contains t (floor to the slide grid). */
export function lastWindowStart(t: number, spec: WindowSpec): number {
  const rem = (((t - spec.startMs) % spec.slideMs) + spec.slideMs) % spec.slideMs;
  return t - rem;
}
