import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ManualClock,
  memorySink,
  memoryStream,
  schema,
  t,
  type MemoryStream,
  type Session,
  type StreamingQuery,
} from 'millrace';
import { compileCondition, createHttpApp, slackBody, webhook, type MillraceService } from '../src/index.ts';
import { cleanupDirs, sleep, testService, waitFor, webhookReceiver, type Receiver } from './helpers.ts';

const metricsRow = schema({ host: t.string, cpu: t.double, at: t.timestamp });
type Row = { host: string; cpu: number; at: number };

let service: MillraceService;
let session: Session;
let clock: ManualClock;
let receiver: Receiver;
let source: MemoryStream<Row>;
let query: StreamingQuery;
let logs: string[];

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2026, 0, 1));
  ({ service, logs } = testService({ clock }));
  session = service.createSession();
  receiver = await webhookReceiver();
  source = memoryStream(metricsRow, { name: `m-${Math.random().toString(36).slice(2)}` });
  query = await service.startQuery(session.readStream(source), {
    queryName: 'cpu',
    sink: memorySink({ name: 'cpu-out' }),
  });
});

afterEach(async () => {
  await service.stopAll();
  await service.close({ flushMs: 0 });
  await receiver.close();
  cleanupDirs();
});

async function batch(...rows: Row[]): Promise<void> {
  source.addData(rows);
  await query.processAllAvailable();
}

const T0 = Date.UTC(2026, 0, 1, 12);
const hook = (o: Partial<Parameters<typeof webhook>[0]> = {}) =>
  webhook({ url: receiver.url, backoff: 20, ...o });

describe('alert rules', () => {
  it('fires once while the condition holds for `for` (event time), per label set, then resolves', async () => {
    service.alerts.rule({
      name: 'hot-host',
      query: 'cpu',
      condition: 'cpu > 90',
      labels: ['host'],
      eventTime: 'at',
      for: '30 seconds',
      severity: 'critical',
      summary: 'host {host} at {cpu}% ({at|time}, {missing})',
      notify: [hook()],
    });
    await batch({ host: 'a', cpu: 95, at: T0 }, { host: 'b', cpu: 10, at: T0 });
    await batch({ host: 'a', cpu: 96, at: T0 + 20_000 });
    expect(service.alerts.active()).toEqual([
      expect.objectContaining({ rule: 'hot-host', state: 'pending', labels: { host: 'a' } }),
    ]);
    // several rows of one host in a batch: the latest by event time decides
    await batch({ host: 'a', cpu: 97, at: T0 + 30_000 }, { host: 'a', cpu: 20, at: T0 + 29_000 });
    await waitFor(() => receiver.requests.length === 1, 'the firing notification');
    const fired = receiver.requests[0]!.body;
    expect(fired).toMatchObject({
      version: 1,
      rule: 'hot-host',
      status: 'firing',
      severity: 'critical',
      labels: { host: 'a' },
      summary: `host a at 97% (${new Date(T0 + 30_000).toISOString()}, {missing})`,
      query: 'cpu',
      startsAt: new Date(T0).toISOString(),
      resolvedAt: null,
    });
    expect(fired.value).toEqual({ host: 'a', cpu: 97, at: T0 + 30_000 });
    // still holding: no second notification
    await batch({ host: 'a', cpu: 99, at: T0 + 40_000 });
    await batch({ host: 'a', cpu: 98, at: T0 + 50_000 });
    await sleep(50);
    expect(receiver.requests).toHaveLength(1);
    expect(service.alerts.active()[0]).toMatchObject({ state: 'firing', labels: { host: 'a' } });
    // condition false: resolved, notified
    await batch({ host: 'a', cpu: 40, at: T0 + 60_000 });
    await waitFor(() => receiver.requests.length === 2, 'the resolved notification');
    expect(receiver.requests[1]!.body).toMatchObject({ status: 'resolved', labels: { host: 'a' } });
    expect(receiver.requests[1]!.body.resolvedAt).not.toBeNull();
    expect(service.alerts.active()).toEqual([]);
    const history = service.alerts.historyPage({ limit: 10 }).events;
    expect(history.map((e) => e.status)).toEqual(['firing', 'resolved']);
    expect(logs.some((l) => l.includes('"msg":"alert fired"') && l.includes('"level":"warn"'))).toBe(true);
    expect(logs.some((l) => l.includes('"msg":"alert resolved"'))).toBe(true);
  });

  it('respects the cooldown: no new firing of a label set before it has passed (batch time)', async () => {
    service.alerts.rule({
      name: 'cool',
      query: 'cpu',
      condition: (r) => (r.cpu as number) > 90,
      cooldown: '1 minute',
      notify: [hook()],
    });
    await batch({ host: 'a', cpu: 95, at: 0 });
    await waitFor(() => receiver.requests.length === 1, 'firing');
    clock.advance(1_000);
    await batch({ host: 'a', cpu: 10, at: 0 });
    await waitFor(() => receiver.requests.length === 2, 'resolved');
    clock.advance(1_000);
    await batch({ host: 'a', cpu: 95, at: 0 }); // holds again within the cooldown: pending only
    clock.advance(30_000);
    await batch({ host: 'a', cpu: 96, at: 0 });
    await sleep(50);
    expect(receiver.requests).toHaveLength(2);
    expect(service.alerts.active()[0]).toMatchObject({ state: 'pending' });
    clock.advance(30_000); // 62 s after the first firing
    await batch({ host: 'a', cpu: 97, at: 0 });
    await waitFor(() => receiver.requests.length === 3, 'the second firing');
    expect(receiver.requests.map((r) => r.body.status)).toEqual(['firing', 'resolved', 'firing']);
  });

  it('retries a webhook that answers 500, with backoff, until it succeeds', async () => {
    receiver.respond = (n) => (n < 2 ? 500 : 200);
    service.alerts.rule({
      name: 'retry',
      query: 'cpu',
      condition: 'cpu > 90',
      notify: [hook({ backoff: 50 })],
    });
    await batch({ host: 'a', cpu: 95, at: 0 });
    await waitFor(() => receiver.requests.length === 3, 'three attempts');
    const gaps = [
      receiver.requests[1]!.at - receiver.requests[0]!.at,
      receiver.requests[2]!.at - receiver.requests[1]!.at,
    ];
    expect(gaps[0]).toBeGreaterThanOrEqual(35); // 50 ms ± 20%
    expect(gaps[1]).toBeGreaterThanOrEqual(70); // doubled
    expect(receiver.requests.every((r) => r.body.status === 'firing')).toBe(true);
    const text = await service.metrics.text();
    expect(text).toMatch(
      /millrace_alert_notifications_total\{webhook="http:\/\/127\.0\.0\.1:\d+\/…",result="retried"\} 2/,
    );
    await waitFor(async () => /result="sent"\} 1/.test(await service.metrics.text()), 'the sent count');
  });

  it('gives up after maxAttempts, and at once on a 4xx', async () => {
    receiver.respond = (n) => (n === 0 ? 400 : 503);
    service.alerts.rule({
      name: 'bad',
      query: 'cpu',
      condition: 'cpu > 90',
      labels: ['host'],
      notify: [hook({ maxAttempts: 2 })],
    });
    await batch({ host: 'a', cpu: 95, at: 0 }); // 400: not retried
    await waitFor(() => receiver.requests.length === 1, 'the first attempt');
    await batch({ host: 'b', cpu: 95, at: 0 }); // 503, 503: two attempts, then given up
    await waitFor(() => receiver.requests.length === 3, 'two more attempts');
    await sleep(100);
    expect(receiver.requests).toHaveLength(3);
    await waitFor(async () => /result="failed"\} 2/.test(await service.metrics.text()), 'two failures');
    expect(logs.some((l) => l.includes('webhook notification given up') && l.includes('HTTP 400'))).toBe(
      true,
    );
  });

  it('a hanging webhook receiver does not block batches; its bounded queue drops the oldest', async () => {
    receiver.respond = () => 'hang';
    service.alerts.rule({
      name: 'flood',
      query: 'cpu',
      condition: 'cpu > 0',
      labels: ['host'],
      notify: [hook({ timeout: '1 minute', queueSize: 5 })],
    });
    const t0 = performance.now();
    for (let i = 0; i < 30; i++) await batch({ host: `h${i}`, cpu: 1, at: 0 }); // 30 firings
    const perBatch = (performance.now() - t0) / 30;
    expect(perBatch).toBeLessThan(100);
    expect(query.recentProgress).toHaveLength(30);
    await waitFor(() => receiver.requests.length === 1, 'the one request in flight');
    const text = await service.metrics.text();
    // 30 notifications: 1 in flight, 5 queued, 24 dropped
    expect(text).toMatch(/millrace_alert_notifications_dropped_total\{webhook="[^"]+"\} 24/);
    expect(service.alerts.historyPage({ limit: 100 }).events).toHaveLength(30);
  });

  it('sends Slack-compatible bodies', async () => {
    service.alerts.rule({
      name: 'slack',
      query: 'cpu',
      condition: 'cpu > 90',
      labels: ['host'],
      notify: [hook({ format: 'slack' })],
    });
    await batch({ host: 'web-1', cpu: 95, at: 0 });
    await waitFor(() => receiver.requests.length === 1, 'the notification');
    const body = receiver.requests[0]!.body;
    expect(Object.keys(body).sort()).toEqual(['blocks', 'text']);
    expect(body.text).toContain('FIRING: slack (host=web-1)');
    expect(body.blocks[0]).toMatchObject({ type: 'section', text: { type: 'mrkdwn' } });
    expect(receiver.requests[0]!.headers['content-type']).toBe('application/json');
  });

  it('watches a sink by name too, and turns rules off and on through the API (off resolves)', async () => {
    const app = await createHttpApp(service);
    try {
      service.alerts.rule({ name: 'by-sink', sink: 'cpu-out', condition: 'cpu > 90' });
      service.alerts.rule({ name: 'api', query: 'cpu', condition: 'cpu > 90', notify: [hook()] });
      await batch({ host: 'a', cpu: 95, at: 0 });
      await waitFor(() => receiver.requests.length === 1, 'firing');
      expect(
        service.alerts
          .active()
          .map((a) => `${a.rule}:${a.state}`)
          .sort(),
      ).toEqual(['api:firing', 'by-sink:firing']);
      const rules = (await app.inject({ method: 'GET', url: '/api/v1/alerts/rules' })).json().rules;
      expect(rules.find((r: { name: string }) => r.name === 'api')).toMatchObject({
        firing: 1,
        enabled: true,
        clock: 'batch-time',
      });
      expect(rules.find((r: { name: string }) => r.name === 'api').notify).toEqual([
        { kind: 'webhook', format: 'json', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/…$/) },
      ]);
      const off = await app.inject({ method: 'POST', url: '/api/v1/alerts/rules/api/disable' });
      expect(off.json()).toMatchObject({ enabled: false, firing: 0 });
      await waitFor(() => receiver.requests.length === 2, 'the resolved notification');
      expect(receiver.requests[1]!.body.status).toBe('resolved');
      await batch({ host: 'a', cpu: 99, at: 0 });
      await sleep(50);
      expect(receiver.requests).toHaveLength(2); // disabled: not evaluated
      await app.inject({ method: 'POST', url: '/api/v1/alerts/rules/api/enable' });
      await batch({ host: 'a', cpu: 99, at: 0 });
      await waitFor(() => receiver.requests.length === 3, 'firing again');
      const history = (
        await app.inject({ method: 'GET', url: '/api/v1/alerts/history?rule=api&since=2&limit=10' })
      ).json();
      expect(history.events.map((e: { status: string }) => e.status)).toEqual(['resolved', 'firing']);
      const missing = await app.inject({ method: 'POST', url: '/api/v1/alerts/rules/nope/enable' });
      expect(missing.statusCode).toBe(404);
    } finally {
      await app.close();
    }
  });

  it('validates rules', () => {
    expect(() => service.alerts.rule({ name: 'x', condition: 'a > 1' } as never)).toThrow(
      /exactly one of query/,
    );
    expect(() => service.alerts.rule({ name: 'x', query: 'q', condition: 'a >' })).toThrow(/ends too early/);
    expect(() => service.alerts.rule({ name: 'x', query: 'q', condition: 'a > 1', for: 'soon' })).toThrow(
      /duration/,
    );
    expect(() =>
      service.alerts.rule({ name: 'x', query: 'q', condition: 'a > 1', severity: 'panic' as never }),
    ).toThrow(/severity/);
    service.alerts.rule({ name: 'x', query: 'q', condition: 'a > 1' });
    expect(() => service.alerts.rule({ name: 'x', query: 'q', condition: 'a > 1' })).toThrow(
      /exists already/,
    );
    expect(() => webhook({ url: 'ftp://x' })).toThrow(/http or https/);
  });
});

describe('condition expressions', () => {
  const test = (src: string, row: Record<string, unknown>) => compileCondition(src).test(row);
  it('compares, combines and reads nested columns', () => {
    expect(test('cpu > 90', { cpu: 91 })).toBe(true);
    expect(test('cpu > 90', { cpu: 90 })).toBe(false);
    expect(test('cpu >= 90 and host == "a"', { cpu: 90, host: 'a' })).toBe(true);
    expect(test("cpu >= 90 && host = 'b'", { cpu: 90, host: 'a' })).toBe(false);
    expect(test('not (a < 1 or b < 1)', { a: 2, b: 2 })).toBe(true);
    expect(test('!(a < 1) || false', { a: 0 })).toBe(false);
    expect(test('window.end - window.start >= 60000', { window: { start: 0, end: 60_000 } })).toBe(true);
    expect(test('errors / total > 0.05', { errors: 6, total: 100 })).toBe(true);
    expect(test('errors / total > 0.05', { errors: 6, total: 0 })).toBe(false); // null
    expect(test('-x == -3 and x % 2 == 1 and x * 2 + 1 == 7', { x: 3 })).toBe(true);
    expect(test('missing > 1', {})).toBe(false);
    expect(test('missing == null', {})).toBe(true);
    expect(test('s != null', { s: 'x' })).toBe(true);
    expect(test('s > 1', { s: 'x' })).toBe(false); // mixed types never compare
    expect(test('flag', { flag: true })).toBe(true);
    expect(test('1.5e3 == x', { x: 1500 })).toBe(true);
    expect(test("name == 'it\\'s'", { name: "it's" })).toBe(true);
  });
  it('reports syntax errors with their position', () => {
    expect(() => compileCondition('cpu > > 1')).toThrow(/position 7/);
    expect(() => compileCondition('cpu # 1')).toThrow(/unexpected character "#"/);
    expect(() => compileCondition("a == 'x")).toThrow(/unterminated/);
    expect(() => compileCondition('(a > 1')).toThrow(/expected "\)"/);
    expect(() => compileCondition('')).toThrow(/give an expression/);
  });
  it('builds Slack bodies with text and blocks', () => {
    const b = slackBody({
      id: 1,
      rule: 'r',
      status: 'resolved',
      severity: 'info',
      labels: {},
      summary: 's',
      query: 'q',
      sink: null,
      batchId: 3,
      value: {},
      startsAt: 'x',
      firedAt: 'y',
      resolvedAt: 'z',
      time: 'z',
    });
    expect(b.text).toBe(':white_check_mark: [INFO] RESOLVED: r — s');
    expect(b.blocks).toHaveLength(2);
  });
});
