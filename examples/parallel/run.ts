/**
 * Parallel execution, step by step: the same query inline (one thread) and on worker threads,
 * with the same answer and each run's time.
 *
 *   npx tsx examples/parallel/run.ts [--events 2000000] [--workers 2] [--partitions 4]
 *
 * It prints the plan on workers (see the Exchange under the aggregation), each run's wall time
 * and events per second, the last batch's per-partition figures (rows and time per partition, the
 * slowest), and whether both runs wrote the same rows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Trigger, createSession, foreachBatchSink } from 'millrace';
import { hotAuctions } from './queries.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '2000000' },
    workers: { type: 'string', default: '2' },
    partitions: { type: 'string' },
  },
});
const args = { events: Number(values.events), eventsPerTrigger: 500_000 };
const workers = Number(values.workers);
const partitions = Number(values.partitions ?? workers);

async function run(onWorkers: boolean): Promise<{ seconds: number; rows: string[] }> {
  const session = createSession();
  const rows: string[] = [];
  const checkpointLocation = mkdtempSync(path.join(tmpdir(), 'millrace-parallel-'));
  const writer = hotAuctions(session, args).writeStream({
    sink: foreachBatchSink((batch) => {
      for (const r of batch) rows.push(JSON.stringify(r));
    }),
    checkpointLocation,
    outputMode: 'append',
    trigger: Trigger.availableNow(),
    partitions: onWorkers ? partitions : 1,
    ...(onWorkers
      ? {
          workers: {
            count: workers,
            module: new URL('./queries.ts', import.meta.url),
            export: 'hotAuctions',
            args,
          },
        }
      : {}),
  });
  if (onWorkers) console.log(`${writer.explain().split('== Physical Plan ==')[1]!.trim()}\n`);
  const t0 = performance.now();
  const query = await writer.start();
  await query.awaitTermination();
  const seconds = (performance.now() - t0) / 1000;
  const label = onWorkers ? `${workers} worker threads, ${partitions} partitions` : 'inline (one thread)';
  console.log(
    `${label}: ${seconds.toFixed(2)} s, ${Math.round(args.events / seconds).toLocaleString('en-US')} events/s, ${rows.length} windows`,
  );
  const op = query.recentProgress.filter((p) => p.numInputRows > 0).at(-1)?.stateOperators[0];
  if (op?.partitions) {
    const p = op.partitions;
    console.log(
      `  last batch: ${p.tasks.map((t) => `p${t.partition} ${t.numInputRows} rows ${t.processingMs.toFixed(0)} ms`).join(', ')}; slowest p${p.slowestPartition}`,
    );
  }
  rmSync(checkpointLocation, { recursive: true, force: true });
  return { seconds, rows: rows.sort() };
}

const inline = await run(false);
const parallel = await run(true);
const same =
  inline.rows.length === parallel.rows.length && inline.rows.every((r, i) => r === parallel.rows[i]);
console.log(same ? 'same rows from both runs' : 'THE RUNS DIFFER');
process.exitCode = same ? 0 : 1;
