import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemorySink, MemoryStream, memorySink, schema, t, type Offset, type SourceBatch } from 'millrace';
import {
  Redactor,
  dashboardSink,
  redact,
  redactText,
  startHttpServer,
  webhook,
  type HttpServer,
} from '../src/index.ts';
import {
  cleanupDirs,
  connectSse,
  tempDir,
  testService,
  waitFor,
  webhookReceiver,
  type Receiver,
} from './helpers.ts';

const SECRET = 'hunter2';
const URL_WITH_SECRET = `postgres://app:${SECRET}@db.internal:5432/orders?sslmode=require&password=${SECRET}`;

const rows = schema({ id: t.long, note: t.string });
type R = { id: number; note: string };

/** A source whose description and options carry credentials, as a careless connector would. */
class LeakySource extends MemoryStream<R> {
  readonly options = { url: URL_WITH_SECRET, password: SECRET, user: 'app' };
  override describe(): string {
    return `PgCdcSource[${URL_WITH_SECRET}, password=${SECRET}]`;
  }
}

class LeakySink extends MemorySink<R> {
  override describe(): string {
    return `PgSink[${URL_WITH_SECRET}]`;
  }
}

/** Fails reading with a driver message that echoes the connection string. */
class FailingSource extends MemoryStream<R> {
  override describe(): string {
    return `PgSource[${URL_WITH_SECRET}]`;
  }
  override async getBatch(start: Offset | null, end: Offset): Promise<SourceBatch<R>> {
    void start;
    void end;
    throw new Error(
      `connection to ${URL_WITH_SECRET} refused: password authentication failed (password=${SECRET})`,
    );
  }
}

afterEach(cleanupDirs);

describe('redaction', () => {
  it('redacts URLs, named values and tokens in text, and secret-named options in objects', () => {
    expect(redactText(URL_WITH_SECRET)).toBe(
      'postgres://app:***@db.internal:5432/orders?sslmode=require&password=***',
    );
    expect(redactText('{"apiToken":"abc123","x":1}')).toBe('{"apiToken":"***","x":1}');
    expect(redactText('Authorization: Bearer abc.def.ghi')).toBe('Authorization: Bearer ***');
    expect(redactText('secret: s3cr3t and more')).toBe('secret: *** and more');
    expect(redactText('--rate 5 --db-password s3cr3t --token=abc -v')).toBe(
      '--rate 5 --db-password *** --token=*** -v',
    );
    expect(
      redact({ password: 'p', apiKey: 'k', key: 'x', nested: { clientSecret: 'c', ok: 'fine' }, count: 3 }),
    ).toEqual({
      password: '***',
      apiKey: '***',
      key: '***',
      nested: { clientSecret: '***', ok: 'fine' },
      count: 3,
    });
    const r = new Redactor();
    r.text(`mysql://root:${SECRET}@h/db`);
    expect(r.text(`login failed for ${SECRET} (${encodeURIComponent(SECRET)})`)).toBe(
      'login failed for *** (***)',
    );
    expect(r.redact({ msg: `x ${SECRET}` })).toEqual({ msg: 'x ***' });
  });

  it('never lets a secret reach API responses, /metrics, the event stream or the logs', async () => {
    const { service, logs } = testService({ logLevel: 'debug' });
    let server: HttpServer | undefined;
    const receiver: Receiver = await webhookReceiver();
    try {
      server = await startHttpServer(service, { port: 0, token: `tok-${SECRET}-long-enough` });
      const events = await connectSse(`${server.url}/api/v1/events`);
      const session = service.createSession();
      const dir = tempDir();

      const source = new LeakySource(rows, 'orders');
      const q = await service.startQuery(session.readStream(source), {
        queryName: 'orders',
        sink: new LeakySink('orders-out'),
        checkpointLocation: path.join(dir, 'orders'),
      });
      service.alerts.rule({
        name: 'note-alert',
        query: 'orders',
        condition: `note == "${SECRET}" or id > 0`,
        summary: `note {note} via ${URL_WITH_SECRET}`,
        notify: [
          webhook({ url: `${receiver.url}?token=${SECRET}`, headers: { authorization: `Bearer ${SECRET}` } }),
        ],
      });
      const dash = dashboardSink({ name: 'orders-dash', kind: 'table', key: 'id' });
      const q2 = await service.startQuery(session.readStream(new LeakySource(rows, 'orders2')), {
        queryName: 'orders-dash',
        sink: dash,
      });
      void q2;
      source.addData({ id: 1, note: `see ${URL_WITH_SECRET}` });
      await q.processAllAvailable();
      source.addData({ id: 2, note: 'plain' });
      await q.processAllAvailable();

      const failing = new FailingSource(rows, 'payments');
      const f = await service.startQuery(session.readStream(failing), {
        queryName: 'payments',
        sink: memorySink(),
      });
      failing.addData({ id: 1, note: 'x' });
      await f.awaitTermination().catch(() => undefined);
      await waitFor(() => service.queries.find('payments')?.health === 'failed', 'the failure');
      await waitFor(() => receiver.requests.length >= 1, 'a webhook');

      const bodies: string[] = [];
      const get = async (p: string) => {
        const res = await fetch(`${server!.url}${p}`);
        bodies.push(await res.text());
      };
      const id = q.id;
      for (const p of [
        '/',
        '/api/v1',
        '/api/v1/openapi.json',
        '/api/v1/queries',
        '/api/v1/queries/orders',
        `/api/v1/queries/${id}`,
        '/api/v1/queries/orders/progress',
        '/api/v1/queries/orders/progress/1',
        '/api/v1/queries/orders/rows',
        '/api/v1/queries/payments',
        '/api/v1/queries/orders-dash',
        '/api/v1/dashboards',
        '/api/v1/dashboards/orders-dash',
        '/api/v1/alerts/rules',
        '/api/v1/alerts/rules/note-alert',
        '/api/v1/alerts/active',
        '/api/v1/alerts/history',
        '/metrics',
        `/api/v1/queries/${SECRET}`, // an error message that quotes the request
      ]) {
        await get(p);
      }
      // a wrong token is refused without quoting it
      const refused = await fetch(`${server.url}/api/v1/queries/orders/stop`, {
        method: 'POST',
        headers: { authorization: `Bearer ${SECRET}` },
      });
      bodies.push(await refused.text());

      await waitFor(() => events.events.some((e) => e.event === 'query.terminated'), 'the terminated event');
      await service.stopAll();

      const everything = [...bodies, events.text(), ...logs].join('\n');
      // The data flowed: redacted forms are there…
      expect(everything).toContain('postgres://app:***@db.internal:5432/orders');
      expect(bodies.join('\n')).toContain('password=***');
      expect(events.text()).toContain('query.progress');
      expect(logs.some((l) => l.includes('"msg":"query failed"'))).toBe(true);
      // …and the secret nowhere.
      for (const b of bodies) expect(b, b.slice(0, 200)).not.toContain(SECRET);
      expect(events.text()).not.toContain(SECRET);
      for (const l of logs) expect(l).not.toContain(SECRET);
      // The webhook body too (the receiver is the outside world).
      for (const r of receiver.requests) expect(JSON.stringify(r.body)).not.toContain(SECRET);
      events.close();
    } finally {
      await service.stopAll();
      await service.close({ flushMs: 0 });
      await server?.close();
      await receiver.close();
    }
  });
});
