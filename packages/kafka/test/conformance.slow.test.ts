/**
 * kafkaSource and kafkaSink through the shared connector conformance suite
 * (millrace/testing/conformance), against librdkafka's mock cluster (kcat).
 *
 *   source (string)  record i: value "<i> …", key k<i%7>, partition i%4, timestamp T0 + i s;
 *                    expected rows carry the offset the broker acknowledged
 *   source (json)    value {"id": i, "name", "at"}, a header i=<i>, includeMetadata and
 *                    includeHeaders; malformed values in the three modes (permissive: kept with
 *                    _corrupt_record, dropMalformed: dropped and counted, failFast: MALFORMED_RECORD)
 *   sink (json)      transactional, whole rows as JSON (key = the grouping key in update/complete
 *                    mode), its own control topic per test. Read back as a read_committed
 *                    reader of a real broker would see it: the records inside the offset ranges
 *                    the commit markers name (see below), decoded with the JSON decoder the
 *                    source uses; update/complete results are the topic compacted by key (last
 *                    record wins, in batch order)
 *
 *   suite ──► kafkaSource / kafkaSink ──► mock cluster shared by the file (topics unique per test)
 *   outage: a cluster of its own, frozen with SIGSTOP (connections stay open, nothing answers,
 *           as a hung or partitioned broker) and thawed with SIGCONT: same ports, same data. The
 *           mock's ports are random, so a cluster killed and started again would be another
 *           cluster (empty, elsewhere); a freeze is the outage that can be undone honestly.
 *           Neither connector retries on its own: the query fails with a retryable
 *           KAFKA_UNAVAILABLE (declared 'fails'), and a restarted query continues exactly once.
 *
 * The mock keeps records of aborted transactions visible to read_committed readers (see
 * README, "Tests and the mock cluster"); that is why the sink's read-back keeps only the records
 * the markers cover. The sink writes lz4-compressed batches: the mock keeps at most 5 MB per
 * partition, and 200,000 JSON rows of every type (the large-batch case) would not fit
 * uncompressed in the 4 partitions of an auto-created topic.
 *
 * Every source and sink carries a SASL password in kafkaOptions (unused on a plaintext
 * listener) that must never show in describe(), errors, logs or progress.
 */
import { afterAll } from 'vitest';
import { JsonRecordDecoder, type Row, type Schema, schema, t } from 'millrace';
import {
  type FixtureContext,
  type InputRecord,
  type SinkHarness,
  type SourceHarness,
  allTypesRow,
  allTypesSchema,
  sinkConformance,
  sourceConformance,
} from 'millrace/testing/conformance';
import { type KafkaStringRow, kafkaSink, kafkaSource, readKafkaSinkCommits } from '../src/index.ts';
import {
  type MockCluster,
  type TestRecord,
  TestProducer,
  readTopic,
  startMockCluster,
} from './mockCluster.ts';

const T0 = Date.UTC(2025, 0, 1);
const PARTITIONS = 4; // the mock creates topics with 4 partitions
const SECRET = 'conformance-sasl-pw-51d3';
const KAFKA_OPTIONS = { 'sasl.username': 'conformance', 'sasl.password': SECRET };
/** Short timeouts where the outage case waits for a failure. */
const OUTAGE_TIMEOUT_MS = 2_000;

// ---- clusters ---------------------------------------------------------------------------------

interface Cluster {
  readonly bootstrap: string;
  readonly producer: TestProducer;
  /** Freeze and thaw the brokers (outage clusters only). */
  readonly freeze?: () => Promise<void>;
  readonly thaw?: () => Promise<void>;
  readonly cleanup?: () => Promise<void>;
}

let shared: Promise<{ kafka: MockCluster; producer: TestProducer }> | undefined;

function sharedCluster(): Promise<{ kafka: MockCluster; producer: TestProducer }> {
  shared ??= (async () => {
    const kafka = await startMockCluster({ debug: false });
    return { kafka, producer: await TestProducer.connect(kafka.bootstrap) };
  })();
  return shared;
}

afterAll(async () => {
  if (!shared) return;
  const { kafka, producer } = await shared;
  await producer.close();
  await kafka.stop();
});

/** The file's cluster, or for the outage case a cluster of the test's own that can be frozen. */
async function clusterFor(ctx: FixtureContext<string>): Promise<Cluster> {
  if (ctx.testCase !== 'outage') {
    const { kafka, producer } = await sharedCluster();
    return { bootstrap: kafka.bootstrap, producer };
  }
  const kafka = await startMockCluster({ debug: false });
  const producer = await TestProducer.connect(kafka.bootstrap);
  let frozen = false;
  const signal = (s: NodeJS.Signals) => process.kill(kafka.pid, s);
  return {
    bootstrap: kafka.bootstrap,
    producer,
    freeze: async () => {
      signal('SIGSTOP');
      frozen = true;
    },
    thaw: async () => {
      signal('SIGCONT');
      frozen = false;
    },
    cleanup: async () => {
      if (frozen) signal('SIGCONT');
      await producer.close();
      await kafka.stop();
    },
  };
}

const outageHooks = (c: Cluster) =>
  c.freeze ? { stopExternal: c.freeze, startExternal: c.thaw!, cleanup: c.cleanup! } : {};

// ---- source input -----------------------------------------------------------------------------

/** A topic of the fixture, and where each good record landed (from the delivery reports). */
function topicFeed(c: Cluster, topic: string) {
  const placed = new Map<number, { partition: number; offset: number }>();
  let bad = 0;
  return {
    /** One produce call per unit; good record i goes to partition i % 4, malformed ones round-robin. */
    async append(records: readonly InputRecord[], encode: (r: InputRecord, bad: number) => TestRecord) {
      const recs = records.map((r) =>
        r === 'malformed'
          ? { ...encode(r, bad), partition: bad++ % PARTITIONS }
          : { ...encode(r, bad), partition: r % PARTITIONS },
      );
      const offsets = await c.producer.send(topic, recs);
      records.forEach((r, k) => {
        if (r !== 'malformed') placed.set(r, { partition: recs[k]!.partition, offset: offsets[k]! });
      });
    },
    where(i: number) {
      const p = placed.get(i);
      if (!p) throw new Error(`record ${i} was never appended`);
      return p;
    },
  };
}

// ---- kafkaSource, 'string' format ---------------------------------------------------------------

const text = (i: number) => `${i} payload ✓ café, "quoted"\n second line`;

const stringHarness: SourceHarness<KafkaStringRow> = {
  order: 'perPartition',
  badRecords: {
    notApplicable:
      "'string' delivers every value as text whatever it holds (invalid UTF-8 becomes U+FFFD, as Spark's " +
      'cast to string); parsing is the query’s job. The json format below is tested with malformed records',
  },
  outage: { behaviour: 'fails', code: 'KAFKA_UNAVAILABLE' },
  secrets: [SECRET],
  async create(ctx) {
    const c = await clusterFor(ctx);
    const topic = ctx.uniqueName('conf_string');
    const feed = topicFeed(c, topic);
    return {
      source: () =>
        kafkaSource({
          name: 'events',
          bootstrapServers: c.bootstrap,
          subscribe: topic,
          startingOffsets: 'earliest',
          format: 'string',
          kafkaOptions: KAFKA_OPTIONS,
          ...(c.freeze ? { requestTimeoutMs: OUTAGE_TIMEOUT_MS } : {}),
        }),
      append: (records) =>
        feed.append(records, (r) => {
          const i = r as number;
          return { key: `k${i % 7}`, value: text(i), timestamp: T0 + i * 1000 };
        }),
      index: (row) => Number.parseInt(row.value!, 10),
      partition: (row) => row.partition,
      expectedRow: (i) => ({
        key: `k${i % 7}`,
        value: text(i),
        topic,
        ...feed.where(i),
        timestamp: T0 + i * 1000,
        timestampType: 0,
      }),
      ...outageHooks(c),
    };
  },
};

sourceConformance('kafkaSource (string)', stringHarness);

// ---- kafkaSource, { json: schema } format ------------------------------------------------------

const CORRUPT = '_corrupt_record';
const strict = schema({ id: t.long, name: t.string, at: t.timestamp });
/** Permissive mode fills what it cannot read with null, so its columns are nullable, plus the raw text. */
const permissive = schema({
  id: t.long.orNull(),
  name: t.string.orNull(),
  at: t.timestamp.orNull(),
  [CORRUPT]: t.string.orNull(),
});
/** Different kinds of damage, none of which the nullable schema accepts. */
const DAMAGE = ['{"id": 1, "name": ', '{"id":"seven","name":"x","at":0}', '[1,2,3]', 'null'];

const jsonHarness: SourceHarness<Row> = {
  order: 'perPartition',
  badRecords: {
    variants: [
      { name: 'permissive', expect: 'kept', isMalformed: (row) => row[CORRUPT] != null },
      { name: 'dropMalformed', expect: 'dropped' },
      { name: 'failFast', expect: 'failFast', code: 'MALFORMED_RECORD' },
    ],
  },
  outage: { behaviour: 'fails', code: 'KAFKA_UNAVAILABLE' },
  secrets: [SECRET],
  async create(ctx) {
    const c = await clusterFor(ctx);
    const topic = ctx.uniqueName('conf_json');
    const feed = topicFeed(c, topic);
    const v = ctx.badRecords;
    const kept = v === undefined || v.expect === 'kept';
    const mode =
      v?.expect === 'failFast' ? 'failFast' : v?.expect === 'dropped' ? 'dropMalformed' : 'permissive';
    const record = (i: number): Row => ({ id: i, name: `name ${i}, "q" ✓`, at: T0 + i * 1000 });
    return {
      source: () =>
        kafkaSource({
          name: 'events',
          bootstrapServers: c.bootstrap,
          subscribe: topic,
          startingOffsets: 'earliest',
          format: { json: (kept ? permissive : strict) as Schema<Row>, mode, includeMetadata: true },
          includeHeaders: true,
          kafkaOptions: KAFKA_OPTIONS,
          ...(c.freeze ? { requestTimeoutMs: OUTAGE_TIMEOUT_MS } : {}),
        }) as never,
      append: (records) =>
        feed.append(records, (r, bad) => {
          if (r === 'malformed') return { key: 'bad', value: DAMAGE[bad % DAMAGE.length]!, timestamp: T0 };
          const row = record(r);
          return {
            key: `k${r % 7}`,
            value: JSON.stringify({ ...row, at: new Date(row.at as number).toISOString() }),
            headers: [{ i: String(r) }],
            timestamp: T0 + r * 1000,
          };
        }),
      index: (row) => row.id as number,
      partition: (row) => row._partition as number,
      expectedRow: (i) => {
        const { partition, offset } = feed.where(i);
        return {
          ...record(i),
          ...(kept ? { [CORRUPT]: null } : {}),
          _topic: topic,
          _partition: partition,
          _offset: offset,
          _timestamp: T0 + i * 1000,
          _key: `k${i % 7}`,
          _headers: [{ key: 'i', value: new Uint8Array(Buffer.from(String(i))) }],
        };
      },
      ...outageHooks(c),
    };
  },
};

sourceConformance('kafkaSource (json)', jsonHarness);

// ---- kafkaSink, transactional, { json: true } ---------------------------------------------------

/** The result table of a changelog: the last row of each key. */
function compact(rows: readonly Row[], key: readonly string[]): Row[] {
  const byKey = new Map<string, Row>();
  for (const r of rows) byKey.set(JSON.stringify(key.map((k) => r[k])), r);
  return [...byKey.values()];
}

/**
 * What a read_committed reader of a real broker sees: the records inside the offset ranges of
 * the commit markers, batch by batch (then partition, offset), decoded as JSON rows.
 */
async function committedRows(
  bootstrap: string,
  topic: string,
  controlTopic: string,
  s: Schema,
): Promise<Row[]> {
  const markers = await readKafkaSinkCommits({ bootstrapServers: bootstrap, controlTopic });
  if (markers.length === 0) return [];
  const seen = new Set<number>();
  for (const m of markers) {
    if (seen.has(m.batchId)) throw new Error(`batch ${m.batchId} has two commit markers`);
    seen.add(m.batchId);
  }
  const records = await readTopic(bootstrap, topic, PARTITIONS);
  const decoder = new JsonRecordDecoder<Row>(s as Schema<Row>, { mode: 'failFast', source: 'readBack' });
  const kept: { batch: number; partition: number; offset: number; row: Row }[] = [];
  for (const r of records) {
    const m = markers.find((mk) => {
      const range = mk.partitions[topic]?.[String(r.partition)];
      return range !== undefined && r.offset >= range[0] && r.offset <= range[1];
    });
    if (!m) continue; // an attempt that did not commit (a real broker hides it)
    const row = decoder.decode(r.value!, () => `${topic}-${r.partition} offset ${r.offset}`).row!;
    kept.push({ batch: m.batchId, partition: r.partition, offset: r.offset, row });
  }
  kept.sort((a, b) => a.batch - b.batch || a.partition - b.partition || a.offset - b.offset);
  return kept.map((k) => k.row);
}

const sinkHarness: SinkHarness = {
  outputModes: ['append', 'update', 'complete'],
  outage: { behaviour: 'fails', code: 'KAFKA_UNAVAILABLE' },
  secrets: [SECRET],
  async create(ctx) {
    const c = await clusterFor(ctx);
    const topic = ctx.uniqueName('conf_out');
    const controlTopic = ctx.uniqueName('conf_commits');
    return {
      schema: allTypesSchema,
      row: allTypesRow,
      sink: (spec) =>
        kafkaSink({
          name: 'out',
          bootstrapServers: c.bootstrap,
          topic,
          controlTopic,
          format: { json: true, ...(spec.key.length === 1 ? { keyColumn: spec.key[0] } : {}) },
          compression: 'lz4',
          kafkaOptions: KAFKA_OPTIONS,
          ...(c.freeze ? { requestTimeoutMs: OUTAGE_TIMEOUT_MS, deliveryTimeoutMs: OUTAGE_TIMEOUT_MS } : {}),
        }),
      readBack: async (spec) => {
        const rows = await committedRows(c.bootstrap, topic, controlTopic, spec.schema);
        return spec.outputMode === 'append' ? rows : compact(rows, spec.key);
      },
      ...outageHooks(c),
    };
  },
};

sinkConformance('kafkaSink (transactional, json)', sinkHarness);
