import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { memorySink, memoryStream, schema, t } from 'millrace';
import { dashboardSink, startHttpServer, type HttpServer, type MillraceService } from '../src/index.ts';
import {
  connectSse,
  fakeProgress,
  testService,
  validateSchema,
  waitFor,
  type SseConnection,
} from './helpers.ts';

const words = schema({ word: t.string });
let service: MillraceService;
let server: HttpServer;
const conns: SseConnection[] = [];

async function setup(events: Parameters<typeof testService>[0] = {}) {
  ({ service } = testService(events));
  server = await startHttpServer(service, { port: 0 });
}

afterEach(async () => {
  for (const c of conns.splice(0)) c.close();
  await service.stopAll();
  await service.close({ flushMs: 0 });
  await server.close();
});

/** Every event's data validates against the schema the OpenAPI document gives for its type. */
async function expectDocumentedEvents(c: SseConnection): Promise<void> {
  const spec = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as any;
  const xEvents = spec.paths['/api/v1/events'].get['x-events'];
  for (const e of c.events) {
    expect(xEvents[e.event], `event type ${e.event} is not documented`).toBeDefined();
    expect(validateSchema(e.data, xEvents[e.event], spec.components.schemas), e.event).toEqual([]);
  }
}

async function sse(query = '', headers: Record<string, string> = {}) {
  const c = await connectSse(`${server.url}/api/v1/events${query}`, headers);
  conns.push(c);
  await waitFor(() => c.events.some((e) => e.event === 'ready'), 'the ready event');
  return c;
}

describe('GET /api/v1/events', () => {
  it('streams query started / progress / terminated events with ids', async () => {
    await setup();
    const c = await sse();
    const session = service.createSession();
    const source = memoryStream(words, { name: 'w' });
    const q = await service.startQuery(session.readStream(source), { queryName: 'live', sink: memorySink() });
    source.addData({ word: 'x' });
    await q.processAllAvailable();
    source.addData({ word: 'y' }, { word: 'z' });
    await q.processAllAvailable();
    await q.stop();
    await waitFor(() => c.events.some((e) => e.event === 'query.terminated'), 'the terminated event');
    const types = c.events.map((e) => e.event).filter((e) => e.startsWith('query.'));
    expect(types).toEqual(['query.started', 'query.progress', 'query.progress', 'query.terminated']);
    const started = c.events.find((e) => e.event === 'query.started')!;
    expect(started.data.query).toMatchObject({ name: 'live', health: 'active', id: q.id });
    const progress = c.events.filter((e) => e.event === 'query.progress');
    expect(progress[1]!.data.entry).toMatchObject({ batchId: 1, numInputRows: 2 });
    expect(progress[1]!.data.query.totalInputRows).toBe(3);
    const ended = c.events.find((e) => e.event === 'query.terminated')!;
    expect(ended.data.query).toMatchObject({ health: 'stopped', endReason: 'finished' }); // stopped by its own code
    const ids = c.events.filter((e) => e.id !== undefined).map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    await expectDocumentedEvents(c);
  });

  it('streams dashboard and alert events, as documented', async () => {
    await setup({ events: { heartbeatMs: 20 } });
    const c = await sse();
    const session = service.createSession();
    const source = memoryStream(schema({ host: t.string, cpu: t.double }), { name: 'cpu' });
    service.alerts.rule({ name: 'hot', sink: 'hosts', condition: 'cpu > 90', labels: ['host'] });
    const q = await service.startQuery(session.readStream(source), {
      queryName: 'hosts',
      outputMode: 'update',
      sink: dashboardSink({ name: 'hosts', kind: 'table', key: 'host' }),
    });
    source.addData({ host: 'a', cpu: 95 });
    await q.processAllAvailable();
    source.addData({ host: 'a', cpu: 5 });
    await q.processAllAvailable();
    await waitFor(() => c.events.some((e) => e.event === 'alert.resolved'), 'the resolved event');
    await waitFor(() => c.events.some((e) => e.event === 'heartbeat'), 'a heartbeat');
    const types = new Set(c.events.map((e) => e.event));
    for (const t of [
      'ready',
      'heartbeat',
      'dashboard.registered',
      'dashboard.rows',
      'alert.fired',
      'alert.resolved',
    ]) {
      expect(types.has(t), t).toBe(true);
    }
    expect(c.events.find((e) => e.event === 'dashboard.rows')!.data).toMatchObject({
      dashboard: 'hosts',
      query: 'hosts',
      batchId: 0,
      rows: [{ host: 'a', cpu: 95 }],
    });
    expect(c.events.find((e) => e.event === 'alert.fired')!.data.alert).toMatchObject({
      rule: 'hot',
      labels: { host: 'a' },
    });
    await q.stop();
    await expectDocumentedEvents(c);
  });

  it('sends heartbeats, filters by type and replays after Last-Event-ID', async () => {
    await setup({ events: { heartbeatMs: 50 } });
    const all = await sse();
    const onlyTerminated = await sse('?types=query.terminated');
    for (let b = 0; b < 3; b++)
      service.queries.recordProgress(fakeProgress({ id: 'q1', name: 'synthetic', batchId: b }));
    await waitFor(
      () => all.events.filter((e) => e.event === 'query.progress').length === 3,
      'progress events',
    );
    await waitFor(() => all.events.filter((e) => e.event === 'heartbeat').length >= 2, 'heartbeats');
    expect(onlyTerminated.events.some((e) => e.event === 'query.progress')).toBe(false);
    expect(onlyTerminated.events.some((e) => e.event === 'heartbeat')).toBe(true);
    const firstId = all.events.find((e) => e.event === 'query.progress')!.id!;
    const replay = await sse('', { 'last-event-id': firstId });
    await waitFor(
      () => replay.events.filter((e) => e.event === 'query.progress').length === 2,
      'replayed events',
    );
    expect(
      replay.events.filter((e) => e.event === 'query.progress').map((e) => e.data.entry.batchId),
    ).toEqual([1, 2]);
  });

  it('drops a client that does not read, with a final event, without slowing publishers', async () => {
    await setup({ events: { maxBufferedEvents: 50, maxBufferedBytes: 1 << 30 } });
    const reader = await sse();
    // A client that connects and never reads: its socket buffers fill, then our queue.
    const port = Number(new URL(server.url).port);
    const stalled = net.connect(port, '127.0.0.1');
    stalled.write(`GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    stalled.pause();
    await waitFor(() => service.events.clientCount === 2, 'both clients');
    const big = 'x'.repeat(20_000);
    let elapsed = 0;
    let published = 0;
    for (let b = 0; b < 2_000 && service.events.clientCount === 2; b++) {
      const t0 = performance.now();
      service.queries.recordProgress(fakeProgress({ id: 'q2', name: big, batchId: b }));
      elapsed += performance.now() - t0;
      published++;
      await new Promise((r) => setImmediate(r)); // let the reading client read
    }
    expect(service.events.clientCount).toBe(1);
    expect(published).toBeLessThan(2_000);
    expect(elapsed / published).toBeLessThan(5); // ms per event: nobody waited for the stalled client
    // the reading client got everything
    await waitFor(
      () => reader.events.filter((e) => e.event === 'query.progress').length === published,
      'all events',
    );
    const fams = await service.metrics.text();
    expect(fams).toMatch(/millrace_sse_dropped_clients_total 1/);
    // what the stalled client finally reads ends with the `dropped` event
    let got = '';
    stalled.on('data', (d) => (got += d.toString('latin1')));
    const closed = new Promise((r) => stalled.on('close', r));
    stalled.resume();
    await closed;
    // (raw HTTP: chunk sizes between frames)
    expect(got.slice(got.lastIndexOf('event: '))).toMatch(
      /^event: dropped\ndata: \{"reason":"the client did not keep up/,
    );
  });

  it('ends streams with a shutdown event when the server closes', async () => {
    await setup();
    const c = await sse();
    await server.close();
    await c.ended;
    expect(c.events.at(-1)?.event).toBe('shutdown');
    server = await startHttpServer(service, { port: 0 }); // for afterEach
  });
});
