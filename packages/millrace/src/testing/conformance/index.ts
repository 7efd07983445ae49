/**
 * The connector conformance suite: one shared set of tests every source and
 * sink runs against its real external system (docs/architecture.md).
 *
 *   import { sourceConformance, sinkConformance } from 'millrace/testing/conformance';
 *
 *   sourceConformance('kafka (json values)', {
 *     order: 'perPartition',
 *     badRecords: { notApplicable: 'the source delivers bytes; parsing happens in the query' },
 *     outage: { behaviour: 'recovers' },
 *     async create(ctx) {                       // one fresh, empty system per test
 *       const topic = ctx.uniqueName('conformance');
 *       return {
 *         source: () => kafkaSource({ brokers, subscribe: topic }),   // a NEW instance per call
 *         append: (records) => produce(topic, records.map((i) => JSON.stringify({ i }))),
 *         index: (row) => JSON.parse(row.value).i,
 *         partition: (row) => row.partition,
 *         stopExternal: () => cluster.stop(),
 *         startExternal: () => cluster.start(),
 *       };
 *     },
 *   });
 *
 *   sinkConformance('postgres (upsert)', {
 *     outputModes: ['append', 'update'],
 *     outage: { behaviour: 'fails' },
 *     async create(ctx) {
 *       const table = ctx.uniqueName('out');
 *       return {
 *         schema, row: (i) => ({ id: i, … }),              // rows of every type the sink stores
 *         sink: (spec) => postgresSink({ table, key: spec.key }), // a NEW instance per call
 *         readBack: (spec) => selectAll(table),              // read without the sink
 *       };
 *     },
 *   });
 *
 * How a source test runs (one fresh fixture per test, released afterwards):
 *
 *   harness.create(ctx) ─► fixture ─┬─► direct:  source().open → latestOffset → getBatch → again, after
 *                                   │            JSON, on a new instance → commit → more
 *     fixture.append([0, 1, 2, …]) ─┤
 *     stopExternal / startExternal ─┴─► queries: readStream(source()).writeStream({ sink, checkpoint })
 *                                                → stop, or crash mid-batch → restart with a NEW
 *                                                instance on the same checkpoint
 *   every row ─► fixture.index(row) ─► each record exactly once, in order, with its expected content
 *
 * Sources (`sourceConformance`): contract, replay, restart mid-stream, crash
 * mid-batch (offsets written, commit not), bad records (one test pair per
 * declared variant), large batch (≥ 100,000 records in one batch), outage.
 * Sinks (`sinkConformance`): contract, replayed batch ids, every type round
 * trip, large batch (addBatch and addBatchChunks), restart and crash mid-batch
 * in each claimed output mode, refusal of the other modes, outage.
 *
 * A capability a connector cannot have is declared `{ notApplicable: 'why' }`:
 * its tests are not registered (never counted as passes). Sizes and waits are
 * in `sizes`; every test uses unique names and temp dirs, so files can run in
 * parallel. Full guide: docs/guide/testing.md, "Connector conformance suite".
 */
export { sourceConformance, sourceConformanceCases } from './sourceConformance.ts';
export { sinkConformance, sinkConformanceCases } from './sinkConformance.ts';
export { allTypesSchema, allTypesRow } from './allTypes.ts';
export { canonical, ConformanceError } from './checks.ts';
export {
  DEFAULT_SIZES,
  isNotApplicable,
  type ConformanceCase,
  type ConformanceCases,
  type BadRecordVariant,
  type ConformanceSizes,
  type FixtureContext,
  type InputRecord,
  type NotApplicable,
  type SinkCase,
  type SinkFixture,
  type SinkHarness,
  type SinkOutage,
  type SinkSpec,
  type SourceCase,
  type SourceFixture,
  type SourceFixtureContext,
  type SourceHarness,
  type SourceOutage,
} from './types.ts';
