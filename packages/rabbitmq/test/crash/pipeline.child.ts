/**
 * The pipeline the RabbitMQ crash test kills (crash.slow.test.ts):
 *
 *   rabbitmqSource(CRASH_QUEUE, JSON { n }, WAL in the checkpoint)
 *     → select n → fileSink(jsonl, CRASH_OUTPUT), checkpoint CRASH_CHECKPOINT
 *
 * Prints READY, STARTED, BATCH <id> <rows> <duplicatesDropped so far>,
 * SINK_BEGIN/SINK_DONE <id> (tracedSink), DONE. With CRASH_STALL_AT=k the
 * k-th write-ahead-log append blocks the whole process for 10 s right after
 * its fsync, before the broker is acknowledged (prints STALL): a kill then
 * lands exactly between "durable in the WAL" and "acknowledged", and the
 * broker redelivers what the WAL already holds. SIGTERM stops cleanly.
 */
import { createSession, fileSink, schema, t } from 'millrace';
import { tracedSink } from '../../../millrace/test/crash/harness.ts';
import { rabbitmqSource } from '../../src/index.ts';
import { MessageWal } from '@millrace/log';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const out = (line: string) => process.stdout.write(line + '\n');

const stallAt = process.env.CRASH_STALL_AT ? Number(process.env.CRASH_STALL_AT) : undefined;
if (stallAt !== undefined) {
  const append = MessageWal.prototype.append;
  let appends = 0;
  MessageWal.prototype.append = async function (this: MessageWal, entries) {
    await append.call(this, entries);
    if (entries.length > 0 && ++appends === stallAt) {
      out(`STALL ${entries.length}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
    }
  };
}

const session = createSession();
session.streams.addListener({
  onQueryProgress: ({ progress: p }) =>
    out(`BATCH ${p.batchId} ${p.numInputRows} ${p.sources[0]?.metrics?.duplicatesDropped ?? 0}`),
});

const rows = session
  .readStream(
    rabbitmqSource({
      name: 'numbers',
      url: env('CRASH_URL'),
      queue: env('CRASH_QUEUE'),
      prefetch: 500,
      format: { json: schema({ n: t.long }), mode: 'failFast' },
      reconnectDelayMs: 20,
      maxReconnectDelayMs: 200,
    }),
  )
  .select(($) => ({ n: $.n }));

out('READY');
const query = await rows
  .writeStream({
    queryName: 'crash-rabbitmq',
    sink: tracedSink(fileSink({ name: 'out', path: env('CRASH_OUTPUT'), format: 'jsonl' }), out),
    checkpointLocation: env('CRASH_CHECKPOINT'),
  })
  .start();
out('STARTED');

process.once('SIGTERM', () => void query.stop());
await query.awaitTermination();
out('DONE');
