/**
 * `npm run bench -- kinesis [options]`: throughput of the Kinesis connectors, each beside the AWS
 * SDK client doing the same work in a plain loop (the ceiling):
 *
 *   source  N records (JSON, ~60 bytes) on a --shards stream → kinesisSource → count
 *           (Trigger.availableNow, maxRecordsPerTrigger --batch)   vs  GetShardIterator + GetRecords
 *           pages of 10,000 per shard, counted
 *   sink    ratePerBatchSource → row { id, user, amount, at } → kinesisSink (partition key user,
 *           batches of --batch)                                   vs  PutRecords of 500, one at a time
 *
 * Against kinesalite (a local Kinesis, started in a child process) unless --endpoint is given:
 * kinesalite stores records in an in-memory LevelDB and is slow, so both columns measure it more
 * than the connector; the ratio is the figure to read. The last line is one JSON object.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export const USAGE = `usage: npm run bench -- kinesis [options]

Records into the engine from a Kinesis stream and out of it to another, beside the AWS SDK client
doing the same in a plain loop.

options:
  --records N    records per run, default 20,000
  --batch N      records per micro-batch (maxRecordsPerTrigger for the source), default 10,000
  --shards N     shards of the streams, default 2
  --endpoint URL a Kinesis endpoint (default: a kinesalite started for the run)`;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function main(args: string[]): Promise<number> {
  const o = { records: 20_000, batch: 10_000, shards: 2, endpoint: '' };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-h' || a === '--help') {
      process.stderr.write(`${USAGE}\n`);
      return 0;
    }
    const v = args[++i];
    const n = Number(v?.replace(/_/g, ''));
    if (a === '--endpoint' && v) o.endpoint = v;
    else if ((a === '--records' || a === '--batch' || a === '--shards') && Number.isSafeInteger(n) && n >= 1)
      o[a.slice(2) as 'records' | 'batch' | 'shards'] = n;
    else {
      process.stderr.write(`bad argument ${a} ${String(v)}\n\n${USAGE}\n`);
      return 2;
    }
  }
  if (o.batch > o.records) o.batch = o.records;
  const { Trigger, createSession, foreachBatchSink, ratePerBatchSource, schema, t } =
    await import('millrace');
  const { kinesisSink, kinesisSource } = await import('@millrace/kinesis');
  const k = await import('@aws-sdk/client-kinesis');
  const { NodeHttpHandler } = await import('@smithy/node-http-handler');

  let child: ChildProcess | undefined;
  if (!o.endpoint) {
    const port = await freePort();
    const cli = createRequire(import.meta.resolve('@millrace/kinesis')).resolve('kinesalite/cli.js');
    child = fork(cli, ['--port', String(port), '--createStreamMs', '0'], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve) => child!.stdout!.once('data', () => resolve()));
    o.endpoint = `http://127.0.0.1:${port}`;
  }
  const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };
  const conn = { endpoint: o.endpoint, region: 'us-east-1', credentials };
  const client = new k.KinesisClient({ ...conn, requestHandler: new NodeHttpHandler() });
  const tag = `bench-kinesis-${process.pid}-${Date.now().toString(36)}`;
  const streams = [`${tag}-in`, `${tag}-raw`, `${tag}-out`];
  for (const s of streams) {
    await client.send(new k.CreateStreamCommand({ StreamName: s, ShardCount: o.shards }));
    while (
      (await client.send(new k.DescribeStreamSummaryCommand({ StreamName: s }))).StreamDescriptionSummary
        ?.StreamStatus !== 'ACTIVE'
    )
      await new Promise((r) => setTimeout(r, 50));
  }
  const batches = Math.ceil(o.records / o.batch);
  const total = batches * o.batch;
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(path.join(tmpdir(), 'millrace-bench-kinesis-'));
    dirs.push(d);
    return d;
  };
  const make = (v: number) => ({
    id: v,
    user: `user-${v % 10_007}`,
    amount: (v % 100_000) / 100,
    at: 1_735_689_600_000 + v,
  });
  const timed = async (f: () => Promise<void>) => {
    const t0 = performance.now();
    await f();
    return total / ((performance.now() - t0) / 1000);
  };
  const putAll = async (stream: string) => {
    for (let v = 0; v < total; v += 500) {
      const Records = Array.from({ length: Math.min(500, total - v) }, (_, j) => {
        const r = make(v + j);
        return { PartitionKey: r.user, Data: Buffer.from(JSON.stringify(r)) };
      });
      const res = await client.send(new k.PutRecordsCommand({ StreamName: stream, Records }));
      if (res.FailedRecordCount) throw new Error(`${res.FailedRecordCount} records refused`);
    }
  };
  const countAll = async (stream: string): Promise<number> => {
    let n = 0;
    for (const s of (await client.send(new k.ListShardsCommand({ StreamName: stream }))).Shards ?? []) {
      let it = (
        await client.send(
          new k.GetShardIteratorCommand({
            StreamName: stream,
            ShardId: s.ShardId,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        )
      ).ShardIterator;
      while (it) {
        const page = await client.send(new k.GetRecordsCommand({ ShardIterator: it, Limit: 10_000 }));
        n += page.Records?.length ?? 0;
        if (!page.Records?.length) break;
        it = page.NextShardIterator;
      }
    }
    return n;
  };
  let ok = true;
  let out: Record<string, unknown> | undefined;
  try {
    await putAll(streams[0]!);
    let baselineCount = 0;
    const sourceBaseline = await timed(async () => void (baselineCount = await countAll(streams[0]!)));
    if (baselineCount !== total) ok = false;
    let counted = 0;
    const sourceEngine = await timed(async () => {
      const q = await createSession()
        .readStream(kinesisSource({ streamName: streams[0]!, ...conn, maxRecordsPerTrigger: o.batch }))
        .writeStream({
          sink: foreachBatchSink((r) => void (counted += r.length)),
          checkpointLocation: dir(),
          trigger: Trigger.availableNow(),
        })
        .start();
      await q.awaitTermination();
    });
    if (counted !== total) ok = false;
    const sinkBaseline = await timed(() => putAll(streams[1]!));
    const sinkEngine = await timed(async () => {
      let done = 0;
      let finished!: () => void;
      const all = new Promise<void>((r) => (finished = r));
      const session = createSession();
      session.streams.addListener({
        onQueryProgress: ({ progress: p }) => void (!p.isNoDataBatch && ++done === batches && finished()),
      });
      const q = await session
        .readStream(ratePerBatchSource({ rowsPerBatch: o.batch }))
        .map((r) => make(r.value), schema({ id: t.long, user: t.string, amount: t.double, at: t.timestamp }))
        .writeStream({
          sink: kinesisSink({ streamName: streams[2]!, partitionKey: 'user', ...conn }),
          checkpointLocation: dir(),
        })
        .start();
      await Promise.race([all, q.awaitTermination().then(() => q.exception && Promise.reject(q.exception))]);
      await q.stop();
    });
    const outCount = await countAll(streams[2]!);
    if (outCount !== total) ok = false;
    const f = (n: number) => Math.round(n).toLocaleString('en-US');
    process.stdout.write(
      [
        `Kinesis connectors: ${total.toLocaleString('en-US')} records per run, micro-batches of ${o.batch.toLocaleString('en-US')}, ${o.shards} shards, ${child ? 'kinesalite' : o.endpoint}, node ${process.version}`,
        '',
        `${'run'.padEnd(10)}${'engine rec/s'.padStart(14)}${'client rec/s'.padStart(14)}${'ratio'.padStart(8)}`,
        `${'source'.padEnd(10)}${f(sourceEngine).padStart(14)}${f(sourceBaseline).padStart(14)}${(sourceEngine / sourceBaseline).toFixed(2).padStart(8)}`,
        `${'sink'.padEnd(10)}${f(sinkEngine).padStart(14)}${f(sinkBaseline).padStart(14)}${(sinkEngine / sinkBaseline).toFixed(2).padStart(8)}`,
        '',
        'client = GetRecords pages per shard / PutRecords of 500, one request at a time, in a plain loop',
        '',
      ].join('\n'),
    );
    out = {
      source: {
        engineRecordsPerSecond: Math.round(sourceEngine),
        baselineRecordsPerSecond: Math.round(sourceBaseline),
        engineRecords: counted,
      },
      sink: {
        engineRecordsPerSecond: Math.round(sinkEngine),
        baselineRecordsPerSecond: Math.round(sinkBaseline),
        engineRecords: outCount,
      },
    };
  } finally {
    for (const s of streams)
      await client.send(new k.DeleteStreamCommand({ StreamName: s })).catch(() => undefined);
    client.destroy();
    child?.kill();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  process.stdout.write(
    JSON.stringify({
      bench: 'kinesis',
      records: total,
      batchRecords: o.batch,
      shards: o.shards,
      endpoint: child ? 'kinesalite' : o.endpoint,
      ...out,
      nodeVersion: process.version,
      timestamp: new Date().toISOString(),
      ok,
    }) + '\n',
  );
  return ok ? 0 : 1;
}
