/**
 * The partition cases (partitionCases.ts) on worker threads: the same random batches, with a
 * restart halfway, give every batch the same rows on 2 and 3 workers as inline with 1 partition.
 * (Slow: every start spawns worker threads that load the engine.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cases } from './partitionCases.ts';
import { batches, run } from './partitionRuns.ts';
import { cleanupDirs } from './helpers.ts';

afterEach(cleanupDirs);

describe('the output on worker threads is the inline output', () => {
  for (const c of cases) {
    it(c.name, async () => {
      for (const [seed, partitions, workers] of [
        [3, 4, 2],
        [4, 3, 3],
      ] as const) {
        const data = batches(seed, 12);
        const inline = await run(c, { partitions: 1 }, data);
        expect(inline.flat().length, 'the case produces output').toBeGreaterThan(0);
        expect(
          await run(c, { partitions, workers }, data),
          `${partitions} partitions on ${workers} workers`,
        ).toEqual(inline);
      }
    });
  }
});
