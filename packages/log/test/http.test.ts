/**
 * HTTP ingest over real HTTP (startIngestServer on a free port, fetch and
 * node:http): bodies, keys, limits and their messages, backpressure, reads of
 * topic state, idempotency keys, and that a 200 means the records are stored.
 */
import * as http from 'node:http';
import fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ingestPlugin,
  openLog,
  partitionForKey,
  startIngestServer,
  type IngestServer,
  type Log,
} from '../src/index.ts';
import { cleanupDirs, readAll, tempDir } from './helpers.ts';

const servers: IngestServer[] = [];
const logs: Log[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const l of logs.splice(0)) await l.close();
  cleanupDirs();
});

async function serve(
  options: { log?: Record<string, unknown>; ingest?: Record<string, unknown> } = {},
): Promise<{
  server: IngestServer;
  log: Log;
  post: (path: string, body: string, type?: string, headers?: Record<string, string>) => Promise<Response>;
}> {
  const log = await openLog({ dir: tempDir(), fsync: 'always', retentionCheckIntervalMs: 0, ...options.log });
  logs.push(log);
  const server = await startIngestServer({ log, port: 0, ...options.ingest });
  servers.push(server);
  const post = (p: string, body: string, type = 'application/json', headers: Record<string, string> = {}) =>
    fetch(`${server.url}${p}`, { method: 'POST', body, headers: { 'content-type': type, ...headers } });
  return { server, log, post };
}

describe('POST /topics/:topic', () => {
  it('one JSON object, an array of objects, and NDJSON become one record each', async () => {
    const { log, post } = await serve();
    let r = await post('/topics/clicks', '{"user":"ann","page":"/"}');
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ topic: 'clicks', count: 1, offsets: { '0': [0, 0] }, duplicate: false });
    r = await post('/topics/clicks', '[{"user":"bob"}, {"user":"cid"}]');
    expect(await r.json()).toMatchObject({ count: 2, offsets: { '0': [1, 2] } });
    r = await post('/topics/clicks', '{"user":"dan"}\n\n{"user":"eve"}\r\n', 'application/x-ndjson');
    expect(await r.json()).toMatchObject({ count: 2, offsets: { '0': [3, 4] } });
    expect((await readAll(log, 'clicks')).map(([, v]) => v)).toEqual([
      '{"user":"ann","page":"/"}',
      '{"user":"bob"}',
      '{"user":"cid"}',
      '{"user":"dan"}',
      '{"user":"eve"}',
    ]);
  });

  it('a 200 means the records are stored: a fresh log instance reads them, before and after the server closes', async () => {
    const dir = tempDir();
    const server = await startIngestServer({ dir, port: 0, logOptions: { retentionCheckIntervalMs: 0 } });
    servers.push(server);
    expect(server.log.fsync).toBe('always');
    const body = Array.from({ length: 100 }, (_, i) => JSON.stringify({ n: i })).join('\n');
    const r = await fetch(`${server.url}/topics/acked`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/x-ndjson' },
    });
    expect(r.status).toBe(200);
    const fresh = await openLog({ dir, fsync: 'always', retentionCheckIntervalMs: 0 });
    expect(fresh.watermarks('acked', 0).high).toBe(100);
    await fresh.close();
    await server.close();
    const after = await openLog({ dir, fsync: 'always', retentionCheckIntervalMs: 0 });
    logs.push(after);
    expect((await readAll(after, 'acked')).map(([, v]) => JSON.parse(v as string).n)).toEqual(
      Array.from({ length: 100 }, (_, i) => i),
    );
  });

  it('keys from ?key=<field> or the X-Key-Field header pick the partition; ?partition= forces one', async () => {
    const { log, post } = await serve({ log: { topicDefaults: { partitions: 4 } } });
    const users = ['ann', 'bob', 'cid', 'dan', 'eve', 'fay'];
    const r = await post('/topics/k?key=user', JSON.stringify(users.map((u) => ({ user: u, n: 1 }))));
    const body = (await r.json()) as { offsets: Record<string, [number, number]> };
    const expected = new Map<number, number>();
    for (const u of users)
      expected.set(partitionForKey(u, 4), (expected.get(partitionForKey(u, 4)) ?? 0) + 1);
    for (const [p, [first, last]] of Object.entries(body.offsets))
      expect(last - first + 1).toBe(expected.get(Number(p)));
    const h = await post('/topics/k', '{"user":42}', 'application/json', { 'x-key-field': 'user' });
    const hb = (await h.json()) as { offsets: Record<string, unknown> };
    expect(Object.keys(hb.offsets)).toEqual([String(partitionForKey('42', 4))]);
    const stored = [];
    for await (const c of log.read('k', partitionForKey('42', 4))) stored.push(...c);
    expect(stored.at(-1)!.key).toBe('42');
    const forced = await post('/topics/k?partition=3', '[{"a":1},{"a":2}]');
    expect(((await forced.json()) as { offsets: unknown }).offsets).toEqual({ '3': expect.any(Array) });
  });

  it('400 for bad bodies, naming the line, index or position and the JSON error; nothing is stored', async () => {
    const { log, post } = await serve();
    const cases: [string, string, string, string][] = [
      ['{"a":1,}', 'application/json', 'INGEST_BAD_JSON', 'the body is not valid JSON at line 1, column 8'],
      ['{"a":1}\n{"b":2}\n{"c":', 'application/x-ndjson', 'INGEST_BAD_JSON', 'line 3 is not valid JSON: '],
      [
        '{"a":1}\n[1,2]',
        'application/x-ndjson',
        'INGEST_NOT_AN_OBJECT',
        'line 2 is an array; each line must be one JSON object',
      ],
      ['[{"a":1}, 7]', 'application/json', 'INGEST_NOT_AN_OBJECT', 'event 1 of the array is a number (7)'],
      ['"text"', 'application/json', 'INGEST_NOT_AN_OBJECT', 'the body is a string ("text")'],
      ['', 'application/json', 'INGEST_EMPTY_BODY', 'the request body is empty'],
      ['[]', 'application/json', 'INGEST_EMPTY_BODY', 'empty array'],
      ['\n\n', 'application/x-ndjson', 'INGEST_EMPTY_BODY', 'the body has no events'],
    ];
    for (const [body, type, code, message] of cases) {
      const r = await post('/topics/bad', body, type);
      expect(r.status, body).toBe(400);
      const e = (await r.json()) as { code: string; message: string; statusCode: number };
      expect(e.code, body).toBe(code);
      expect(e.message, body).toContain(message);
    }
    const key = await post('/topics/bad?key=user', '[{"user":"a"},{"user":{"id":1}}]');
    expect(key.status).toBe(400);
    expect(((await key.json()) as { message: string }).message).toContain(
      'event 1: the key field "user" is an object',
    );
    const part = await post('/topics/bad?partition=x', '{}');
    expect(((await part.json()) as { message: string }).message).toContain(
      '?partition must be a partition number',
    );
    expect((await post(`/topics/${'x'.repeat(249)}`, '{}')).status).toBe(200); // Kafka's longest name
    const long = await post(`/topics/${'x'.repeat(400)}`, '{}');
    expect(long.status).toBe(400);
    expect(((await long.json()) as { code: string }).code).toBe('INVALID_TOPIC_NAME');
    const topic = await post('/topics/bad%20name', '{}');
    expect(topic.status).toBe(400);
    expect(((await topic.json()) as { code: string }).code).toBe('INVALID_TOPIC_NAME');
    expect(log.topics().map((t) => t.name)).toEqual(['x'.repeat(249)]);
  });

  it('413 for a body over maxBodyBytes or more events than maxEventsPerRequest', async () => {
    const { post, log } = await serve({ ingest: { maxBodyBytes: 1000, maxEventsPerRequest: 3 } });
    const big = await post('/topics/lim', JSON.stringify({ s: 'x'.repeat(2000) }));
    expect(big.status).toBe(413);
    const bm = (await big.json()) as { code: string; message: string };
    expect(bm.code).toBe('INGEST_BODY_TOO_LARGE');
    expect(bm.message).toContain(
      'larger than the limit of 1000 bytes (maxBodyBytes); split the events over several requests',
    );
    const many = await post('/topics/lim', '[{},{},{},{}]');
    expect(many.status).toBe(413);
    expect(((await many.json()) as { message: string }).message).toContain(
      'the request has 4 events, more than the limit of 3 per request (maxEventsPerRequest)',
    );
    const manyLines = await post('/topics/lim', '{}\n{}\n{}\n{}', 'application/x-ndjson');
    expect(manyLines.status).toBe(413);
    expect(log.topic('lim')).toBeUndefined();
  });

  it('415 for other content types, naming the ones to use', async () => {
    const { post } = await serve();
    const r = await post('/topics/t', 'a,b', 'text/csv');
    expect(r.status).toBe(415);
    const e = (await r.json()) as { code: string; message: string };
    expect(e.code).toBe('INGEST_UNSUPPORTED_TYPE');
    expect(e.message).toContain('Content-Type "text/csv" is not supported; send application/json');
    const none = await fetch(`${(servers.at(-1) as IngestServer).url}/topics/t`, { method: 'POST' });
    expect(none.status).toBe(415);
  });

  it('404 for an unknown topic when the log does not create topics', async () => {
    const { post, log } = await serve({ log: { autoCreateTopics: false } });
    await log.createTopic('known');
    const r = await post('/topics/unknown', '{}');
    expect(r.status).toBe(404);
    const e = (await r.json()) as { code: string; message: string };
    expect(e.code).toBe('TOPIC_NOT_FOUND');
    expect(e.message).toContain('topic "unknown" does not exist');
    expect((await post('/topics/known', '{}')).status).toBe(200);
  });

  it('429 with Retry-After while a partition is above its retention hard limit, until retention catches up', async () => {
    const { post, log } = await serve({ ingest: { retryAfterSeconds: 2 } });
    await log.createTopic('full', { retentionBytes: 1000 });
    await log.append(
      'full',
      Array.from({ length: 20 }, () => ({ value: 'x'.repeat(100) })),
    );
    const r = await post('/topics/full', '{}');
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('2');
    const e = (await r.json()) as { code: string; message: string };
    expect(e.code).toBe('INGEST_RETENTION_BEHIND');
    expect(e.message).toContain('topic "full" partition 0 holds');
    expect(e.message).toContain('retry after 2 s');
    await log.enforceRetention();
    expect((await post('/topics/full', '{}')).status).toBe(200);
  });

  it('429 when too many requests or bytes are in flight', async () => {
    const { server } = await serve({ ingest: { maxPendingRequests: 1, maxPendingBytes: 10_000 } });
    // Hold one request open: headers sent, body not finished.
    const held = http.request(`${server.url}/topics/slow`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': '10' },
    });
    const heldDone = new Promise<number>((resolve, reject) => {
      held.on('response', (res) => (res.resume(), resolve(res.statusCode!)));
      held.on('error', reject);
    });
    held.write('{"a":');
    await new Promise((r) => setTimeout(r, 100));
    const second = await fetch(`${server.url}/topics/slow`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(((await second.json()) as { message: string }).message).toContain(
      '1 requests are in flight, the limit is 1 (maxPendingRequests)',
    );
    held.end('1}   ');
    expect(await heldDone).toBe(200);
    expect(
      (
        await fetch(`${server.url}/topics/slow`, {
          method: 'POST',
          body: '{}',
          headers: { 'content-type': 'application/json' },
        })
      ).status,
    ).toBe(200);
  });

  it('Idempotency-Key: a retry returns the first offsets and stores nothing; another body with the key is 422', async () => {
    const { post, log } = await serve();
    const first = await post('/topics/idem', '[{"n":1},{"n":2}]', 'application/json', {
      'idempotency-key': 'req-7',
    });
    const again = await post('/topics/idem', '[{"n":1},{"n":2}]', 'application/json', {
      'idempotency-key': 'req-7',
    });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual({ ...((await first.json()) as object), duplicate: true });
    expect(log.watermarks('idem', 0).high).toBe(2);
    const other = await post('/topics/idem', '[{"n":3}]', 'application/json', { 'idempotency-key': 'req-7' });
    expect(other.status).toBe(422);
    expect(((await other.json()) as { code: string }).code).toBe('IDEMPOTENCY_KEY_REUSED');
  });
});

describe('server', () => {
  it('a port in use fails with INGEST_LISTEN_FAILED, saying what to do', async () => {
    const { server, log } = await serve();
    const e = await startIngestServer({ log, port: server.port }).catch((err: unknown) => err);
    expect((e as { code?: string }).code).toBe('INGEST_LISTEN_FAILED');
    expect((e as Error).message).toContain('choose another "port"');
  });
});

describe('GET', () => {
  it('/topics, /topics/:topic (watermarks, records, bytes) and /health', async () => {
    const { server, post, log } = await serve();
    await log.createTopic('g', { partitions: 2, retentionMs: 60_000 });
    await post('/topics/g?partition=1', '[{"a":1},{"a":2}]');
    const topics = await (await fetch(`${server.url}/topics`)).json();
    expect(topics).toEqual({
      topics: [{ name: 'g', partitions: 2, retentionBytes: null, retentionMs: 60_000 }],
    });
    const g = (await (await fetch(`${server.url}/topics/g`)).json()) as Record<string, unknown>;
    expect(g).toMatchObject({
      name: 'g',
      records: 2,
      partitions: [
        { partition: 0, low: 0, high: 0, records: 0, bytes: 0 },
        { partition: 1, low: 0, high: 2, records: 2, bytes: expect.any(Number) },
      ],
    });
    expect((await fetch(`${server.url}/topics/nope`)).status).toBe(404);
    const health = await (await fetch(`${server.url}/health`)).json();
    expect(health).toMatchObject({ status: 'ok', fsync: 'always', pendingRequests: 0 });
  });

  it('the plugin mounts under a prefix in another fastify app', async () => {
    const log = await openLog({ dir: tempDir(), fsync: 'never', retentionCheckIntervalMs: 0 });
    logs.push(log);
    const app = fastify();
    await app.register(ingestPlugin, { log, prefix: '/ingest' });
    app.get('/other', async () => ({ ok: true }));
    const r = await app.inject({
      method: 'POST',
      url: '/ingest/topics/m',
      payload: '{"x":1}',
      headers: { 'content-type': 'application/json' },
    });
    expect(r.statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/other' })).json()).toEqual({ ok: true });
    await app.close();
    expect(log.watermarks('m', 0).high).toBe(1);
  });
});
