import { appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectorContext, Offset, Source } from '../../src/connectors/contracts.ts';
import { socketSource } from '../../src/connectors/socket/index.ts';
import { MillraceError } from '../../src/errors/index.ts';
import { type Clock, ManualClock, systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';

const T0 = Date.UTC(2025, 0, 1);
const DEFAULT = { kind: 'default' } as const;
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A line server like `nc -lk`: sends to every connected client. */
class TestServer {
  private server: net.Server | undefined;
  readonly clients = new Set<net.Socket>();
  /** Connections accepted since the test server was created. */
  accepted = 0;
  port = 0;

  async start(port = 0): Promise<this> {
    const server = net.createServer((sock) => {
      this.clients.add(sock);
      this.accepted++;
      sock.on('close', () => this.clients.delete(sock));
      sock.on('error', () => {});
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this;
  }

  async send(data: string | Buffer): Promise<void> {
    await Promise.all(
      [...this.clients].map((c) => new Promise<void>((resolve) => c.write(data, () => resolve()))),
    );
    await sleep(15); // let each write arrive as its own chunk
  }

  /** Wait until `n` connections were accepted in all (default: one more than before). */
  async waitForAccepted(n: number): Promise<void> {
    await waitFor(() => this.accepted >= n, `connection #${n}`);
  }

  /** Close the clients gracefully (FIN) and stop listening. */
  async stop(): Promise<void> {
    for (const c of this.clients) c.end();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function newServer(): Promise<TestServer> {
  const s = await new TestServer().start();
  cleanups.push(() => s.stop());
  return s;
}

async function tmpDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'millrace-socket-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function context(stateDir: string, clock: Clock = systemClock): ConnectorContext {
  return { queryId: 'q1', queryName: 'q', stateDir, clock, log: silentLogger };
}

async function openSource<R>(src: Source<R>, ctx: ConnectorContext): Promise<Source<R>> {
  await src.open(ctx);
  cleanups.push(() => src.close());
  return src;
}

/** Poll latestOffset until it reaches `n` lines. */
async function offsetReaches(src: Source<any>, start: Offset | null, n: number): Promise<Offset> {
  let end: Offset | null = null;
  await waitFor(
    async () => {
      end = await src.latestOffset(start, DEFAULT);
      return end === n;
    },
    `offset ${n} (last: ${JSON.stringify(end)})`,
  );
  return end!;
}

const values = async (src: Source<{ value: string }>, start: Offset | null, end: Offset) =>
  (await src.getBatch(start, end, { batchId: 0 })).rows.map((r) => r.value);

describe('socketSource', () => {
  it('turns received lines into rows: split chunks, \\r\\n, UTF-8 split across chunks', async () => {
    const server = await newServer();
    const clock = new ManualClock(T0);
    const src = await openSource(
      socketSource({ host: '127.0.0.1', port: server.port, includeTimestamp: true }),
      context(await tmpDir(), clock),
    );
    expect(src.describe()).toBe(`TextSocketSource[127.0.0.1:${server.port}]`);
    expect(src.schema.names).toEqual(['value', 'timestamp']);
    expect(src.replayable).toBe(true);
    await server.waitForAccepted(1);
    expect(await src.latestOffset(null, DEFAULT)).toBeNull();

    await server.send('hello\nwor');
    await server.send('ld\r');
    await server.send('\n\n'); // \r\n split across chunks, then an empty line
    const cafe = Buffer.from('café ✓ 😀\n', 'utf8');
    const e = cafe.indexOf(0xc3); // split inside é
    const smiley = cafe.indexOf(0xf0);
    await server.send(cafe.subarray(0, e + 1));
    await server.send(cafe.subarray(e + 1, smiley + 2)); // split inside 😀
    await server.send(cafe.subarray(smiley + 2));
    const end = await offsetReaches(src, null, 4);
    const batch = await src.getBatch(null, end, { batchId: 0 });
    expect(batch.rows).toEqual([
      { value: 'hello', timestamp: T0 },
      { value: 'world', timestamp: T0 },
      { value: '', timestamp: T0 },
      { value: 'café ✓ 😀', timestamp: T0 },
    ]);
    expect(batch.metrics).toMatchObject({
      connectionState: 'connected',
      connects: 1,
      walLines: 4,
      linesReceived: 4,
    });

    clock.advance(5000);
    await server.send('a\nb\n');
    const end2 = await offsetReaches(src, end, 6);
    expect((await src.getBatch(end, end2, { batchId: 1 })).rows).toEqual([
      { value: 'a', timestamp: T0 + 5000 },
      { value: 'b', timestamp: T0 + 5000 },
    ]);
    expect(src.reportLatestOffset!()).toBe(6);
    expect(await src.latestOffset(end2, DEFAULT)).toBe(6); // nothing new
  });

  it('keeps durable lines across a crash and a restart, replays exactly, and releases committed segments', async () => {
    const server = await newServer();
    const dir = await tmpDir();
    const opts = { host: '127.0.0.1', port: server.port, segmentLines: 2 };
    const a = socketSource(opts);
    await a.open(context(dir));
    await server.waitForAccepted(1);
    await server.send('l0\nl1\nl2\n');
    const end0 = await offsetReaches(a, null, 3);
    expect(await values(a, null, end0)).toEqual(['l0', 'l1', 'l2']);
    await server.send('l3\nl4\n');
    // The lines reach the WAL in the background, without a latestOffset call.
    await waitFor(() => a.reportLatestOffset!() === 5, 'background WAL write');

    // "Crash": a second instance opens the same state dir while the first is abandoned.
    await server.stop();
    const b = await openSource(socketSource(opts), context(dir));
    expect(await b.latestOffset(null, DEFAULT)).toBe(5);
    expect(await values(b, null, 3)).toEqual(['l0', 'l1', 'l2']); // replay of batch 0
    expect(await values(b, 3, 5)).toEqual(['l3', 'l4']);
    expect((await readdir(path.join(dir, 'wal'))).sort()).toEqual([
      '00000000000000000000.wal',
      '00000000000000000002.wal',
      '00000000000000000004.wal',
    ]);
    await b.commit(3);
    expect((await readdir(path.join(dir, 'wal'))).sort()).toEqual([
      '00000000000000000002.wal',
      '00000000000000000004.wal',
    ]);
    expect(await values(b, 3, 5)).toEqual(['l3', 'l4']);
    await expect(b.getBatch(null, 3, { batchId: 0 })).rejects.toThrow(
      /lines \[0, 3\) are not in the write-ahead log/,
    );
    await b.commit(5); // never deletes the last segment
    expect(await readdir(path.join(dir, 'wal'))).toEqual(['00000000000000000004.wal']);
    await a.close();
    await b.close();

    // A restart after the release still knows the line count.
    const c = await openSource(socketSource(opts), context(dir));
    expect(await c.latestOffset(5, DEFAULT)).toBe(5);
    expect(await values(c, 4, 5)).toEqual(['l4']);
  });

  it('drops a torn last WAL record after a crash and appends after it', async () => {
    const server = await newServer();
    const dir = await tmpDir();
    const opts = { host: '127.0.0.1', port: server.port };
    const a = socketSource(opts);
    await a.open(context(dir));
    await server.waitForAccepted(1);
    await server.send('a\nb\n');
    await offsetReaches(a, null, 2);
    await a.close();
    const seg = path.join(dir, 'wal', '00000000000000000000.wal');
    await appendFile(seg, '[1735689600000,"half a rec'); // torn write: no newline

    const b = await openSource(socketSource(opts), context(dir));
    expect(await b.latestOffset(null, DEFAULT)).toBe(2);
    await server.waitForAccepted(2);
    await server.send('c\n');
    const end = await offsetReaches(b, 2, 3);
    expect(await values(b, null, end)).toEqual(['a', 'b', 'c']);
    const lines = (await readFile(seg, 'utf8')).split('\n');
    expect(lines).toHaveLength(4); // 3 records + the final empty string
    expect(lines.slice(0, 3).map((l) => JSON.parse(l)[1])).toEqual(['a', 'b', 'c']);
  });

  it('waits for a server that is not there yet and reconnects after it restarts', async () => {
    const server = new TestServer();
    await server.start();
    const port = server.port;
    await server.stop(); // nothing listens on the port now
    cleanups.push(() => server.stop());

    const src = await openSource(
      socketSource({ host: '127.0.0.1', port, reconnectDelay: 10, maxReconnectDelay: 50 }),
      context(await tmpDir()),
    );
    await sleep(100);
    expect(await src.latestOffset(null, DEFAULT)).toBeNull();

    await server.start(port);
    await server.waitForAccepted(1);
    await server.send('one\ntail without newline');
    await server.stop(); // a clean close keeps the unterminated last line
    const end = await offsetReaches(src, null, 2);

    await server.start(port);
    await server.waitForAccepted(2);
    await server.send('two\n');
    const end2 = await offsetReaches(src, end, 3);
    expect(await values(src, null, end2)).toEqual(['one', 'tail without newline', 'two']);
    const metrics = (await src.getBatch(end, end2, { batchId: 1 })).metrics!;
    expect(metrics.connectionState).toBe('connected');
    expect(metrics.connects).toBe(2);
    expect(metrics.connectFailures).toBeGreaterThan(0);
  });

  it('rejects invalid options with a clear MillraceError', () => {
    expect(() => socketSource({ host: '', port: 9999 })).toThrow(/host "" must be a host name/);
    expect(() => socketSource({ host: 'localhost', port: 70000 })).toThrow(
      /port 70000 must be an integer from 1 to 65535/,
    );
    expect(() => socketSource({ host: 'localhost', port: 1, includeTimestamp: 'yes' as never })).toThrow(
      MillraceError,
    );
    expect(() => socketSource({ host: 'localhost', port: 1, reconnectDelay: 'later' })).toThrow(
      /cannot read "later"/,
    );
  });
});
