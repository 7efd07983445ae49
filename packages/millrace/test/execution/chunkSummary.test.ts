/** A source that reads in chunks reports malformed records and metrics through summary(). */
import { afterEach, expect, it } from 'vitest';
import { type Source, createSession, memorySink, schema, t } from '../../src/index.ts';
import { cleanupDirs, tempDir } from './helpers.ts';

afterEach(cleanupDirs);

it('progress shows what getBatchChunks summary() reports once the chunks are read', async () => {
  const rows = [{ n: 1 }, { n: 2 }, { n: 3 }];
  let summaries = 0;
  const source: Source<{ n: number }> = {
    name: 'chunky',
    schema: schema({ n: t.long }),
    replayable: true,
    describe: () => 'Chunky',
    open: async () => {},
    latestOffset: async () => rows.length,
    getBatch: async () => {
      throw new Error('getBatchChunks is preferred');
    },
    getBatchChunks: (start, end) => {
      const slice = rows.slice(Number(start ?? 0), Number(end));
      return {
        async *[Symbol.asyncIterator]() {
          yield slice.slice(0, 1);
          yield slice.slice(1);
        },
        summary: () => {
          summaries++;
          return { malformedRows: 2, metrics: { maxOffsetsBehindLatest: 7 } };
        },
      };
    },
    commit: async () => {},
    close: async () => {},
  };
  const sink = memorySink();
  const q = await createSession()
    .readStream(source)
    .writeStream({ sink, checkpointLocation: tempDir('millrace-chunks-') })
    .start();
  await q.processAllAvailable();
  await q.stop();
  expect(sink.allRows()).toEqual(rows);
  expect(summaries).toBe(1);
  const p = q.recentProgress.find((x) => x.numInputRows > 0)!;
  expect(p.sources[0]!.numMalformedRows).toBe(2);
  expect(p.sources[0]!.metrics).toEqual({ maxOffsetsBehindLatest: 7 });
});
