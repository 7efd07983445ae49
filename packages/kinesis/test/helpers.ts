/**
 * Shared by the Kinesis tests (not a test file):
 *   - kinesalite, a local Kinesis, in a child process on a free port (startKinesalite), with a
 *     clock the test can move forward so that records age out of the retention for real;
 *   - an admin client: create streams, put records, split and merge shards, read a stream back;
 *   - FaultProxy: an HTTP proxy in front of kinesalite that answers chosen calls with Kinesis'
 *     own error responses (throttling, bad credentials), refuses part of a PutRecords as Kinesis
 *     does under load, or goes away (outage). kinesalite itself never throttles nor checks keys.
 *   - a SinkContext for driving sinks directly.
 */
import { type ChildProcess, fork } from 'node:child_process';
import * as http from 'node:http';
import type * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateStreamCommand,
  DecreaseStreamRetentionPeriodCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  MergeShardsCommand,
  PutRecordsCommand,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  type OutputMode,
  type Schema,
  type SinkContext,
  silentLogger,
  systemClock,
  type Logger,
} from 'millrace';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'kinesalite.child.ts');

/** Credentials kinesalite accepts (it checks that requests are signed, not by whom). */
export const TEST_CREDENTIALS = {
  accessKeyId: 'AKIDTESTKINESIS',
  secretAccessKey: 'kinesis-test-secret-7c2e91',
};

export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export interface Kinesalite {
  readonly port: number;
  readonly endpoint: string;
  /** Move kinesalite's clock forward (records older than the retention are then gone). */
  advanceClock(ms: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startKinesalite(port = 0): Promise<Kinesalite> {
  const child: ChildProcess = fork(CHILD, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, KINESALITE_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const got: number = await new Promise((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (d: Buffer) => {
      text += String(d);
      const line = text.split('\n')[0];
      if (text.includes('\n')) resolve((JSON.parse(line!) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`kinesalite exited with code ${code} before listening`)));
  });
  return {
    port: got,
    endpoint: `http://127.0.0.1:${got}`,
    advanceClock: (ms) =>
      new Promise<void>((resolve) => {
        child.once('message', () => resolve());
        child.send({ advanceClockMs: ms });
      }),
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    },
  };
}

export function adminClient(endpoint: string): KinesisClient {
  return new KinesisClient({
    region: 'us-east-1',
    endpoint,
    credentials: TEST_CREDENTIALS,
    requestHandler: new NodeHttpHandler(),
  });
}

export async function createStream(c: KinesisClient, name: string, shards: number): Promise<void> {
  await c.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  await waitActive(c, name);
}

export async function waitActive(c: KinesisClient, name: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = await c.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (s.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`stream ${name} did not become ACTIVE`);
}

export interface Put {
  readonly key: string;
  readonly data: string;
}

/** Put records (500 per request), in order; returns each record's shard and sequence number. */
export async function putRecords(
  c: KinesisClient,
  stream: string,
  records: readonly Put[],
): Promise<{ shardId: string; seq: string }[]> {
  const out: { shardId: string; seq: string }[] = [];
  for (let i = 0; i < records.length; i += 500) {
    const chunk = records.slice(i, i + 500);
    const res = await c.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: chunk.map((r) => ({ PartitionKey: r.key, Data: Buffer.from(r.data) })),
      }),
    );
    if (res.FailedRecordCount) throw new Error(`${res.FailedRecordCount} records refused`);
    for (const r of res.Records!) out.push({ shardId: r.ShardId!, seq: r.SequenceNumber! });
  }
  return out;
}

export async function shardsOf(
  c: KinesisClient,
  stream: string,
): Promise<{ id: string; start: string; end: string; parent?: string; closed: boolean }[]> {
  const res = await c.send(new ListShardsCommand({ StreamName: stream }));
  return res.Shards!.map((s) => ({
    id: s.ShardId!,
    start: s.HashKeyRange!.StartingHashKey!,
    end: s.HashKeyRange!.EndingHashKey!,
    ...(s.ParentShardId ? { parent: s.ParentShardId } : {}),
    closed: !!s.SequenceNumberRange?.EndingSequenceNumber,
  }));
}

/** Split an open shard in the middle of its hash range; waits until the stream is ACTIVE again. */
export async function splitShard(c: KinesisClient, stream: string, shardId: string): Promise<void> {
  const s = (await shardsOf(c, stream)).find((x) => x.id === shardId)!;
  const mid = (BigInt(s.start) + BigInt(s.end)) / 2n;
  await c.send(
    new SplitShardCommand({ StreamName: stream, ShardToSplit: shardId, NewStartingHashKey: String(mid) }),
  );
  await waitActive(c, stream);
}

export async function mergeShards(c: KinesisClient, stream: string, a: string, b: string): Promise<void> {
  await c.send(new MergeShardsCommand({ StreamName: stream, ShardToMerge: a, AdjacentShardToMerge: b }));
  await waitActive(c, stream);
}

export async function setRetentionHours(c: KinesisClient, stream: string, hours: number): Promise<void> {
  await c.send(new DecreaseStreamRetentionPeriodCommand({ StreamName: stream, RetentionPeriodHours: hours }));
}

/** Every record of every shard (in shard order, then sequence order): key, data, shard, seq. */
export async function readAll(
  c: KinesisClient,
  stream: string,
): Promise<{ shardId: string; seq: string; key: string; data: string; raw: Buffer }[]> {
  const out: { shardId: string; seq: string; key: string; data: string; raw: Buffer }[] = [];
  for (const s of (await shardsOf(c, stream)).sort((a, b) => (a.id < b.id ? -1 : 1))) {
    let it = (
      await c.send(
        new GetShardIteratorCommand({ StreamName: stream, ShardId: s.id, ShardIteratorType: 'TRIM_HORIZON' }),
      )
    ).ShardIterator;
    while (it) {
      const page = await c.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10_000 }));
      for (const r of page.Records ?? [])
        out.push({
          shardId: s.id,
          seq: r.SequenceNumber!,
          key: r.PartitionKey!,
          data: Buffer.from(r.Data!).toString(),
          raw: Buffer.from(r.Data!),
        });
      if ((page.Records ?? []).length === 0) break;
      it = page.NextShardIterator;
    }
  }
  return out;
}

export function sinkContext(
  schema: Schema<any>,
  outputMode: OutputMode,
  queryId = uniqueName('query'),
  log: Logger = silentLogger,
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

/** A logger that keeps what it is given, to check warnings and that secrets stay out. */
export function recordingLogger(): Logger & { lines: { level: string; msg: string; fields?: unknown }[] } {
  const lines: { level: string; msg: string; fields?: unknown }[] = [];
  const rec = (level: string) => (msg: string, fields?: unknown) => void lines.push({ level, msg, fields });
  return { lines, debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') } as never;
}

// -- FaultProxy ------------------------------------------------------------------------

export type Fault =
  | { readonly op: string; readonly times: number; readonly error: string; readonly status?: number }
  /** PutRecords: every other record (odd indices) refused with `code`, the rest written. */
  | { readonly op: 'PutRecords'; readonly times: number; readonly refuseOdd: string };

/** An HTTP proxy in front of kinesalite that injects Kinesis' error answers on chosen calls. */
export class FaultProxy {
  private server: http.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private faults: { f: Fault; left: number }[] = [];
  /** Calls seen, by operation (X-Amz-Target), and answers injected. */
  readonly calls = new Map<string, number>();
  injected = 0;
  port = 0;

  constructor(private readonly upstreamPort: number) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  inject(f: Fault): void {
    this.faults.push({ f, left: f.times });
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Close the port and cut every connection (an endpoint gone away). */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body = Buffer.concat(chunks);
    const op = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '?';
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
    const hit = this.faults.find((x) => x.left > 0 && x.f.op === op);
    if (hit) hit.left--;
    if (hit && 'error' in hit.f) {
      this.injected++;
      const payload = JSON.stringify({ __type: hit.f.error, message: `injected ${hit.f.error}` });
      res.writeHead(hit.f.status ?? 400, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-errortype': hit.f.error,
      });
      res.end(payload);
      return;
    }
    let refused: number[] = [];
    if (hit && 'refuseOdd' in hit.f) {
      this.injected++;
      const o = JSON.parse(body.toString()) as { Records: unknown[] };
      refused = o.Records.map((_, i) => i).filter((i) => i % 2 === 1);
      o.Records = o.Records.filter((_, i) => i % 2 === 0);
      body = Buffer.from(JSON.stringify(o));
    }
    const headers = {
      ...req.headers,
      'content-length': String(body.length),
      host: `127.0.0.1:${this.upstreamPort}`,
    };
    const up = http.request({
      host: '127.0.0.1',
      port: this.upstreamPort,
      method: req.method,
      path: req.url,
      headers,
    });
    up.on('error', () => res.destroy());
    up.on('response', async (ur) => {
      const parts: Buffer[] = [];
      for await (const c of ur) parts.push(c as Buffer);
      let out = Buffer.concat(parts);
      if (hit && 'refuseOdd' in hit.f && ur.statusCode === 200) {
        const o = JSON.parse(out.toString()) as { Records: object[]; FailedRecordCount: number };
        const merged: object[] = [];
        let k = 0;
        const n = o.Records.length + refused.length;
        for (let i = 0; i < n; i++)
          merged.push(
            refused.includes(i)
              ? { ErrorCode: hit.f.refuseOdd, ErrorMessage: `injected ${hit.f.refuseOdd}` }
              : o.Records[k++]!,
          );
        out = Buffer.from(JSON.stringify({ FailedRecordCount: refused.length, Records: merged }));
      }
      const h: http.OutgoingHttpHeaders = { ...ur.headers, 'content-length': String(out.length) };
      delete h['x-amz-crc32'];
      res.writeHead(ur.statusCode ?? 500, h);
      res.end(out);
    });
    up.end(body);
  }
}
