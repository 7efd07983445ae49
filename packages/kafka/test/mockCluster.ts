/**
 * Kafka for tests: librdkafka's mock cluster (docs/architecture.md), started by the test itself.
 *
 *   kcat -b 127.0.0.1:1 -X test.mock.num.brokers=3 -C -t __bootstrap [-d mock]
 *     └─ stderr: "... bootstrap.servers=127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3"
 *
 * kcat keeps a 3-broker cluster alive while it runs (it consumes __bootstrap forever).
 * The mock (librdkafka 2.0.2 here) has produce, fetch, offsets, metadata, consumer groups,
 * idempotent and transactional producers; no CreateTopics/DeleteTopics; topics are created
 * on first use with 4 partitions; a partition keeps at most 5 MB (older data is pruned, which
 * moves its low watermark — handy for data-loss tests). Its transactions are protocol-only:
 * it writes no control records, and records of aborted or unfinished transactions stay
 * visible to read_committed consumers.
 *
 * Also: produce/read helpers used by the tests, and an in-process cluster (`inProcessMock`)
 * from the client's own librdkafka, whose transactions write control records (offset gaps).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { KafkaConsumer, LibrdKafkaError, Message, Producer } from '@confluentinc/kafka-javascript';
import { loadKafkaClient } from '../src/index.ts';

export interface MockCluster {
  readonly bootstrap: string;
  /** The kcat process (the brokers run inside it). */
  readonly pid: number;
  /** SIGKILL kcat (the cluster and all its data disappear) and wait for it to exit. */
  stop(): Promise<void>;
}

/**
 * kcat runs under a small shell watchdog: the shell prints kcat's pid, then waits for its stdin
 * to close — which happens when we call stop() or when this process dies in any way (even
 * SIGKILL) — and then kills kcat. So a crashed test never leaves a mock cluster behind.
 */
const WATCHDOG = 'kcat "$@" & echo $!; cat >/dev/null; kill -9 $! 2>/dev/null; wait';

/**
 * Start kcat's mock cluster. `debug` (default true) passes `-d mock`,
 * which logs every request; false parses librdkafka's notice line instead and saves the CPU.
 */
export async function startMockCluster(
  options: { debug?: boolean; brokers?: number } = {},
): Promise<MockCluster> {
  const args = [
    '-b',
    '127.0.0.1:1',
    '-X',
    `test.mock.num.brokers=${options.brokers ?? 3}`,
    '-C',
    '-t',
    '__bootstrap',
  ];
  if (options.debug ?? true) args.push('-d', 'mock');
  const shell: ChildProcess = spawn('sh', ['-c', WATCHDOG, 'mock-cluster', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => shell.once('exit', () => resolve()));
  const pid = new Promise<number>((resolve, reject) => {
    let out = '';
    shell.stdout!.setEncoding('utf8');
    shell.stdout!.on('data', (d: string) => {
      out += d;
      const m = /^(\d+)\n/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    shell.once('exit', () => reject(new Error('the kcat watchdog exited before kcat started')));
  });
  const bootstrap = await new Promise<string>((resolve, reject) => {
    let buf = '';
    let settled = false;
    const timer = setTimeout(
      () => reject(new Error(`kcat printed no bootstrap.servers within 10 s: ${buf.slice(0, 500)}`)),
      10_000,
    );
    shell.once('error', (e) => {
      clearTimeout(timer);
      if (!settled) reject(new Error(`cannot start kcat (apt-get install -y kcat): ${e.message}`));
    });
    shell.once('exit', (code) => {
      clearTimeout(timer);
      if (!settled) {
        reject(
          new Error(
            `kcat exited (code ${code}) before printing bootstrap.servers (is kcat installed?): ${buf.slice(0, 500)}`,
          ),
        );
      }
    });
    shell.stderr!.setEncoding('utf8');
    shell.stderr!.on('data', (chunk: string) => {
      // Keep draining stderr for the life of the process (a full pipe would block kcat).
      if (settled) return;
      buf += chunk;
      const m = /bootstrap\.servers=(\S+)|replaced with (\S+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        settled = true;
        resolve((m[1] ?? m[2])!);
      } else if (buf.length > 100_000) buf = buf.slice(-10_000);
    });
  });
  const kcatPid = await pid;
  shell.unref();
  (shell.stdin as unknown as { unref?: () => void }).unref?.();
  (shell.stdout as unknown as { unref?: () => void }).unref?.();
  (shell.stderr as unknown as { unref?: () => void }).unref?.();
  return {
    bootstrap,
    pid: kcatPid,
    async stop() {
      if (shell.exitCode === null && shell.signalCode === null) {
        try {
          process.kill(kcatPid, 'SIGKILL');
        } catch {
          // already gone
        }
        shell.stdin!.end();
      }
      await exited;
    },
  };
}

/**
 * A mock cluster inside this process, from the client's bundled librdkafka (2.15 here): its
 * transactions write commit/abort control records, so offsets have gaps. The cluster lives as
 * long as the returned holder client; `stop()` disconnects it.
 */
export async function inProcessMock(): Promise<{ bootstrap: string; stop(): Promise<void> }> {
  const Kafka = await loadKafkaClient();
  const holder = new Kafka.Producer({
    'bootstrap.servers': '127.0.0.1:1',
    'test.mock.num.brokers': 1,
    log_level: 6,
  } as never);
  const bootstrap = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('the in-process mock cluster printed no bootstrap.servers')),
      10_000,
    );
    holder.on('event.log', (e: { message: string }) => {
      const m = /bootstrap\.servers=(\S+)|replaced with (\S+)/.exec(e.message);
      if (m) {
        clearTimeout(timer);
        resolve((m[1] ?? m[2])!);
      }
    });
    holder.connect({}, () => undefined);
  });
  return {
    bootstrap,
    stop: () => new Promise<void>((r) => holder.disconnect(() => r())),
  };
}

// ---------------------------------------------------------------------------
// Producing and reading in tests

const cb =
  <T>(resolve: (v: T) => void, reject: (e: unknown) => void) =>
  (err: LibrdKafkaError | null | undefined, v: T) =>
    err ? reject(err) : resolve(v);

export interface TestRecord {
  readonly value: string | Buffer | null;
  readonly key?: string | Buffer | null;
  readonly partition?: number;
  readonly headers?: Record<string, string | Buffer>[];
  readonly timestamp?: number;
}

/** A connected idempotent (or transactional) producer that reports delivery per produce. */
export class TestProducer {
  private constructor(readonly producer: Producer) {}

  static async connect(bootstrap: string, extra: Record<string, unknown> = {}): Promise<TestProducer> {
    const Kafka = await loadKafkaClient();
    const producer = new Kafka.Producer({
      'bootstrap.servers': bootstrap,
      'enable.idempotence': true,
      'linger.ms': 2,
      dr_cb: true,
      ...extra,
    } as never);
    await new Promise((res, rej) => producer.connect({ timeout: 10_000 }, cb(res, rej) as never));
    producer.setPollInBackground(true);
    producer.on('delivery-report', (err, report) => {
      const done = report.opaque as ((e: unknown, offset: number) => void) | undefined;
      done?.(err ?? null, report.offset);
    });
    return new TestProducer(producer);
  }

  /** Produce records to `topic` and wait until all are acknowledged; returns the offset of each. */
  async send(topic: string, records: readonly TestRecord[]): Promise<number[]> {
    const pending: Promise<number>[] = [];
    for (const r of records) {
      pending.push(
        new Promise<number>((resolve, reject) => {
          const done = (e: unknown, offset: number) => (e ? reject(e) : resolve(offset));
          for (;;) {
            try {
              this.producer.produce(
                topic,
                r.partition ?? null,
                r.value === null ? null : Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value),
                r.key ?? null,
                r.timestamp ?? null,
                done,
                r.headers,
              );
              return;
            } catch (e) {
              if ((e as { code?: number }).code !== -184) throw e;
              // queue full: flush synchronously a little
              this.producer.poll();
            }
          }
        }),
      );
    }
    return Promise.all(pending);
  }

  async transaction(fn: (p: TestProducer) => Promise<unknown>, commit = true): Promise<void> {
    await new Promise((res, rej) => this.producer.beginTransaction(cb(res, rej) as never));
    await fn(this);
    if (commit)
      await new Promise((res, rej) => this.producer.commitTransaction(10_000, cb(res, rej) as never));
    else await new Promise((res, rej) => this.producer.abortTransaction(10_000, cb(res, rej) as never));
  }

  /** Low and high watermark of a partition. */
  async watermarks(topic: string, partition: number): Promise<{ low: number; high: number }> {
    const w = await new Promise<{ lowOffset: number; highOffset: number }>((res, rej) =>
      this.producer.queryWatermarkOffsets(topic, partition, 10_000, cb(res, rej) as never),
    );
    return { low: w.lowOffset, high: w.highOffset };
  }

  async initTransactions(): Promise<void> {
    await new Promise((res, rej) => this.producer.initTransactions(10_000, cb(res, rej) as never));
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.producer.disconnect(5_000, () => r()));
  }
}

export interface ReadRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Record<string, string>[];
}

/**
 * Every record of `topic` (all partitions, from the start to the current end), read with a
 * read_committed consumer, ordered by partition then offset.
 */
export async function readTopic(bootstrap: string, topic: string, partitions = 4): Promise<ReadRecord[]> {
  const Kafka = await loadKafkaClient();
  const consumer: KafkaConsumer = new Kafka.KafkaConsumer(
    {
      'bootstrap.servers': bootstrap,
      'group.id': `test-reader-${topic}`,
      'enable.auto.commit': false,
      'enable.partition.eof': false,
      'isolation.level': 'read_committed',
    },
    {},
  );
  await new Promise((res, rej) => consumer.connect({ timeout: 10_000 }, cb(res, rej) as never));
  try {
    const ends: number[] = [];
    for (let p = 0; p < partitions; p++) {
      const w = await new Promise<{ highOffset: number }>((res, rej) =>
        consumer.queryWatermarkOffsets(topic, p, 10_000, cb(res, rej) as never),
      );
      ends.push(w.highOffset);
    }
    const out: ReadRecord[] = [];
    const todo = new Set(ends.map((e, p) => (e > 0 ? p : -1)).filter((p) => p >= 0));
    if (todo.size === 0) return out;
    consumer.assign([...todo].map((p) => ({ topic, partition: p, offset: 0 })));
    consumer.setDefaultConsumeTimeout(200);
    const deadline = Date.now() + 30_000;
    while (todo.size > 0) {
      if (Date.now() > deadline) throw new Error(`readTopic(${topic}): timed out`);
      const msgs = await new Promise<Message[]>((res, rej) =>
        consumer.consume(10_000, cb(res, rej) as never),
      );
      for (const m of msgs) {
        if (!todo.has(m.partition) || m.offset >= ends[m.partition]!) continue;
        out.push({
          topic: m.topic,
          partition: m.partition,
          offset: m.offset,
          key: m.key === null || m.key === undefined ? null : m.key.toString(),
          value: m.value === null ? null : m.value.toString(),
          headers: (m.headers ?? []).map((h) =>
            Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v.toString()])),
          ),
        });
        if (m.offset + 1 >= ends[m.partition]!) todo.delete(m.partition);
      }
      for (const p of consumer.position()) {
        if (todo.has(p.partition) && typeof p.offset === 'number' && p.offset >= ends[p.partition]!)
          todo.delete(p.partition);
      }
    }
    return out.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  } finally {
    await new Promise<void>((r) => consumer.disconnect(() => r()));
  }
}

let counter = 0;
/** A topic name unique to this test run. */
export function uniqueTopic(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}
