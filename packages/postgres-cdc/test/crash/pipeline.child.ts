/**
 * The pipeline the CDC crash test (../crash.slow.test.ts) kills and restarts:
 *
 *   postgresCdcSource(slot CRASH_SLOT, publication crash_pub, maxRowsPerTrigger 150)
 *     → { id, v, tx, lsn } of each insert
 *     → postgresSink(table CRASH_TABLE, append: a row written twice would show)
 *
 * Both on the private cluster at DATABASE_URL. Default trigger; with CRASH_FINAL=1,
 * Trigger.availableNow() and a clean exit. Stdout: READY, STARTED, BATCH <id> <rows>, DONE.
 */
import { Trigger, createSession, schema, t } from 'millrace';
import { postgresSink } from '@millrace/postgres';
import { postgresCdcSource } from '../../src/index.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const url = env('DATABASE_URL');
const out = (line: string) => process.stdout.write(line + '\n');

const session = createSession();
session.streams.addListener({
  onQueryProgress: ({ progress: p }) =>
    out(`BATCH ${p.batchId} ${p.numInputRows} ${performance.now().toFixed(0)}`),
});
const rowSchema = schema({ id: t.long, v: t.long, tx: t.long, lsn: t.string });
const changes = session
  .readStream(
    postgresCdcSource({
      connectionString: url,
      slot: env('CRASH_SLOT'),
      publication: 'crash_pub',
      maxRowsPerTrigger: 150,
      initialBackoffMs: 50,
      maxBackoffMs: 500,
    }),
  )
  .map((r) => {
    const after = r.after as { id: number; v: number };
    return { id: after.id, v: after.v, tx: r.source.txId, lsn: r.source.lsn };
  }, rowSchema);

out('READY');
const query = await changes
  .writeStream({
    queryName: 'crash-postgres-cdc',
    sink: postgresSink({
      connectionString: url,
      table: env('CRASH_TABLE'),
      createTable: true,
      initialBackoffMs: 20,
    }),
    outputMode: 'append',
    checkpointLocation: env('CRASH_CHECKPOINT'),
    trigger: process.env.CRASH_FINAL === '1' ? Trigger.availableNow() : Trigger.processingTime(50),
  })
  .start();
out(`STARTED ${performance.now().toFixed(0)}`);
process.once('SIGTERM', () => void query.stop());
await query.awaitTermination();
out('DONE');
