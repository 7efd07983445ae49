/**
 * The service against careless and hostile use (issue 17): webhook paths are
 * secrets wherever they appear, reads can require the token (and do by
 * default beyond loopback), nosniff on API answers, and user-given names
 * (alert columns, labels) read only a row's own fields.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { compileCondition, startHttpServer, webhook, type HttpServer } from '../src/index.ts';
import { getPath } from '../src/util/json.ts';
import { cleanupDirs, connectSse, testService, waitFor } from './helpers.ts';

const PATH_SECRET = 'T00ps3cr3tPathPart';
const TOKEN = 'read-token-0123456789abcdef';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  cleanupDirs();
});

async function serve(options: Parameters<typeof startHttpServer>[1] = {}) {
  const { service, logs } = testService();
  const server: HttpServer = await startHttpServer(service, { port: 0, ...options });
  closers.push(async () => {
    await service.close({ flushMs: 0 });
    await server.close();
  });
  return { service, logs, server };
}

describe('webhook URLs: the path is a secret wherever it appears', () => {
  it('a log line, an error message and the API never show a registered webhook’s path', async () => {
    const { service, logs, server } = await serve();
    const url = `http://127.0.0.1:9/hooks/${PATH_SECRET}`;
    service.alerts.rule({
      name: 'r',
      query: 'q',
      condition: 'x > 1',
      notify: [webhook({ url, format: 'slack', maxAttempts: 1 })],
    });
    service.log.info('configured a webhook', { note: `posting alerts to ${url}` });
    service.log.error(`delivery to ${url} failed`);
    const rules = await (await fetch(`${server.url}/api/v1/alerts/rules`)).text();
    const everything = [...logs, rules].join('\n');
    expect(everything).toContain('posting alerts to');
    expect(everything).not.toContain(PATH_SECRET);
    expect(service.redactor.text(`x ${url}?a=1`)).not.toContain(PATH_SECRET);
  });
});

describe('reads with a token', () => {
  it('requireTokenForReads: API reads, /metrics and the event stream need the token; the page shell does not', async () => {
    const { server, logs } = await serve({ token: TOKEN, requireTokenForReads: true });
    for (const p of ['/api/v1/queries', '/api/v1/alerts/history', '/metrics', '/api/v1/dashboards']) {
      const r = await fetch(`${server.url}${p}`);
      expect(r.status, p).toBe(401);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
      const ok = await fetch(`${server.url}${p}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status, p).toBe(200);
    }
    expect((await fetch(`${server.url}/api/v1/events`)).status).toBe(401);
    const sse = await connectSse(`${server.url}/api/v1/events?token=${TOKEN}`);
    await waitFor(() => sse.text().length > 0, 'the event stream');
    sse.close();
    expect((await fetch(`${server.url}/`)).status).toBe(200);
    expect(logs.join('\n')).toMatch(/reads \(results, plans, metrics, events\) need the token/);
    expect(logs.join('\n')).not.toContain(TOKEN);
  });

  it('on loopback reads stay open unless asked; the log says so', async () => {
    const { server, logs } = await serve({ token: TOKEN });
    expect((await fetch(`${server.url}/api/v1/queries`)).status).toBe(200);
    expect(logs.join('\n')).toMatch(/reads \(results, plans, metrics, events\) are open/);
  });

  it('beyond loopback reads need the token by default, and requireTokenForReads needs a token', async () => {
    const { server } = await serve({ host: '0.0.0.0', token: TOKEN });
    const local = server.url.replace('0.0.0.0', '127.0.0.1');
    expect((await fetch(`${local}/api/v1/queries`)).status).toBe(401);
    expect(
      (await fetch(`${local}/api/v1/queries`, { headers: { authorization: `Bearer ${TOKEN}` } })).status,
    ).toBe(200);
    const { service } = testService();
    closers.push(() => service.close({ flushMs: 0 }));
    await expect(startHttpServer(service, { port: 0, requireTokenForReads: true })).rejects.toMatchObject({
      code: 'TOKEN_REQUIRED',
    });
  });
});

describe('slow clients', () => {
  it('a request whose body stalls is answered 408 and closed after requestTimeoutMs', async () => {
    const { server } = await serve({ requestTimeoutMs: 1_000 });
    const u = new URL(server.url);
    const net = await import('node:net');
    const s = net.connect({ host: u.hostname, port: Number(u.port) }, () =>
      s.write(
        'POST /api/v1/queries/x/stop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{',
      ),
    );
    s.on('error', () => undefined);
    let data = '';
    s.on('data', (d) => (data += String(d)));
    const t0 = Date.now();
    await new Promise((r) => s.on('close', r));
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(data).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe('headers', () => {
  it('API JSON, /metrics and 404s send X-Content-Type-Options: nosniff', async () => {
    const { server } = await serve();
    for (const p of ['/api/v1', '/api/v1/queries', '/metrics', '/nowhere', '/api/v1/queries/none']) {
      const r = await fetch(`${server.url}${p}`);
      expect(r.headers.get('x-content-type-options'), p).toBe('nosniff');
    }
  });
});

describe('user-given names read own fields only', () => {
  it('an alert condition on a column named like a built-in that the row lacks reads null', () => {
    expect(compileCondition('constructor == null').test({ a: 1 })).toBe(true);
    expect(compileCondition('toString != null').test({ a: 1 })).toBe(false);
    expect(compileCondition('toString == "x"').test({ toString: 'x' })).toBe(true);
    expect(getPath({ a: 1 }, ['valueOf'])).toBeUndefined();
    expect(getPath({ a: { b: 2 } }, ['a', 'constructor'])).toBeUndefined();
  });
});
