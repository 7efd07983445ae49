/**
 * The pipeline the NATS crash test (../crash.slow.test.ts) kills and restarts:
 *   jetStreamSource(stream CRASH_IN, maxMessagesPerTrigger CRASH_PER_TRIGGER) → { i }
 *     → jetStreamSink(subject CRASH_OUT)
 * Default trigger; with CRASH_FINAL=1, Trigger.availableNow() and a clean exit.
 * Stdout: READY, STARTED, SINK_BEGIN N / SINK_DONE N, STALL N (CRASH_STALL_AT=k: the process blocks
 * for 10 s after the k-th sink write, so a kill lands between the publish and commits/N), DONE.
 */
import { Trigger, createSession, schema, t } from 'millrace';
import { tracedSink } from '../../../millrace/test/crash/harness.ts';
import { jetStreamSink, jetStreamSource } from '../../src/index.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const servers = env('NATS_URL');
const final = process.env.CRASH_FINAL === '1';
const stallAt = process.env.CRASH_STALL_AT ? Number(process.env.CRASH_STALL_AT) : undefined;
const out = (line: string) => process.stdout.write(line + '\n');
const retry = { initialBackoffMs: 20, maxBackoffMs: 500 };

const sink = tracedSink(
  jetStreamSink({ servers, subject: env('CRASH_OUT'), name: 'crash-out', ...retry }),
  out,
  { stallAtWrite: stallAt },
);
out('READY');
const query = await createSession()
  .readStream(
    jetStreamSource({
      servers,
      stream: env('CRASH_IN'),
      maxMessagesPerTrigger: Number(env('CRASH_PER_TRIGGER')),
      name: 'crash-input',
      ...retry,
    }),
  )
  .map((m) => ({ i: (JSON.parse(m.data) as { i: number }).i }), schema({ i: t.long }))
  .writeStream({
    queryName: 'crash-nats',
    sink,
    checkpointLocation: env('CRASH_CHECKPOINT'),
    trigger: final ? Trigger.availableNow() : Trigger.default(),
  })
  .start();
out('STARTED');
process.once('SIGTERM', () => void query.stop());
await query.awaitTermination();
out('DONE');
