/**
 * HTTP ingest against hostile and careless clients (issue 17): deep nesting,
 * invalid UTF-8, key fields named like object built-ins, Kafka's topic-name
 * rules, nosniff, and slow clients that must not lock well-behaved ones out.
 */
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { logSource, openLog, startIngestServer, type IngestServer, type Log } from '../src/index.ts';
import { cleanupDirs, context, readAll, tempDir } from './helpers.ts';

const servers: IngestServer[] = [];
const logs: Log[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.close();
  for (const l of logs.splice(0)) await l.close();
  cleanupDirs();
});

async function serve(ingest: Record<string, unknown> = {}) {
  const log = await openLog({ dir: tempDir(), fsync: 'always', retentionCheckIntervalMs: 0 });
  logs.push(log);
  const server = await startIngestServer({ log, port: 0, ...ingest });
  servers.push(server);
  const post = (p: string, body: string | Uint8Array, type = 'application/json') =>
    fetch(`${server.url}${p}`, { method: 'POST', body, headers: { 'content-type': type } });
  return { server, log, post };
}

describe('hostile bodies', () => {
  it('an array element nested 100,000 levels deep is refused with 400 naming the depth limit, and nothing is stored', async () => {
    const { log, post } = await serve();
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const r = await post('/topics/deep', `[{"a":${deep}}]`);
    expect(r.status).toBe(400);
    const body = (await r.json()) as { code: string; message: string };
    expect(body.code).toBe('INGEST_TOO_DEEP');
    expect(body.message).toMatch(/nested more than 1000 levels/);
    expect(body.message).toMatch(/maxJsonDepth/);
    expect(log.topic('deep')).toBeUndefined();
    // NDJSON and a single object are held to the same limit; the limit is an option.
    const nd = await post('/topics/deep', `{"ok":1}\n{"a":${deep}}\n`, 'application/x-ndjson');
    expect(nd.status).toBe(400);
    expect(((await nd.json()) as { message: string }).message).toMatch(/line 2/);
    const obj = await post('/topics/deep', `{"a":${deep}}`);
    expect(obj.status).toBe(400);
  });

  it('the depth limit counts containers, not brackets inside strings, and is configurable', async () => {
    const { post } = await serve({ maxJsonDepth: 3 });
    expect((await post('/topics/d', '{"a":{"b":{"c":"[[[[[[{{{{"}}}')).status).toBe(200);
    expect((await post('/topics/d', '[{"a":{"b":{"c":[1]}}}]')).status).toBe(400);
    expect((await post('/topics/d', '[{"a":{"b":"\\"[[[["}}]')).status).toBe(200);
  });

  it('invalid UTF-8 is refused with 400 naming the byte offset, and nothing is stored', async () => {
    const { log, post } = await serve();
    const bytes = Buffer.concat([Buffer.from('{"user":"ann'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const r = await post('/topics/utf', bytes);
    expect(r.status).toBe(400);
    const body = (await r.json()) as { code: string; message: string };
    expect(body.code).toBe('INGEST_BAD_UTF8');
    expect(body.message).toMatch(/byte offset 12/);
    expect(log.topic('utf')).toBeUndefined();
    // a truncated multi-byte sequence in NDJSON, too
    const nd = Buffer.concat([Buffer.from('{"a":1}\n{"b":"'), Buffer.from([0xe2, 0x82]), Buffer.from('"}')]);
    const r2 = await post('/topics/utf', nd, 'application/x-ndjson');
    expect(r2.status).toBe(400);
    expect(((await r2.json()) as { message: string }).message).toMatch(/byte offset 14/);
    expect(log.topic('utf')).toBeUndefined();
    // valid multi-byte text still goes in unchanged
    const ok = await post('/topics/utf', Buffer.from('{"city":"Zürich €𝄞"}'));
    expect(ok.status).toBe(200);
    expect((await readAll(log, 'utf')).map(([, v]) => v)).toEqual(['{"city":"Zürich €𝄞"}']);
  });

  it('?key= naming an object built-in (toString, constructor, __proto__) reads only the event’s own field', async () => {
    const { log, post } = await serve();
    for (const field of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      const r = await post(`/topics/keys?key=${field}`, '[{"user":"ann"}]');
      expect(r.status, field).toBe(200);
    }
    const r = await post('/topics/keys?key=toString', '{"toString":"k1"}');
    expect(r.status).toBe(200);
    const keys: unknown[] = [];
    for await (const chunk of log.read('keys', 0, 0)) for (const rec of chunk) keys.push(rec.key);
    expect(keys).toEqual([null, null, null, null, 'k1']);
  });
});

describe("Kafka's topic-name rules", () => {
  it('"." and ".." are refused; 249 legal characters are fine, 250 are not', async () => {
    const { server, log, post } = await serve();
    for (const name of ['.', '..']) {
      // node:http sends the path as written (fetch would resolve the dot segments)
      const r = await postFrom(server.url, '127.0.0.1', `/topics/${name}`, '{"a":1}');
      expect(r.status, name).toBe(400);
      expect((JSON.parse(r.body) as { code: string }).code).toBe('INVALID_TOPIC_NAME');
      await expect(log.createTopic(name)).rejects.toMatchObject({ code: 'INVALID_TOPIC_NAME' });
    }
    expect((await post(`/topics/${'a'.repeat(249)}`, '{"a":1}')).status).toBe(200);
    expect((await post(`/topics/${'a'.repeat(250)}`, '{"a":1}')).status).toBe(400);
    expect((await post('/topics/a..b', '{"a":1}')).status).toBe(200);
    expect(log.topics().map((t) => t.name)).not.toContain('.');
  });
});

describe('headers', () => {
  it('JSON answers and 404s send X-Content-Type-Options: nosniff', async () => {
    const { server, post } = await serve();
    const ok = await post('/topics/h', '{"a":1}');
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
    const bad = await post('/topics/h', 'nope');
    expect(bad.headers.get('x-content-type-options')).toBe('nosniff');
    for (const p of ['/topics', '/health', '/topics/h', '/nowhere']) {
      const r = await fetch(`${server.url}${p}`);
      expect(r.headers.get('x-content-type-options'), p).toBe('nosniff');
    }
  });
});

/** A connection that sends headers announcing `length` bytes and then only part of the body. */
function stall(url: string, from: string, length = 1000): Promise<net.Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port), localAddress: from }, () => {
      s.write(
        `POST /topics/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n{"a":`,
      );
      resolve(s);
    });
    s.on('error', () => undefined);
    s.once('error', reject);
    sockets.push(s);
  });
}

const closed = (s: net.Socket) =>
  new Promise<string>((resolve) => {
    let data = '';
    s.on('data', (d) => (data += d.toString()));
    if (s.destroyed) resolve(data);
    s.on('close', () => resolve(data));
  });

describe('slow clients', () => {
  it('1,030 stalled uploads from one client do not lock out other clients, and that client is held to its own limit', async () => {
    const { server } = await serve();
    const stalled: net.Socket[] = [];
    for (let i = 0; i < 1030; i++) stalled.push(await stall(server.url, '127.0.0.1'));
    await new Promise((r) => setTimeout(r, 300));
    // Another client (a different address on the loopback network) is served at once, repeatedly.
    for (let i = 0; i < 20; i++) {
      const good = await postFrom(server.url, '127.0.0.2', '/topics/good', `{"n":${i}}`);
      expect(good.status).toBe(200);
    }
    // The stalling client itself is told why it is refused.
    const same = await postFrom(server.url, '127.0.0.1', '/topics/good', '{"n":2}');
    expect(same.status).toBe(429);
    expect(JSON.parse(same.body)).toMatchObject({ code: 'INGEST_CLIENT_OVERLOADED' });
    expect(JSON.parse(same.body).message).toMatch(/maxPendingRequestsPerClient/);
  });

  it('a stalled upload is answered 408 and closed after bodyTimeoutMs, freeing its slot', async () => {
    const { server, log } = await serve({ bodyTimeoutMs: 500, maxPendingRequestsPerClient: 4 });
    const stalled: net.Socket[] = [];
    for (let i = 0; i < 4; i++) stalled.push(await stall(server.url, '127.0.0.1'));
    const ends = stalled.map(closed);
    const blocked = await postFrom(server.url, '127.0.0.1', '/topics/good', '{"n":1}');
    expect(blocked.status).toBe(429);
    const t0 = Date.now();
    const answers = await Promise.all(ends);
    expect(Date.now() - t0).toBeLessThan(5000);
    for (const a of answers) {
      expect(a).toMatch(/^HTTP\/1\.1 408/);
      expect(a).toMatch(/INGEST_BODY_TIMEOUT/);
    }
    const after = await postFrom(server.url, '127.0.0.1', '/topics/good', '{"n":2}');
    expect(after.status).toBe(200);
    expect(log.topic('slow')).toBeUndefined();
    const health = (await (await fetch(`${server.url}/health`)).json()) as { pendingRequests: number };
    expect(health.pendingRequests).toBe(0);
  });
});

async function postFrom(
  url: string,
  from: string,
  p: string,
  body: string,
): Promise<{ status: number; body: string }> {
  const http = await import('node:http');
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: Number(u.port),
        path: p,
        method: 'POST',
        localAddress: from,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: data }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('closing with stalled uploads', () => {
  it('close() answers stalled uploads 408 at once instead of waiting for bodyTimeoutMs', async () => {
    const { server } = await serve({ bodyTimeoutMs: 30_000 });
    servers.splice(servers.indexOf(server), 1);
    const s = await stall(server.url, '127.0.0.1');
    const end = closed(s);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    await server.close();
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(await end).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe('maxOffsetsPerTrigger: the shared rule of partitioned sources', () => {
  it('a partition far behind does not starve a small one; the batch is exactly the limit', async () => {
    const log = await openLog({ dir: tempDir(), fsync: 'never', retentionCheckIntervalMs: 0 });
    logs.push(log);
    await log.createTopic('r', { partitions: 2 });
    await log.append('r', [
      ...Array.from({ length: 5000 }, (_, i) => ({ value: String(i), partition: 0 })),
      { value: 'small', partition: 1 },
    ]);
    const src = logSource({
      log,
      topics: 'r',
      startingOffsets: 'earliest',
      format: 'string',
      maxOffsetsPerTrigger: 10,
    });
    await src.open(context(tempDir()));
    // shares 9.998 and 0.002: partition 1 reads its one record now (the largest-remainder split alone gave it 0)
    expect(await src.latestOffset(null, { kind: 'default' })).toEqual({ r: { '0': 9, '1': 1 } });
    await src.close();
  });
});

describe('topics named like object built-ins', () => {
  it('a source on topics "constructor", "toString" and "__proto__" plans its offsets per topic', async () => {
    const log = await openLog({ dir: tempDir(), fsync: 'never', retentionCheckIntervalMs: 0 });
    logs.push(log);
    for (const [i, name] of ['constructor', 'toString', '__proto__'].entries()) {
      await log.createTopic(name);
      await log.append(
        name,
        Array.from({ length: i + 1 }, (_, k) => ({ value: String(k) })),
      );
    }
    const src = logSource({
      log,
      topics: ['constructor', 'toString', '__proto__'],
      startingOffsets: 'earliest',
      format: 'string',
    });
    await src.open(context(tempDir()));
    const end = await src.latestOffset(null, { kind: 'default' });
    expect(JSON.parse(JSON.stringify(end))).toEqual(
      JSON.parse('{"__proto__":{"0":3},"constructor":{"0":1},"toString":{"0":2}}'),
    );
    const again = await src.latestOffset(end, { kind: 'default' });
    expect(again).toEqual(end);
    await src.close();
  });
});
