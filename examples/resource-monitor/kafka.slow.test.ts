/**
 * The Kafka variant, against librdkafka's mock cluster (kcat; docs/architecture.md):
 *
 *   agent.ts --kafka <bootstrap>  ──▶ topic metrics ──▶ pipeline --kafka ──▶ topic resource-stats
 *   POST /collectd (Kafka mode) ──────────▲                  (Kafka transactions, exactly once)
 *
 * Order matters for an exact comparison: the agent publishes everything before the pipeline
 * starts (so its first batch reads all of it, and no sample arrives after the watermark passed
 * it); collectd samples for a later minute come after, and close the windows that follow.
 */
import { afterEach, expect, it } from 'vitest';
import { MillraceService, createPipelineContext } from '@millrace/server';
import { readTopic, startMockCluster, uniqueTopic } from '../../packages/kafka/test/mockCluster.ts';
import type { MetricSample } from './metrics.ts';
import { DEFAULTS } from './monitor.ts';
import { parsePipelineArgs, runResourceMonitor } from './pipeline.ts';
import {
  byHostAndStart,
  cleanupDirs,
  expectedStats,
  fromRecord,
  tempDir,
  waitFor,
  type StatsRecord,
  expectSameStats,
  postCollectdMinute,
  runFakeAgent,
} from './test-helpers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  cleanupDirs();
});

it('agents → Kafka → pipeline --kafka → resource-stats in Kafka, plus collectd in Kafka mode', async () => {
  const mock = await startMockCluster({ debug: false });
  cleanups.push(() => mock.stop());
  const metrics = uniqueTopic('metrics');
  const stats = uniqueTopic('resource-stats');

  // 1. Two minutes of fake samples for two hosts, produced by the agent's command line.
  const startMs = Date.UTC(2026, 0, 1, 6, 0, 0);
  const generated = await runFakeAgent(['--kafka', mock.bootstrap], { topic: metrics, host: 'k', startMs });
  const inKafka = (await readTopic(mock.bootstrap, metrics)).map((r) => JSON.parse(r.value!) as MetricSample);
  const key = (s: MetricSample) => `${s.host}|${s.time}`;
  expect(inKafka.map(key).sort()).toEqual(generated.map(key).sort());

  // 2. The pipeline, reading and writing Kafka.
  const dir = tempDir();
  const service = new MillraceService({
    logLevel: 'warn',
    defaultMetrics: false,
    logDestination: { write: () => {} },
  });
  const controller = new AbortController();
  const ctx = createPipelineContext(service, {
    session: service.createSession(),
    args: [],
    signal: controller.signal,
  });
  const monitor = await runResourceMonitor(
    ctx,
    parsePipelineArgs([
      '--dir',
      dir,
      '--kafka',
      mock.bootstrap,
      '--metrics-topic',
      metrics,
      '--stats-topic',
      stats,
      '--ingest-port',
      '0',
      '--quiet',
      '--trigger',
      '200ms',
    ]),
  );
  cleanups.push(async () => {
    controller.abort();
    await service.stopAll();
    await service.close({ flushMs: 0 });
    await Promise.all(monitor.queries.map((q) => q.awaitTermination().catch(() => undefined)));
  });
  expect(monitor.log).toBeNull();
  const written = async () =>
    (await readTopic(mock.bootstrap, stats))
      .map((r) => fromRecord(JSON.parse(r.value!) as StatsRecord))
      .sort(byHostAndStart);
  const first = expectedStats(generated, DEFAULTS);
  await waitFor(
    async () => (await written()).length >= first.length,
    'the first closed windows in Kafka',
    60_000,
  );

  // 3. collectd samples (Kafka mode: POST /collectd produces to the metrics topic) from 110 s to 130 s.
  const collectd = await postCollectdMinute(monitor.ingestUrl, startMs);

  // Every closed window of the three hosts, exactly once (transactions), as computed directly.
  const expected = expectedStats([...generated, ...collectd], DEFAULTS);
  expect(expected.filter((s) => s.host === 'cd').map((s) => s.window.end - startMs)).toEqual([120_000]);
  await waitFor(
    async () => (await written()).length >= expected.length,
    'the windows closed by collectd',
    60_000,
  );
  await new Promise((r) => setTimeout(r, 1_000)); // nothing more may come
  expectSameStats(await written(), expected);
}, 180_000);
