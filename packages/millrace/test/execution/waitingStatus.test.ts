/**
 * ConnectorContext.reportWaiting: a connector that waits for a service (a broker that went away)
 * says so, and the query status shows it (message and `waitingFor`) until the connector says it
 * is back. Real memory source and sink, subclassed only to keep the context open() receives.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ConnectorContext,
  MemorySink,
  MemoryStream,
  type Row,
  type SinkBatchInfo,
  type SinkContext,
  type SinkWriteResult,
  type StreamingQuery,
  createSession,
  schema,
  t,
} from '../../src/index.ts';
import { cleanupDirs, deferred, tempDir, waitFor } from './helpers.ts';

const V = schema({ v: t.long });
type VRow = { v: number };

class ReportingStream extends MemoryStream<VRow> {
  ctx: ConnectorContext | undefined;
  override async open(ctx: ConnectorContext): Promise<void> {
    this.ctx = ctx;
    await super.open(ctx);
  }
}

/** A sink whose addBatch can be held open, as one retrying a database that went away. */
class ReportingSink extends MemorySink<VRow> {
  ctx: SinkContext | undefined;
  hold: Promise<void> | undefined;
  override async open(ctx: SinkContext): Promise<void> {
    this.ctx = ctx;
    await super.open(ctx);
  }
  override async addBatch(rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult> {
    await this.hold;
    return super.addBatch(rows, info);
  }
}

const queries: StreamingQuery[] = [];
afterEach(async () => {
  for (const q of queries.splice(0)) await q.stop().catch(() => undefined);
  cleanupDirs();
});

async function start(): Promise<{ q: StreamingQuery; source: ReportingStream; sink: ReportingSink }> {
  const source = new ReportingStream(V, 'orders');
  const sink = new ReportingSink('out');
  const q = await createSession()
    .readStream(source)
    .writeStream({ sink, queryName: 'waiting', checkpointLocation: tempDir() })
    .start();
  queries.push(q);
  await q.processAllAvailable();
  return { q, source, sink };
}

describe('status while a connector waits for a service', () => {
  it('says what the source waits for, then clears when it is back', async () => {
    const { q, source } = await start();
    expect(q.status.message).toBe('Waiting for data to arrive');
    expect(q.status.waitingFor).toBeUndefined();
    const before = Date.now();

    source.ctx!.reportWaiting!('Broker at amqp://mq:5672: connection refused');
    expect(q.status.message).toBe('Waiting for Broker at amqp://mq:5672: connection refused');
    expect(q.status.waitingFor).toEqual([
      {
        connector: 'source "orders"',
        what: 'Broker at amqp://mq:5672: connection refused',
        since: expect.any(String),
      },
    ]);
    const since = Date.parse(q.status.waitingFor![0]!.since);
    expect(since).toBeGreaterThanOrEqual(before - 1);

    // The next idle poll sets "Waiting for data to arrive" again underneath; the wait stays shown.
    await q.processAllAvailable();
    await q.processAllAvailable();
    expect(q.status.message).toBe('Waiting for Broker at amqp://mq:5672: connection refused');

    // Another error text during the same outage keeps when it began.
    source.ctx!.reportWaiting!('Broker at amqp://mq:5672: timed out');
    expect(q.status.waitingFor).toEqual([
      {
        connector: 'source "orders"',
        what: 'Broker at amqp://mq:5672: timed out',
        since: new Date(since).toISOString(),
      },
    ]);

    source.ctx!.reportWaiting!(null);
    expect(q.status).toEqual({
      message: 'Waiting for data to arrive',
      isDataAvailable: false,
      isTriggerActive: false,
    });
  });

  it('shows a sink waiting in the middle of a batch, beside a source, and keeps the batch flags', async () => {
    const { q, source, sink } = await start();
    const gate = deferred();
    sink.hold = gate.promise;
    source.addData({ v: 1 });
    await waitFor(() => q.status.message === 'Processing new data', 'the batch to start');

    sink.ctx!.reportWaiting!('MariaDB at db:3306');
    source.ctx!.reportWaiting!('Broker at mq:5672');
    expect(q.status).toMatchObject({
      message: 'Waiting for MariaDB at db:3306; Waiting for Broker at mq:5672',
      isDataAvailable: true,
      isTriggerActive: true,
    });
    expect(q.status.waitingFor!.map((w) => w.connector)).toEqual(['sink "out"', 'source "orders"']);

    sink.ctx!.reportWaiting!(null);
    gate.resolve();
    await q.processAllAvailable();
    expect(sink.allRows()).toEqual([{ v: 1 }]);
    expect(q.status.message).toBe('Waiting for Broker at mq:5672');
    source.ctx!.reportWaiting!(null);
    expect(q.status.message).toBe('Waiting for data to arrive');
  });

  it('ignores reports after the query stopped (a background reconnect ending late)', async () => {
    const { q, source } = await start();
    source.ctx!.reportWaiting!('Broker at mq:5672');
    await q.stop();
    expect(q.status).toEqual({ message: 'Stopped', isDataAvailable: false, isTriggerActive: false });
    source.ctx!.reportWaiting!('Broker at mq:5672: still away');
    expect(q.status.message).toBe('Stopped');
  });
});
