/**
 * Ingest over HTTP into the embedded log, and count events per key with a
 * streaming query reading the log.
 *
 *   npx tsx packages/log/examples/ingest-and-count.ts [--port 8090] [--dir ./data] [--demo]
 *
 * Starts the ingest server, then a query (log → count per record key →
 * console, complete mode, a batch every second) and prints a curl command to
 * try. With --demo it posts a few events itself, prints the counts and exits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Trigger, consoleSink, count, createSession, memorySink } from 'millrace';
import { logSource, openLog, startIngestServer } from '@millrace/log';

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const demo = args.includes('--demo');
const tempDir = arg('--dir') === undefined;
const dir = arg('--dir') ?? mkdtempSync(path.join(tmpdir(), 'millrace-log-example-'));
const port = Number(arg('--port') ?? (demo ? 0 : 8090));

// One log for both: the server appends to it, the query reads it.
const log = await openLog({ dir: path.join(dir, 'log') });
await log.createTopic('clicks', { partitions: 2 }, { ifNotExists: true });
const server = await startIngestServer({ log, port });

const counts = memorySink<{ key: string | null; events: number }>();
const query = await createSession()
  .readStream(logSource({ log, topics: 'clicks', startingOffsets: 'earliest', format: 'string' }))
  .groupBy(($) => ({ key: $.key }))
  .agg(() => ({ events: count() }))
  .writeStream({
    queryName: 'clicks-per-user',
    sink: demo ? counts : consoleSink(),
    outputMode: 'complete',
    checkpointLocation: path.join(dir, 'checkpoint'),
    trigger: Trigger.processingTime('1 second'),
  })
  .start();

const curl =
  `curl -X POST '${server.url}/topics/clicks?key=user' -H 'content-type: application/x-ndjson' ` +
  `--data-binary $'{"user":"ann","page":"/"}\\n{"user":"bob","page":"/cart"}\\n{"user":"ann","page":"/pay"}'`;
process.stdout.write(
  `ingest server on ${server.url} (log in ${dir})\ntry:\n  ${curl}\n  curl ${server.url}/topics/clicks\n\n`,
);

const stop = async () => {
  await query.stop();
  await server.close();
  await log.close();
};

if (demo) {
  const body = ['ann', 'bob', 'ann', 'cid', 'ann']
    .map((user, i) => JSON.stringify({ user, page: `/p${i}` }))
    .join('\n');
  const res = await fetch(`${server.url}/topics/clicks?key=user`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/x-ndjson' },
  });
  process.stdout.write(`POST → ${res.status} ${await res.text()}\n`);
  await query.processAllAvailable();
  process.stdout.write(`events per user: ${JSON.stringify(counts.lastBatch())}\n`);
  await stop();
  if (tempDir) rmSync(dir, { recursive: true, force: true });
} else {
  process.once('SIGINT', () => void stop());
  await query.awaitTermination();
}
