/**
 * The MQTT variant (the IoT path), against the machine's Mosquitto:
 *
 *   agent.ts --mqtt <url> ──▶ topics <metrics>/<host> (QoS 1) ──▶ pipeline --mqtt ──▶ resource-stats in the log
 *   POST /collectd (MQTT mode) ─────────▲                         (mqttSource: PUBACK after the WAL fsync)
 *
 * MQTT keeps messages only for subscriptions that exist, so the pipeline starts first (its
 * queries' persistent sessions subscribe), then the agent publishes two minutes of fake samples
 * for two hosts, in time order; collectd samples for a later minute close the windows that
 * follow. The result is compared with the windows computed directly from the samples: every
 * closed window exactly once, as in the log and Kafka variants.
 */
import * as mqtt from 'mqtt';
import { afterEach, expect, it } from 'vitest';
import { MillraceService, createPipelineContext } from '@millrace/server';
import { DEFAULTS } from './monitor.ts';
import { parsePipelineArgs, runResourceMonitor } from './pipeline.ts';
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

const URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  cleanupDirs();
});

it('agents → MQTT → pipeline --mqtt → resource-stats, plus collectd in MQTT mode', async () => {
  const metrics = `millrace-test-resmon-${process.pid}-${Date.now().toString(36)}-metrics`;
  const stats = 'resource-stats';
  const startMs = Date.UTC(2026, 0, 1, 6, 0, 0);

  // 1. The pipeline: its queries subscribe (persistent sessions) before anything is published.
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
      '--mqtt',
      URL,
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
    // Forget the queries' sessions (clean start, then disconnect).
    for (let n = 0; n < monitor.queries.length + 2; n++) {
      const c = await mqtt.connectAsync(URL, {
        clientId: `millrace-resource-monitor-${metrics}-${n}`,
        clean: true,
      });
      await c.endAsync();
    }
  });
  expect(monitor.log).not.toBeNull();

  // 2. Two minutes of fake samples for two hosts, published by the agent's command line.
  const generated = await runFakeAgent(['--mqtt', URL], { topic: metrics, host: 'm', startMs });

  const written = async () =>
    (await readTopic<StatsRecord>(monitor.log!, stats)).map(fromRecord).sort(byHostAndStart);
  const first = expectedStats(generated, DEFAULTS);
  await waitFor(async () => (await written()).length >= first.length, 'the first closed windows', 60_000);

  // 3. collectd samples (MQTT mode: POST /collectd publishes to <metrics>/<host>) from 110 s to 130 s.
  const collectd = await postCollectdMinute(monitor.ingestUrl, startMs);

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
