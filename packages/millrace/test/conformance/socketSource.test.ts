/**
 * socketSource through the shared source conformance suite, against a real
 * TCP line server in this process. The server behaves like a producer with a
 * buffer: lines appended while no client is connected wait and are sent to
 * the next client. Outage: the server closes every connection, stops
 * listening, and listens again on the same port; the source reconnects.
 */
import * as net from 'node:net';
import { type Source, type SocketRow, socketSource } from 'millrace';
import { sourceConformance } from 'millrace/testing/conformance';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`line server: timed out waiting for ${what}`);
    await sleep(2);
  }
}

class LineServer {
  private server: net.Server | undefined;
  private readonly clients = new Set<net.Socket>();
  private newest: net.Socket | undefined;
  private queue: string[] = [];
  port = 0;

  async start(): Promise<void> {
    const server = net.createServer((sock) => {
      sock.on('error', () => {});
      sock.on('close', () => {
        this.clients.delete(sock);
        if (this.newest === sock) this.newest = undefined;
      });
      this.clients.add(sock);
      this.newest = sock;
      this.flush();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  /** Close every connection (FIN) and stop listening. */
  async stop(): Promise<void> {
    for (const c of this.clients) c.end();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
    await until(() => this.clients.size === 0, 'clients to go away');
  }

  send(lines: readonly string[]): void {
    this.queue.push(lines.join('\n') + '\n');
    this.flush();
  }

  private flush(): void {
    const sock = this.newest;
    if (!sock || !this.server) return;
    for (const chunk of this.queue.splice(0)) sock.write(chunk);
  }

  get connected(): number {
    return this.clients.size;
  }
}

/**
 * The socket source, with open() waiting for its connection and close() until the server saw
 * it go — so the server never writes to a connection whose client is already closed.
 */
function tracked(inner: Source<SocketRow>, server: LineServer): Source<SocketRow> {
  return {
    name: inner.name,
    schema: inner.schema,
    replayable: inner.replayable,
    describe: () => inner.describe(),
    async open(ctx) {
      await inner.open(ctx);
      await until(() => server.connected > 0, 'the source to connect');
    },
    latestOffset: (start, limit) => inner.latestOffset(start, limit),
    getBatch: (start, end, info) => inner.getBatch(start, end, info),
    commit: (end) => inner.commit(end),
    reportLatestOffset: () => inner.reportLatestOffset?.() ?? null,
    async close() {
      await inner.close();
      await until(() => server.connected === 0, 'the server to see the source disconnect');
    },
  };
}

const line = (i: number) => `${i} payload ✓ café, "quoted"`;

sourceConformance('socketSource', {
  order: 'total',
  badRecords: { notApplicable: 'every line is a valid row { value }; parsing happens in the query' },
  outage: { behaviour: 'recovers' },
  async create() {
    const server = new LineServer();
    await server.start();
    return {
      source: () =>
        tracked(
          socketSource({
            name: 'lines',
            host: '127.0.0.1',
            port: server.port,
            reconnectDelay: 10,
            maxReconnectDelay: 50,
          }),
          server,
        ),
      async append(records) {
        server.send(records.map((r) => (r === 'malformed' ? 'not used' : line(r))));
      },
      index: (row) => Number.parseInt(row.value, 10),
      expectedRow: (i) => ({ value: line(i) }),
      stopExternal: () => server.stop(),
      startExternal: () => server.start(),
      cleanup: () => server.stop(),
    };
  },
});
