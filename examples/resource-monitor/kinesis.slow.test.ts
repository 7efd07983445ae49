/**
 * The Kinesis variant, against kinesalite (started in a child process by the Kinesis package's
 * test helper):
 *
 *   agent.ts --kinesis <endpoint> ──▶ stream <metrics> (partition key: host) ──▶ pipeline --kinesis
 *   POST /collectd (Kinesis mode) ─────────▲                  (kinesisSource) ──▶ resource-stats in the log
 *
 * As in the Kafka variant, the agent puts everything before the pipeline starts (so its first
 * batch reads all of it, and no sample arrives after the watermark passed it); collectd samples
 * for a later minute come after, and close the windows that follow. The result is compared with
 * the windows computed directly from the samples: every closed window exactly once.
 */
import { afterEach, expect, it } from 'vitest';
import { MillraceService, createPipelineContext } from '@millrace/server';
import {
  adminClient,
  putRecords,
  readAll,
  startKinesalite,
  uniqueName,
} from '../../packages/kinesis/test/helpers.ts';
import { parseAgentArgs } from './agent.ts';
import type { MetricSample } from './metrics.ts';
import { DEFAULTS } from './monitor.ts';
import { parsePipelineArgs, runResourceMonitor } from './pipeline.ts';
import { hostIds } from './sampler.ts';
import {
  byHostAndStart,
  cleanupDirs,
  expectedStats,
  fromRecord,
  readTopic,
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

it('agents → Kinesis → pipeline --kinesis → resource-stats, plus collectd in Kinesis mode', async () => {
  const kinesalite = await startKinesalite();
  cleanups.push(() => kinesalite.stop());
  const admin = adminClient(kinesalite.endpoint);
  cleanups.push(() => admin.destroy());
  const metrics = uniqueName('metrics');
  const stats = 'resource-stats';
  const startMs = Date.UTC(2026, 0, 1, 6, 0, 0);

  // 1. Two minutes of fake samples for two hosts, put by the agent's command line (which creates
  //    the stream).
  const generated = await runFakeAgent(['--kinesis', kinesalite.endpoint], {
    topic: metrics,
    host: 'ks',
    startMs,
  });
  const inKinesis = await readAll(admin, metrics);
  const key = (s: MetricSample) => `${s.host}|${s.time}`;
  expect(inKinesis.map((r) => key(JSON.parse(r.data) as MetricSample)).sort()).toEqual(
    generated.map(key).sort(),
  );
  // Partition key = host: each host's samples in one shard, in time order.
  for (const h of hostIds('ks', 2)) {
    const mine = inKinesis.filter((r) => r.key === h);
    expect(new Set(mine.map((r) => r.shardId)).size).toBe(1);
    const times = mine.map((r) => (JSON.parse(r.data) as MetricSample).time);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  }
  // Not a sample: the queries drop it (as the log's and Kafka's dropMalformed do) and go on.
  await putRecords(admin, metrics, [
    { key: 'ks-1', data: 'not json' },
    { key: 'ks-1', data: '{"time": 1}' },
  ]);

  // 2. The pipeline, reading the stream; resource-stats go to its log.
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
      '--kinesis',
      kinesalite.endpoint,
      '--metrics-topic',
      metrics,
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
  expect(monitor.log).not.toBeNull();
  // Samples posted to the log's ingest would reach no query: the routes are not served.
  expect((await fetch(`${monitor.ingestUrl}/topics/${metrics}`, { method: 'POST', body: '{}' })).status).toBe(
    404,
  );
  const written = async () =>
    (await readTopic<StatsRecord>(monitor.log!, stats)).map(fromRecord).sort(byHostAndStart);
  const first = expectedStats(generated, DEFAULTS);
  await waitFor(async () => (await written()).length >= first.length, 'the first closed windows', 60_000);

  // 3. collectd samples (Kinesis mode: POST /collectd puts to the stream) from 110 s to 130 s.
  const collectd = await postCollectdMinute(monitor.ingestUrl, startMs);

  // Every closed window of the three hosts, exactly once, as computed directly.
  const expected = expectedStats([...generated, ...collectd], DEFAULTS);
  expect(expected.filter((s) => s.host === 'cd').map((s) => s.window.end - startMs)).toEqual([120_000]);
  await waitFor(
    async () => (await written()).length >= expected.length,
    'the windows closed by collectd',
    60_000,
  );
  await new Promise((r) => setTimeout(r, 1_000)); // nothing more may come
  expectSameStats(await written(), expected);
}, 120_000);

it('refuses a --kinesis that is not an http(s) URL, and --kinesis with another target', () => {
  expect(() => parsePipelineArgs(['--kinesis', 'localhost:4567'])).toThrow(
    /--kinesis: "localhost:4567" is not an http:\/\/ or https:\/\/ URL/,
  );
  expect(() => parsePipelineArgs(['--kinesis', 'http://127.0.0.1:4567', '--mqtt', 'mqtt://x'])).toThrow(
    /give one of them, not several/,
  );
  expect(() => parseAgentArgs(['--kinesis', 'tcp://127.0.0.1:4567'])).toThrow(
    /--kinesis: "tcp:\/\/127.0.0.1:4567" is not an http:\/\/ or https:\/\/ URL/,
  );
  expect(() => parseAgentArgs(['--kinesis', 'http://127.0.0.1:4567', '--kafka', 'localhost:9092'])).toThrow(
    /give one target, not several/,
  );
  expect(parseAgentArgs(['--kinesis', 'http://127.0.0.1:4567', '--topic', 'm']).target).toEqual({
    kind: 'kinesis',
    endpoint: 'http://127.0.0.1:4567',
  });
});
