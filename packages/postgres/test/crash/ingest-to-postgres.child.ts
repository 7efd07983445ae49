/**
 * The process the end-to-end crash test (../ingest-to-postgres.slow.test.ts) kills and restarts.
 * One process runs both halves, sharing one open Log:
 *
 *   HTTP ingest (ingestPlugin on fastify)          the query
 *   POST /topics/events?key=k (NDJSON,             logSource(log, "events", json {k, n, ts}, failFast,
 *        Idempotency-Key)                                    maxOffsetsPerTrigger 200)
 *     → log.append (fsync 'always') → 200            → withWatermark(ts, 10 s)
 *          (~30% of answers held 1–25 ms after        → groupBy(window(ts, 1 s), k).agg(c: count, s: sum n)
 *           the append is durable, so kills land       → { window_start, k, c, s }          append mode
 *           in "stored, not acknowledged")             → postgresSink(CRASH_TABLE, INSERT, createTable)
 *
 * Env: CRASH_LOG_DIR, CRASH_CHECKPOINT, CRASH_TABLE, CRASH_SINK, DATABASE_URL, CRASH_SEED,
 * CRASH_STALL_AT (optional).
 * Stdout markers (a pipe, written synchronously on Linux):
 *   LISTENING <port>            the ingest server accepts requests
 *   READY / STARTED             the query is built / started (checkpoint open, recovery decided)
 *   SINK_BEGIN N / SINK_DONE N  around the sink's write of batch N (DONE: PostgreSQL committed)
 *   STALL N                     with CRASH_STALL_AT=k: after the k-th SINK_DONE of this process the
 *                               whole process blocks 10 s, so a kill lands between the PostgreSQL
 *                               COMMIT and commits/N
 *   DONE                        SIGTERM: the query stopped, the server and the log closed
 */
import fastify from 'fastify';
import { count, createSession, schema, sum, t, window } from 'millrace';
import { ingestPlugin, logSource, openLog } from '@millrace/log';
import { prng, tracedSink } from '../../../millrace/test/crash/harness.ts';
import { postgresSink } from '../../src/index.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const out = (line: string) => process.stdout.write(line + '\n');
const rng = prng(Number(process.env.CRASH_SEED ?? 1));
const stallAt = process.env.CRASH_STALL_AT ? Number(process.env.CRASH_STALL_AT) : undefined;

const log = await openLog({ dir: env('CRASH_LOG_DIR'), fsync: 'always', topicDefaults: { partitions: 3 } });
await log.createTopic('events', { partitions: 3 }, { ifNotExists: true });

// The ingest server: the plugin on a fastify app with a hook that sometimes holds a 200 answer
// after the append is durable (startIngestServer has no place for such a hook).
const app = fastify({ forceCloseConnections: 'idle' });
app.addHook('onSend', async (_req, reply, payload) => {
  if (reply.statusCode === 200 && rng() < 0.3)
    await new Promise((r) => setTimeout(r, 1 + Math.floor(rng() * 25)));
  return payload;
});
await app.register(ingestPlugin, { log });
await app.listen({ host: '127.0.0.1', port: 0 });
const addr = app.server.address();
out(`LISTENING ${typeof addr === 'object' && addr ? addr.port : 0}`);

// The query.
const inner = postgresSink({
  connectionString: env('DATABASE_URL'),
  table: env('CRASH_TABLE'),
  name: env('CRASH_SINK'),
  createTable: true,
  initialBackoffMs: 20,
});
const sink = tracedSink(inner, out, { stallAtWrite: stallAt });

const outSchema = schema({ window_start: t.timestamp, k: t.string, c: t.long, s: t.long });
const counts = createSession()
  .readStream(
    logSource({
      name: 'events',
      log,
      topics: 'events',
      startingOffsets: 'earliest',
      maxOffsetsPerTrigger: 200,
      format: { json: schema({ k: t.string, n: t.long, ts: t.timestamp }), mode: 'failFast' },
    }),
  )
  .withWatermark('ts', '10 seconds')
  .groupBy(($) => ({ window: window($.ts, '1 second'), k: $.k }))
  .agg(($) => ({ c: count(), s: sum($.n) }))
  .map(
    (r) => ({ window_start: (r.window as { start: number }).start, k: r.k, c: r.c, s: r.s ?? 0 }),
    outSchema,
  );

out('READY');
const query = await counts
  .writeStream({
    queryName: 'e2e-ingest-to-postgres',
    sink,
    outputMode: 'append',
    checkpointLocation: env('CRASH_CHECKPOINT'),
  })
  .start();
out('STARTED');
process.once('SIGTERM', () => void query.stop());
await query.awaitTermination();
await app.close();
await log.close();
out('DONE');
