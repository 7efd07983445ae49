/**
 * `npm run bench -- redis [options]`: throughput of the Redis connectors, each beside the raw
 * ioredis client doing the same work in a plain loop (the ceiling):
 *
 *   source       N entries (4 fields) in 3 streams → redisStreamSource → count (Trigger.availableNow,
 *                maxEntriesPerTrigger --batch)         vs  XRANGE pages of --page entries, counted
 *   stream sink  ratePerBatchSource → row { id, user, amount, at } → redisStreamSink (batches of
 *                --batch, one Lua script each, exactly once)  vs  a pipeline of XADDs per batch
 *   hash sink    the same rows, keys cycling over N/2 ids → redisHashSink (update mode)
 *                                                     vs  a pipeline of HSETs per batch
 *
 * Rows per wall second (Redis' own time included; it runs on the same machine). The last line is
 * one JSON object with every figure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export const USAGE = `usage: npm run bench -- redis [options]

Rows into the engine from Redis streams and out of it into a stream and hashes, beside ioredis
doing the same in a plain loop.

options:
  --rows N     entries / rows per run, default 300,000
  --batch N    rows per micro-batch (maxEntriesPerTrigger for the source), default 50,000
  --page N     entries per XRANGE (the source's pageSize), default 1,000
  --url URL    default $REDIS_URL or redis://127.0.0.1:6379`;

interface Options {
  rows: number;
  batch: number;
  page: number;
  url: string;
}

function parseArgs(args: string[]): Options | string {
  const o: Options = {
    rows: 300_000,
    batch: 50_000,
    page: 1_000,
    url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v?.replace(/_/g, ''));
    if (!Number.isSafeInteger(n) || n < 1)
      throw new Error(`${flag} needs a whole number ≥ 1, got ${String(v)}`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a];
    const value = () => inline ?? args[++i];
    switch (flag) {
      case '--rows':
        o.rows = num(flag, value());
        break;
      case '--batch':
        o.batch = num(flag, value());
        break;
      case '--page':
        o.page = num(flag, value());
        break;
      case '--url':
        o.url = value() ?? '';
        break;
      case '-h':
      case '--help':
        return '';
      default:
        return `unknown argument ${a}`;
    }
  }
  if (o.batch > o.rows) o.batch = o.rows;
  return o;
}

interface Run {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
}

const timed = async (rows: number, f: () => Promise<void>): Promise<Run> => {
  const t = performance.now();
  await f();
  const seconds = (performance.now() - t) / 1000;
  return { rows, seconds, rowsPerSecond: rows / seconds };
};

export async function main(args: string[]): Promise<number> {
  let o: Options;
  try {
    const parsed = parseArgs(args);
    if (typeof parsed === 'string') {
      process.stderr.write(`${parsed ? `${parsed}\n\n` : ''}${USAGE}\n`);
      return parsed ? 2 : 0;
    }
    o = parsed;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { Trigger, createSession, foreachBatchSink, ratePerBatchSource, schema, t } =
    await import('millrace');
  const { redisHashSink, redisStreamSink, redisStreamSource } = await import('@millrace/redis');
  const { Redis } = await import('ioredis');
  const redis = new Redis(o.url);
  const prefix = `bench_redis_${process.pid}_${Date.now().toString(36)}`;
  const streams = [0, 1, 2].map((s) => `${prefix}:in${s}`);
  const batches = Math.ceil(o.rows / o.batch);
  const rows = batches * o.batch;
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(path.join(tmpdir(), 'millrace-bench-redis-'));
    dirs.push(d);
    return d;
  };
  const results: Record<string, unknown> = {};
  let ok = true;
  try {
    // -- the input of the source runs ------------------------------------------------
    for (let from = 0; from < rows; from += 10_000) {
      const p = redis.pipeline();
      for (let i = from; i < Math.min(rows, from + 10_000); i++) {
        p.xadd(
          streams[i % 3]!,
          '*',
          'id',
          String(i),
          'user',
          `user-${i % 10_007}`,
          'amount',
          String((i % 100_000) / 100),
          'tag',
          i % 3 ? 'bc' : 'a',
        );
      }
      await p.exec();
    }
    const sourceBaseline = await timed(rows, async () => {
      let n = 0;
      for (const s of streams) {
        let pos = '-';
        for (;;) {
          const page = await redis.xrange(s, pos, '+', 'COUNT', o.page);
          for (const [, kv] of page) n += kv.length > 0 ? 1 : 0;
          if (page.length < o.page) break;
          pos = `(${page[page.length - 1]![0]}`;
        }
      }
      if (n !== rows) throw new Error(`baseline read ${n} entries, expected ${rows}`);
    });
    let counted = 0;
    const sourceEngine = await timed(rows, async () => {
      const q = await createSession()
        .readStream(
          redisStreamSource({ url: o.url, streams, maxEntriesPerTrigger: o.batch, pageSize: o.page }),
        )
        .writeStream({
          sink: foreachBatchSink((r) => void (counted += r.length)),
          checkpointLocation: dir(),
          trigger: Trigger.availableNow(),
        })
        .start();
      await q.awaitTermination();
    });
    if (counted !== rows) ok = false;
    results.source = {
      engineRowsPerSecond: Math.round(sourceEngine.rowsPerSecond),
      baselineRowsPerSecond: Math.round(sourceBaseline.rowsPerSecond),
      engineRows: counted,
    };

    // -- the sinks ---------------------------------------------------------------------
    const rowSchema = schema({ id: t.long, user: t.string, amount: t.double, at: t.timestamp });
    const make = (v: number, keys: number) => ({
      id: v % keys,
      user: `user-${v % 10_007}`,
      amount: (v % 100_000) / 100,
      at: 1_735_689_600_000 + v,
    });
    const runSink = async (sink: import('millrace').Sink, keys: number, outputMode: 'append' | 'update') => {
      let done = 0;
      let finished!: () => void;
      const all = new Promise<void>((r) => (finished = r));
      const session = createSession();
      session.streams.addListener({
        onQueryProgress: ({ progress: p }) => void (!p.isNoDataBatch && ++done === batches && finished()),
      });
      const q = await session
        .readStream(ratePerBatchSource({ rowsPerBatch: o.batch }))
        .map((r) => make(r.value, keys), rowSchema)
        .writeStream({ sink, checkpointLocation: dir(), outputMode })
        .start();
      await Promise.race([all, q.awaitTermination().then(() => q.exception && Promise.reject(q.exception))]);
      await q.stop();
    };
    const streamBaseline = await timed(rows, async () => {
      for (let b = 0; b < batches; b++) {
        const p = redis.pipeline();
        for (let v = b * o.batch; v < (b + 1) * o.batch; v++) {
          const r = make(v, rows);
          p.xadd(
            `${prefix}:raw`,
            '*',
            'id',
            String(r.id),
            'user',
            r.user,
            'amount',
            String(r.amount),
            'at',
            String(r.at),
          );
        }
        await p.exec();
      }
    });
    const streamEngine = await timed(rows, () =>
      runSink(redisStreamSink({ url: o.url, stream: `${prefix}:out` }), rows, 'append'),
    );
    const outLen = await redis.xlen(`${prefix}:out`);
    if (outLen !== rows) ok = false;
    results.streamSink = {
      engineRowsPerSecond: Math.round(streamEngine.rowsPerSecond),
      baselineRowsPerSecond: Math.round(streamBaseline.rowsPerSecond),
      engineEntries: outLen,
    };

    const keys = Math.max(1, Math.floor(rows / 2));
    const hashBaseline = await timed(rows, async () => {
      for (let b = 0; b < batches; b++) {
        const p = redis.pipeline();
        for (let v = b * o.batch; v < (b + 1) * o.batch; v++) {
          const r = make(v, keys);
          p.hset(
            `${prefix}:rawh:${r.id}`,
            'id',
            String(r.id),
            'user',
            r.user,
            'amount',
            String(r.amount),
            'at',
            String(r.at),
          );
        }
        await p.exec();
      }
    });
    const hashEngine = await timed(rows, () =>
      runSink(redisHashSink({ url: o.url, keyPrefix: `${prefix}:h:`, keyColumns: ['id'] }), keys, 'update'),
    );
    results.hashSink = {
      engineRowsPerSecond: Math.round(hashEngine.rowsPerSecond),
      baselineRowsPerSecond: Math.round(hashBaseline.rowsPerSecond),
    };

    const line = (label: string, e: Run, b: Run) =>
      `${label.padEnd(14)}${Math.round(e.rowsPerSecond).toLocaleString('en-US').padStart(14)}${Math.round(b.rowsPerSecond).toLocaleString('en-US').padStart(16)}${(e.rowsPerSecond / b.rowsPerSecond).toFixed(2).padStart(10)}`;
    process.stdout.write(
      [
        `Redis connectors: ${rows.toLocaleString('en-US')} rows per run, micro-batches of ${o.batch.toLocaleString('en-US')}, node ${process.version}`,
        '',
        `${'run'.padEnd(14)}${'engine rows/s'.padStart(14)}${'ioredis rows/s'.padStart(16)}${'ratio'.padStart(10)}`,
        line('source', sourceEngine, sourceBaseline),
        line('stream sink', streamEngine, streamBaseline),
        line('hash sink', hashEngine, hashBaseline),
        '',
        'ioredis = the same reads (XRANGE pages) or writes (pipelined XADD / HSET per batch) in a plain loop, without exactly-once bookkeeping',
        '',
      ].join('\n'),
    );
  } finally {
    for (const pattern of [`${prefix}*`, `millrace:batches:*${prefix}*`]) {
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 10_000);
        cursor = next;
        if (found.length) await redis.del(...found);
      } while (cursor !== '0');
    }
    redis.disconnect();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  process.stdout.write(
    JSON.stringify({
      bench: 'redis',
      rows,
      batchRows: o.batch,
      pageEntries: o.page,
      ...results,
      nodeVersion: process.version,
      timestamp: new Date().toISOString(),
      ok,
    }) + '\n',
  );
  return ok ? 0 : 1;
}
