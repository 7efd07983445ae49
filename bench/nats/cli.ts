/**
 * `npm run bench -- nats [options]`: throughput of the NATS JetStream connectors, each beside the
 * raw client doing the same work in a plain loop (the ceiling):
 *
 *   source  N messages (JSON, ~60 bytes) in a stream → jetStreamSource → count (Trigger.availableNow,
 *           maxMessagesPerTrigger --batch)    vs  an ordered consumer fetching pages, counted
 *   sink    ratePerBatchSource → row { id, user, amount, at } → jetStreamSink (batches of --batch,
 *           resume check + Nats-Msg-Id)       vs  js.publish of the same JSON, 256 acks in flight
 *
 * Messages per wall second (nats-server runs on the same machine). The last line is one JSON object.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export const USAGE = `usage: npm run bench -- nats [options]

Messages into the engine from a JetStream stream and out of it to a subject, beside the NATS
client doing the same in a plain loop.

options:
  --messages N   messages per run, default 200,000
  --batch N      messages per micro-batch (maxMessagesPerTrigger for the source), default 50,000
  --url URL      default $NATS_URL or nats://127.0.0.1:4222`;

export async function main(args: string[]): Promise<number> {
  const o = { messages: 200_000, batch: 50_000, url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-h' || a === '--help') {
      process.stderr.write(`${USAGE}\n`);
      return 0;
    }
    const v = args[++i];
    const n = Number(v?.replace(/_/g, ''));
    if (a === '--url' && v) o.url = v;
    else if ((a === '--messages' || a === '--batch') && Number.isSafeInteger(n) && n >= 1)
      o[a === '--messages' ? 'messages' : 'batch'] = n;
    else {
      process.stderr.write(`bad argument ${a} ${String(v)}\n\n${USAGE}\n`);
      return 2;
    }
  }
  if (o.batch > o.messages) o.batch = o.messages;
  const { Trigger, createSession, foreachBatchSink, ratePerBatchSource, schema, t } =
    await import('millrace');
  const { jetStreamSink, jetStreamSource } = await import('@millrace/nats');
  const { DeliverPolicy, jetstream, jetstreamManager } = await import('@nats-io/jetstream');
  const { connect } = await import('@nats-io/transport-node');
  const nc = await connect({ servers: o.url });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const tag = `BENCH_NATS_${process.pid}_${Date.now().toString(36)}`.toUpperCase();
  const streams = [`${tag}_IN`, `${tag}_RAW`, `${tag}_OUT`];
  for (const s of streams) await jsm.streams.add({ name: s, subjects: [`${s}.>`] });
  const batches = Math.ceil(o.messages / o.batch);
  const total = batches * o.batch;
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(path.join(tmpdir(), 'millrace-bench-nats-'));
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
  const publishAll = async (subject: string) => {
    const inflight = new Set<Promise<unknown>>();
    for (let v = 0; v < total; v++) {
      const p = js.publish(subject, JSON.stringify(make(v)));
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
      if (inflight.size >= 256) await Promise.race(inflight);
    }
    await Promise.all(inflight);
  };
  let ok = true;
  let out: Record<string, unknown> | undefined;
  try {
    await publishAll(`${streams[0]}.x`);
    const sourceBaseline = await timed(async () => {
      const c = await js.consumers.get(streams[0]!, { deliver_policy: DeliverPolicy.All });
      let n = 0;
      while (n < total) {
        const msgs = await c.fetch({ max_messages: 1_000, expires: 2_000 });
        let got = 0;
        for await (const m of msgs) {
          got++;
          if (m.data.length > 0) n++;
          if (n >= total) break;
        }
        if (got === 0) break;
      }
      if (n !== total) throw new Error(`baseline read ${n} of ${total}`);
    });
    let counted = 0;
    const sourceEngine = await timed(async () => {
      const q = await createSession()
        .readStream(jetStreamSource({ servers: o.url, stream: streams[0]!, maxMessagesPerTrigger: o.batch }))
        .writeStream({
          sink: foreachBatchSink((r) => void (counted += r.length)),
          checkpointLocation: dir(),
          trigger: Trigger.availableNow(),
        })
        .start();
      await q.awaitTermination();
    });
    if (counted !== total) ok = false;
    const sinkBaseline = await timed(() => publishAll(`${streams[1]}.x`));
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
          sink: jetStreamSink({ servers: o.url, subject: `${streams[2]}.x` }),
          checkpointLocation: dir(),
        })
        .start();
      await Promise.race([all, q.awaitTermination().then(() => q.exception && Promise.reject(q.exception))]);
      await q.stop();
    });
    const outCount = (await jsm.streams.info(streams[2]!)).state.messages;
    if (outCount !== total) ok = false;
    const f = (n: number) => Math.round(n).toLocaleString('en-US');
    process.stdout.write(
      [
        `NATS JetStream connectors: ${total.toLocaleString('en-US')} messages per run, micro-batches of ${o.batch.toLocaleString('en-US')}, node ${process.version}`,
        '',
        `${'run'.padEnd(10)}${'engine msg/s'.padStart(14)}${'client msg/s'.padStart(14)}${'ratio'.padStart(8)}`,
        `${'source'.padEnd(10)}${f(sourceEngine).padStart(14)}${f(sourceBaseline).padStart(14)}${(sourceEngine / sourceBaseline).toFixed(2).padStart(8)}`,
        `${'sink'.padEnd(10)}${f(sinkEngine).padStart(14)}${f(sinkBaseline).padStart(14)}${(sinkEngine / sinkBaseline).toFixed(2).padStart(8)}`,
        '',
        'client = an ordered consumer fetching pages / js.publish with 256 acks in flight, in a plain loop',
        '',
      ].join('\n'),
    );
    out = {
      source: {
        engineMessagesPerSecond: Math.round(sourceEngine),
        baselineMessagesPerSecond: Math.round(sourceBaseline),
        engineMessages: counted,
      },
      sink: {
        engineMessagesPerSecond: Math.round(sinkEngine),
        baselineMessagesPerSecond: Math.round(sinkBaseline),
        engineMessages: outCount,
      },
    };
  } finally {
    for (const s of streams) await jsm.streams.delete(s).catch(() => undefined);
    await nc.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  process.stdout.write(
    JSON.stringify({
      bench: 'nats',
      messages: total,
      batchMessages: o.batch,
      ...out,
      nodeVersion: process.version,
      timestamp: new Date().toISOString(),
      ok,
    }) + '\n',
  );
  return ok ? 0 : 1;
}
