/**
 * Shared by the PostgreSQL sink tests (not a test file): the database URL,
 * unique table names, an admin pool, a SinkContext for driving the sink
 * directly, and a TCP proxy that can refuse connections or cut one at a
 * chosen moment.
 */
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { type OutputMode, type Schema, type SinkContext, silentLogger, systemClock } from 'millrace';
import pg from 'pg';
import { expect } from 'vitest';

export const DB_URL = process.env.MILLRACE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A lower-case name unique to this test run (tables, sinks, query ids). */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

const pools: pg.Pool[] = [];
const created: string[] = [];
const sinks: string[] = [];

/** A pool for the test's own queries (ended by `cleanup()`). */
export function adminPool(): pg.Pool {
  const p = new pg.Pool({ connectionString: DB_URL, max: 3, application_name: 'millrace-sink-test-admin' });
  p.on('error', () => {});
  pools.push(p);
  return p;
}

/** Remember a table to drop in cleanup() (quoted name), and its sink's progress rows (default: the default sink name). */
export function dropLater(quotedName: string, sinkName?: string): void {
  created.push(quotedName);
  if (sinkName !== undefined) sinks.push(sinkName);
  else if (/^"[^"]*"$/.test(quotedName)) sinks.push(`postgres-${quotedName.slice(1, -1)}`);
}

export async function cleanup(): Promise<void> {
  if (created.length) {
    const p = adminPool();
    for (const t of created.splice(0)) await p.query(`DROP TABLE IF EXISTS ${t}`);
    const progress = (await p.query(`SELECT to_regclass('millrace_sink_batches') AS r`)).rows[0].r;
    if (progress) await p.query('DELETE FROM millrace_sink_batches WHERE sink = ANY($1)', [sinks.splice(0)]);
  }
  await Promise.all(pools.splice(0).map((p) => p.end()));
}

/** A SinkContext for calling open()/addBatch() directly. */
export function sinkContext(
  schema: Schema<any>,
  outputMode: OutputMode,
  queryId = uniqueName('query'),
  log = silentLogger,
): SinkContext {
  return {
    queryId,
    queryName: queryId,
    stateDir: '/nonexistent-sink-state-dir',
    clock: systemClock,
    log,
    schema: schema as Schema,
    outputMode,
  };
}

/** A logger that keeps its records. */
export function recordingLogger() {
  const records: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      void records.push({ level, msg, fields });
  return { records, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * A TCP proxy in front of PostgreSQL. `stop()` closes the port (connections
 * are refused) and cuts every connection; `start()` listens again on the same
 * port. `cutAfterClientSends(text)`: the next time a client sends bytes that
 * contain `text`, they are delivered to the server, and then the client's side
 * is cut before any answer comes back (e.g. a COMMIT whose outcome is lost).
 */
export class TcpProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private cutOn: { text: Buffer; resolve: () => void } | null = null;
  port = 0;
  connections = 0;

  constructor(
    private readonly targetHost = '127.0.0.1',
    private readonly targetPort = 5432,
  ) {}

  async start(): Promise<void> {
    const server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  url(user = 'postgres', password?: string, db = 'test'): string {
    return `postgres://${user}${password ? `:${password}` : ''}@127.0.0.1:${this.port}/${db}`;
  }

  cutAfterClientSends(text: string): Promise<void> {
    return new Promise((resolve) => (this.cutOn = { text: Buffer.from(text), resolve }));
  }

  private accept(client: net.Socket): void {
    this.connections++;
    const upstream = net.connect(this.targetPort, this.targetHost);
    this.sockets.add(client);
    this.sockets.add(upstream);
    let cut = false;
    client.on('data', (d: Buffer) => {
      if (cut) return;
      upstream.write(d);
      if (this.cutOn && d.includes(this.cutOn.text)) {
        const { resolve } = this.cutOn;
        this.cutOn = null;
        cut = true;
        upstream.end(); // the bytes are delivered, then FIN: the server runs them
        client.destroy(); // the client never hears back
        resolve();
      }
    });
    upstream.on('data', (d: Buffer) => {
      if (!cut) client.write(d);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', () => {
      if (!cut) close();
    });
    upstream.on('close', close);
  }
}

/** The batch id the sink recorded in its progress table (-1: none yet, or no table yet). */
export async function recordedBatch(admin: pg.Pool, sinkName: string): Promise<number> {
  const exists = (await admin.query(`SELECT to_regclass('millrace_sink_batches') AS r`)).rows[0].r;
  if (!exists) return -1;
  const r = await admin.query(`SELECT batch_id::int AS b FROM millrace_sink_batches WHERE sink = $1`, [
    sinkName,
  ]);
  expect(r.rows.length, 'one progress row per (query, sink)').toBeLessThanOrEqual(1);
  return r.rows[0]?.b ?? -1;
}

/**
 * After a kill: the batch PostgreSQL recorded lies between the checkpoint's last commit and its
 * last planned batch (the sink commits before commits/N, never beyond offsets/N). Returns where the
 * kill landed, for the test's tally.
 */
export function sinkPhaseAfterKill(
  recorded: number,
  cp: {
    readonly lastCommitted: number | null;
    readonly uncommitted: number | null;
    readonly offsets: readonly number[];
  },
  started: boolean,
  where: string,
): string {
  const lastOffsets = cp.offsets.at(-1) ?? -1;
  expect(
    recorded,
    `${where}: PostgreSQL has batch ${recorded}, the checkpoint's last commit is ${cp.lastCommitted}`,
  ).toBeGreaterThanOrEqual(cp.lastCommitted ?? -1);
  expect(
    recorded,
    `${where}: PostgreSQL has batch ${recorded} beyond the last planned batch ${lastOffsets}`,
  ).toBeLessThanOrEqual(lastOffsets);
  if (!started) return 'startup';
  if (cp.uncommitted === null) return 'between batches';
  return recorded === cp.uncommitted ? 'PG committed N, no commits/N' : 'batch N in flight, not in PG';
}
