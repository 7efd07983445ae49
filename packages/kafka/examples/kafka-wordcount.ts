/**
 * Word count from Kafka to Kafka, exactly once.
 *
 *   npx tsx packages/kafka/examples/kafka-wordcount.ts                    # starts a mock cluster (kcat)
 *   npx tsx packages/kafka/examples/kafka-wordcount.ts --bootstrap localhost:9092 --seconds 0
 *
 *   topic "lines" ──► kafkaSource(format 'string') ──► split into words ──► groupBy(word).count()
 *                                                                              │ update mode
 *   console ◄── kafkaSource("word-counts") ◄── topic "word-counts" ◄── kafkaSink(key word, value count,
 *                                                                        one transaction per batch)
 *
 * Without --bootstrap it starts librdkafka's mock cluster (`kcat`, apt-get install -y kcat) and
 * writes a line of text into "lines" every 300 ms. With --bootstrap, write lines yourself, e.g.
 * `kcat -b localhost:9092 -P -t lines`. --seconds 0 runs until Ctrl-C. The checkpoints live in
 * .millrace/kafka-wordcount: stop and start again, and the counts continue where they were.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Trigger, consoleSink, createSession, jsonLogger, schema, t } from 'millrace';
import { kafkaSink, kafkaSource, loadKafkaClient } from '@millrace/kafka';

const { values: args } = parseArgs({
  options: {
    bootstrap: { type: 'string' },
    seconds: { type: 'string', default: '6' },
    checkpoint: { type: 'string', default: '.millrace/kafka-wordcount' },
  },
});

/** librdkafka's mock cluster, kept alive by kcat; its address is printed on stderr. */
async function startMockCluster(): Promise<{ bootstrap: string; proc: ChildProcess }> {
  const proc = spawn(
    'kcat',
    ['-b', '127.0.0.1:1', '-X', 'test.mock.num.brokers=3', '-C', '-t', '__bootstrap'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const bootstrap = await new Promise<string>((resolve, reject) => {
    let text = '';
    proc.once('error', (e) => reject(new Error(`cannot start kcat (apt-get install -y kcat): ${e.message}`)));
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => {
      text += chunk;
      const m = /bootstrap\.servers=(\S+)|replaced with (\S+)/.exec(text);
      if (m) resolve((m[1] ?? m[2])!);
    });
  });
  return { bootstrap, proc };
}

const mock = args.bootstrap ? undefined : await startMockCluster();
process.once('exit', () => mock?.proc.kill('SIGKILL'));
const bootstrap = args.bootstrap ?? mock!.bootstrap;
console.error(mock ? `mock Kafka cluster at ${bootstrap}` : `Kafka at ${bootstrap}`);
// A fresh mock cluster is empty: old checkpoints would point at offsets it does not have.
const checkpoint = mock ? `${args.checkpoint}/mock-${Date.now()}` : args.checkpoint;

const session = createSession({ log: jsonLogger('warn') });

// Query 1: lines → word counts, written back to Kafka exactly once.
const words = session
  .readStream(
    kafkaSource({
      name: 'lines',
      bootstrapServers: bootstrap,
      subscribe: 'lines',
      format: 'string',
      startingOffsets: 'earliest',
    }),
  )
  .flatMap(
    (r) =>
      (r.value ?? '')
        .toLowerCase()
        .split(/\W+/)
        .filter((w) => w !== '')
        .map((word) => ({ word })),
    schema({ word: t.string }),
  );
const counting = await words
  .groupBy('word')
  .count()
  .select(($) => ({ key: $.word, value: $.count.cast('string') }))
  .writeStream({
    queryName: 'word-count',
    sink: kafkaSink({ name: 'counts', bootstrapServers: bootstrap, topic: 'word-counts' }),
    outputMode: 'update',
    checkpointLocation: `${checkpoint}/count`,
  })
  .start();

// Query 2: show what arrives in the output topic (read_committed: only committed batches).
const showing = await session
  .readStream(
    kafkaSource({
      name: 'counts',
      bootstrapServers: bootstrap,
      subscribe: 'word-counts',
      format: 'string',
      startingOffsets: 'earliest',
    }),
  )
  .select(($) => ({ word: $.key, count: $.value, partition: $.partition, offset: $.offset }))
  .writeStream({
    queryName: 'show-counts',
    sink: consoleSink({ numRows: 30 }),
    trigger: Trigger.processingTime('1 second'),
    checkpointLocation: `${checkpoint}/show`,
  })
  .start();

// With the mock cluster: write some text into "lines" while the queries run.
let feeding: NodeJS.Timeout | undefined;
if (mock) {
  const Kafka = await loadKafkaClient();
  const producer = new Kafka.Producer({ 'bootstrap.servers': bootstrap, 'enable.idempotence': true });
  await new Promise<void>((res, rej) => producer.connect({}, (e) => (e ? rej(e) : res())));
  producer.setPollInterval(50);
  const text = [
    'the quick brown fox jumps over the lazy dog',
    'a stream is a table in motion',
    'the table is the stream at rest',
    'exactly once means the count is right after a crash',
  ];
  let i = 0;
  feeding = setInterval(() => producer.produce('lines', null, Buffer.from(text[i++ % text.length]!)), 300);
  const stopFeeding = () => producer.disconnect(() => undefined);
  process.once('exit', stopFeeding);
}

const stop = async () => {
  clearInterval(feeding);
  await Promise.all([counting.stop(), showing.stop()]);
  mock?.proc.kill('SIGKILL');
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
const seconds = Number(args.seconds);
if (seconds > 0) {
  setTimeout(() => void stop(), seconds * 1000);
}
await Promise.all([counting.awaitTermination(), showing.awaitTermination()]);
process.exit(0);
