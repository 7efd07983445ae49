/**
 * The parallel example as a pipeline file for the service:
 *
 *   node packages/server/bin/millrace.js run examples/parallel/pipeline.ts --workers 2
 *   node packages/server/bin/millrace.js run examples/parallel/pipeline.ts --workers 2 -- --events 4000000 --out /tmp/hot
 *
 * `--workers 2` runs the query on two worker threads (and, for a new checkpoint, two state
 * partitions); without it the query runs on the main thread. Either way the windows written to
 * `--out` are the same. The web UI's query page (http://127.0.0.1:4040 while it runs; add `--serve`
 * to keep it up afterwards) shows each partition's rows and time per batch.
 *
 * The function runs again in each worker thread, to build the query's plan there (functions cannot
 * move between threads): `ctx.role` is 'worker' then, and only 'driver' code may have side effects.
 */
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Trigger, fileSink } from 'millrace';
import { definePipeline } from '@millrace/server';
import { hotAuctions } from './queries.ts';

export default definePipeline(async (ctx) => {
  const { values } = parseArgs({
    args: [...ctx.args],
    options: {
      events: { type: 'string', default: '2000000' },
      out: { type: 'string', default: '.millrace/parallel/output' },
      checkpoint: { type: 'string', default: '.millrace/parallel/checkpoint' },
      fresh: { type: 'boolean', default: true },
    },
  });
  if (ctx.role === 'driver' && values.fresh) {
    // Each run reads the same events again: start from an empty checkpoint and output.
    rmSync(values.out, { recursive: true, force: true });
    rmSync(values.checkpoint, { recursive: true, force: true });
  }
  const query = await ctx.start(
    hotAuctions(ctx.session, { events: Number(values.events), eventsPerTrigger: 500_000 }),
    {
      queryName: 'hot-auctions',
      sink: fileSink({ path: values.out, format: 'jsonl' }),
      checkpointLocation: values.checkpoint,
      outputMode: 'append',
      trigger: Trigger.availableNow(),
    },
  );
  if (ctx.role === 'driver') ctx.log.info('hot-auctions started', { id: query.id, output: values.out });
});
