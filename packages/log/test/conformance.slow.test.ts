/**
 * logSource and logSink through the shared connector conformance suite
 * (millrace/testing/conformance), against a real log directory per test.
 *
 *   source (string)  each record i: value "<i> …", key k<i%4>, partition i%3, timestamp T0 + i s;
 *                    expected rows carry the partition and offset the append returned
 *   source (json)    value {"id": i, "name": …, "at": …}; metadata columns key/partition/offset/
 *                    timestamp; malformed values in the three modes (permissive, dropMalformed,
 *                    failFast)
 *   sink (json)      whole rows as JSON objects; read back by reading the topic directly
 *                    (Log.read + the JSON decoder the source's json format uses); update and
 *                    complete results are the topic compacted by key (last record wins), as a
 *                    reader of a compacted Kafka topic sees them
 *
 * Outage is not applicable to either: the log is a directory on local disk opened in the
 * query's own process (see the reasons below).
 */
import { JsonRecordDecoder, type Row, Schema, schema, t } from 'millrace';
import {
  type InputRecord,
  type SinkHarness,
  type SourceFixtureContext,
  type SourceHarness,
  allTypesRow,
  allTypesSchema,
  sinkConformance,
  sourceConformance,
} from 'millrace/testing/conformance';
import { type AppendRecord, type Log, type LogStringRow, logSink, logSource, openLog } from '../src/index.ts';

const T0 = Date.UTC(2025, 0, 1);
const PARTITIONS = 3;
const CORRUPT = '_corrupt_record';

const EMBEDDED =
  'the log is an LMDB directory on local disk opened inside the query process: there is no server or ' +
  'connection that can go away and come back (a lost disk or directory fails the query; it is not an outage)';

/** Where each appended record landed, by record index (filled from append()'s result). */
type Placement = Map<number, { partition: number; offset: number }>;

/** A fresh log directory with one topic of 3 partitions, and an append that records placements. */
async function topicFixture(ctx: SourceFixtureContext<unknown>) {
  const dir = await ctx.tempDir('log');
  const topic = ctx.uniqueName('events');
  // Retention never runs in these tests; the test's own handle shares the LMDB environment with
  // every source instance (same process, same fsync policy).
  const log = await openLog({ dir, retentionCheckIntervalMs: 0 });
  await log.createTopic(topic, { partitions: PARTITIONS });
  const placed: Placement = new Map();
  let malformed = 0;
  const append = async (records: readonly InputRecord[], encode: (r: InputRecord) => AppendRecord) => {
    const recs = records.map((r) =>
      r === 'malformed' ? { ...encode(r), partition: malformed++ % PARTITIONS } : encode(r),
    );
    const res = await log.append(topic, recs);
    records.forEach((r, k) => {
      if (r !== 'malformed') placed.set(r, { partition: res.partitions[k]!, offset: res.offsets[k]! });
    });
  };
  const where = (i: number) => {
    const p = placed.get(i);
    if (!p) throw new Error(`record ${i} was never appended`);
    return p;
  };
  return { dir, topic, log, append, where };
}

// ---- logSource, 'string' format ------------------------------------------------------------

const text = (i: number) => `${i} payload ✓ café, "quoted"\n second line`;

const stringHarness: SourceHarness<LogStringRow> = {
  order: 'perPartition',
  badRecords: {
    notApplicable:
      "'string' delivers every record's value as text, whatever it holds; parsing is the query's job " +
      '(the json format below is tested with malformed records)',
  },
  outage: { notApplicable: EMBEDDED },
  async create(ctx) {
    const f = await topicFixture(ctx as SourceFixtureContext<unknown>);
    return {
      source: () =>
        logSource({
          name: 'events',
          dir: f.dir,
          topics: f.topic,
          startingOffsets: 'earliest',
          format: 'string',
        }),
      append: (records) =>
        f.append(records, (r) => {
          const i = r as number;
          return { key: `k${i % 4}`, value: text(i), partition: i % PARTITIONS, timestamp: T0 + i * 1000 };
        }),
      index: (row) => Number.parseInt(row.value!, 10),
      partition: (row) => row.partition,
      expectedRow: (i) => ({
        key: `k${i % 4}`,
        value: text(i),
        topic: f.topic,
        ...f.where(i),
        timestamp: T0 + i * 1000,
      }),
      cleanup: () => f.log.close(),
    };
  },
};

sourceConformance('logSource (string)', stringHarness);

// ---- logSource, { json: schema } format --------------------------------------------------------

const strict = schema({ id: t.long, name: t.string, at: t.timestamp });
/** Permissive mode fills what it cannot read with null, so its columns are nullable, plus the raw text. */
const permissive = schema({
  id: t.long.orNull(),
  name: t.string.orNull(),
  at: t.timestamp.orNull(),
  [CORRUPT]: t.string.orNull(),
});
const METADATA = ['key', 'partition', 'offset', 'timestamp'] as const;
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
  outage: { notApplicable: EMBEDDED },
  async create(ctx) {
    const f = await topicFixture(ctx as SourceFixtureContext<unknown>);
    const v = ctx.badRecords;
    const kept = v === undefined || v.expect === 'kept';
    const mode =
      v?.expect === 'failFast' ? 'failFast' : v?.expect === 'dropped' ? 'dropMalformed' : 'permissive';
    const record = (i: number): Row => ({ id: i, name: `name ${i}, "q" ✓`, at: T0 + i * 1000 });
    let bad = 0;
    return {
      source: () =>
        logSource({
          name: 'events',
          dir: f.dir,
          topics: f.topic,
          startingOffsets: 'earliest',
          format: {
            json: (kept ? permissive : strict) as Schema<Row>,
            mode,
            metadata: [...METADATA],
          },
        }) as never,
      append: (records) =>
        f.append(records, (r) => {
          if (r === 'malformed') return { key: 'bad', value: DAMAGE[bad++ % DAMAGE.length]!, timestamp: T0 };
          const row = record(r);
          return {
            key: `k${r % 4}`,
            value: JSON.stringify({ ...row, at: new Date(row.at as number).toISOString() }),
            partition: r % PARTITIONS,
            timestamp: T0 + r * 1000,
          };
        }),
      index: (row) => row.id as number,
      partition: (row) => row.partition as number,
      expectedRow: (i) => ({
        ...record(i),
        ...(kept ? { [CORRUPT]: null } : {}),
        key: `k${i % 4}`,
        ...f.where(i),
        timestamp: T0 + i * 1000,
      }),
      cleanup: () => f.log.close(),
    };
  },
};

sourceConformance('logSource (json)', jsonHarness);

// ---- logSink, 'json' format ------------------------------------------------------------------

/** Every record of the topic's only partition, decoded as the source's json format would. */
async function readTopic(log: Log, topic: string, s: Schema): Promise<Row[]> {
  if (!log.topic(topic)) return [];
  const decoder = new JsonRecordDecoder<Row>(s as Schema<Row>, { mode: 'failFast', source: 'readBack' });
  const rows: Row[] = [];
  for await (const chunk of log.read(topic, 0)) {
    for (const r of chunk) {
      rows.push(decoder.decode(r.value as string, () => `topic "${topic}" offset ${r.offset}`).row!);
    }
  }
  return rows;
}

/** The result table of a changelog: the last row of each key, in the order keys first appeared. */
function compact(rows: readonly Row[], key: readonly string[]): Row[] {
  const byKey = new Map<string, Row>();
  for (const r of rows) byKey.set(JSON.stringify(key.map((k) => r[k])), r);
  return [...byKey.values()];
}

/**
 * allTypesSchema with `extra` nullable. allTypesRow(i) puts null into `extra` for i % 7 === 3
 * although allTypesSchema declares it `t.json` (not nullable); the JSON codec leaves null fields
 * out and its decoder then rightly refuses the record ("missing or null but not nullable"). The
 * suite's own checkRowsMatchSchema rejects such a row too; reported as a bug in allTypes.ts.
 */
const sinkSchema = new Schema(
  allTypesSchema.fields.map((f) => (f.name === 'extra' ? { ...f, nullable: true } : f)),
);

const sinkHarness: SinkHarness = {
  // logSink declares no supportedOutputModes: it takes every mode and appends each batch's rows.
  outputModes: ['append', 'update', 'complete'],
  ordered: true,
  outage: { notApplicable: EMBEDDED },
  async create(ctx) {
    const dir = await ctx.tempDir('log');
    const topic = ctx.uniqueName('out');
    const log = await openLog({ dir, retentionCheckIntervalMs: 0 });
    return {
      schema: sinkSchema,
      row: allTypesRow,
      sink: () => logSink({ dir, topic, format: 'json', topicConfig: { partitions: 1 } }),
      readBack: async (spec) => {
        const rows = await readTopic(log, topic, spec.schema);
        return spec.outputMode === 'append' ? rows : compact(rows, spec.key);
      },
      cleanup: () => log.close(),
    };
  },
};

sinkConformance('logSink (json)', sinkHarness);
