/**
 * The pipeline the socket crash test kills (socket-wal.slow.test.ts):
 *
 *   socketSource(127.0.0.1:CRASH_PORT, WAL segments of 200 lines)
 *     → select n = cast(value as long), value
 *     → fileSink(jsonl, CRASH_OUTPUT), checkpoint CRASH_CHECKPOINT
 *
 * Default trigger; SIGTERM stops the query cleanly. Prints READY, STARTED,
 * BATCH <id> <in> <out>, SINK_BEGIN/SINK_DONE <id> (see tracedSink) and DONE.
 */
import { createSession, fileSink, socketSource } from '../../src/index.ts';
import { tracedSink } from './harness.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const port = Number(env('CRASH_PORT'));
const output = env('CRASH_OUTPUT');
const checkpoint = env('CRASH_CHECKPOINT');

const out = (line: string) => process.stdout.write(line + '\n');

const session = createSession();
session.streams.addListener({
  onQueryProgress: ({ progress: p }) => out(`BATCH ${p.batchId} ${p.numInputRows} ${p.sink.numOutputRows}`),
});

const numbers = session
  .readStream(
    socketSource({
      name: 'lines',
      host: '127.0.0.1',
      port,
      segmentLines: 200,
      reconnectDelay: 20,
      maxReconnectDelay: 200,
    }),
  )
  .select(($) => ({ n: $.value.cast('long'), value: $.value }));

out('READY');
const query = await numbers
  .writeStream({
    queryName: 'crash-socket-wal',
    sink: tracedSink(fileSink({ name: 'out', path: output, format: 'jsonl' }), out),
    checkpointLocation: checkpoint,
  })
  .start();
out('STARTED');

process.once('SIGTERM', () => void query.stop());
await query.awaitTermination();
out('DONE');
