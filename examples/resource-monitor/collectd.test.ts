/**
 * collectd's write_http JSON → samples. The value lists below are copied from what Debian's
 * collectd 5.12 sent (cpu with ReportByCpu false / ValuesPercentage true, memory with
 * ValuesPercentage true; and the defaults: per-CPU jiffies, memory in bytes, the load plugin).
 * The daemon itself is exercised in collectd.slow.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MillraceError } from 'millrace';
import { openLog } from '@millrace/log';
import { parseCollectd } from './collectd.ts';
import { startEndpoints } from './endpoints.ts';
import type { MetricSample } from './metrics.ts';
import { logPublisher, type MetricsPublisher } from './publishers.ts';
import { cleanupDirs, readTopic, tempDir } from './test-helpers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  cleanupDirs();
});

const vl = (
  plugin: string,
  pluginInstance: string,
  type: string,
  typeInstance: string,
  value: number | null,
  time = 1795291462.45,
) => ({
  values: [value],
  dstypes: [type === 'cpu' ? 'derive' : 'gauge'],
  dsnames: ['value'],
  time,
  interval: 1.0,
  host: 'cd-test-host',
  plugin,
  plugin_instance: pluginInstance,
  type,
  type_instance: typeInstance,
});

/** As sent with ReportByCpu false, ValuesPercentage true (cpu) and ValuesPercentage true (memory). */
const PERCENT_BODY = [
  vl('memory', '', 'percent', 'buffered', 1.14329345955403, 1795291461.458),
  vl('memory', '', 'percent', 'used', 1.48107846008856, 1795291461.458),
  vl('memory', '', 'percent', 'free', 80.3190301292576, 1795291461.458),
  vl('cpu', '', 'percent', 'user', 1),
  vl('cpu', '', 'percent', 'wait', 0),
  vl('cpu', '', 'percent', 'system', 0.5),
  vl('cpu', '', 'percent', 'steal', 0),
  vl('cpu', '', 'percent', 'idle', 97.5),
];

/** collectd's defaults: per-CPU jiffies, memory in bytes; and another plugin. */
const DEFAULT_BODY = [
  {
    values: [3.7080078125, 3.77978515625, 4.72705078125],
    dstypes: ['gauge', 'gauge', 'gauge'],
    dsnames: ['shortterm', 'midterm', 'longterm'],
    time: 1795291842.878,
    interval: 1,
    host: 'cd-test-host',
    plugin: 'load',
    plugin_instance: '',
    type: 'load',
    type_instance: '',
  },
  vl('memory', '', 'memory', 'used', 1890394112),
  vl('cpu', '0', 'cpu', 'user', 316727),
  vl('cpu', '1', 'cpu', 'idle', 77659),
  vl('cpu', '0', 'percent', 'idle', 40), // ValuesPercentage true with ReportByCpu true
];

describe('parseCollectd', () => {
  it('turns cpu idle / active and memory used percentages into samples', () => {
    const r = parseCollectd(PERCENT_BODY);
    expect(r.samples).toEqual([
      { host: 'cd-test-host', time: 1795291461458, cpu: null, mem: 1.48107846008856, source: 'collectd' },
      { host: 'cd-test-host', time: 1795291462450, cpu: 2.5, mem: null, source: 'collectd' },
    ]);
    expect(r.skipped).toBe(6);
    expect(r.ignored).toEqual({});
    expect(parseCollectd([vl('cpu', '', 'percent', 'active', 12.25)]).samples).toEqual([
      { host: 'cd-test-host', time: 1795291462450, cpu: 12.25, mem: null, source: 'collectd' },
    ]);
    // 100 − idle never goes below 0 (idle may round above 100).
    expect(parseCollectd([vl('cpu', '', 'percent', 'idle', 100.0000001)]).samples[0]!.cpu).toBe(0);
  });

  it('says why it cannot use what collectd sends by default', () => {
    const r = parseCollectd(DEFAULT_BODY);
    expect(r.samples).toEqual([]);
    expect(r.ignored).toEqual({
      'other plugins': 1,
      'memory in bytes (set ValuesPercentage true in <Plugin memory>)': 1,
      'CPU jiffies (set ValuesPercentage true, or ReportByCpu false, in <Plugin cpu>)': 2,
      'per-CPU values (set ReportByCpu false in <Plugin cpu>)': 1,
    });
    expect(parseCollectd([vl('cpu', '', 'percent', 'idle', null)]).ignored).toEqual({
      'value lists without a numeric value': 1,
    });
  });

  it('refuses what is not collectd JSON', () => {
    const code = (body: unknown) => {
      try {
        parseCollectd(body);
      } catch (e) {
        expect(e).toBeInstanceOf(MillraceError);
        return `${(e as MillraceError).code}: ${(e as Error).message}`;
      }
      return 'accepted';
    };
    expect(code({ values: [1] })).toBe(
      'COLLECTD_BAD_BODY: expected a JSON array of value lists (collectd write_http with Format "JSON")',
    );
    expect(code([1])).toBe('COLLECTD_BAD_BODY: value list 0 is not an object');
    expect(code([{ ...vl('cpu', '', 'percent', 'idle', 1), time: 'now' }])).toBe(
      'COLLECTD_BAD_BODY: value list 0 needs "host", "plugin" and a numeric "time" (seconds)',
    );
    expect(code([{ ...vl('cpu', '', 'percent', 'idle', 1), type: 7 }])).toBe(
      'COLLECTD_BAD_BODY: value list 0: "type" must be a string',
    );
    expect(code([])).toBe('accepted');
  });
});

describe('POST /collectd', () => {
  it('stores the samples in the metrics topic, next to the log ingest; 400, 415 or 503 otherwise', async () => {
    const dir = tempDir();
    const log = await openLog({ dir, fsync: 'never' });
    const publisher = await logPublisher({ log, topic: 'metrics' });
    const endpoints = await startEndpoints({ log, publisher, port: 0 });
    cleanups.push(async () => {
      await endpoints.close();
      await log.close();
    });
    const post = (body: string, type = 'application/json', base = endpoints.url) =>
      fetch(`${base}/collectd`, { method: 'POST', headers: { 'content-type': type }, body });

    const ok = await post(JSON.stringify([...PERCENT_BODY, ...DEFAULT_BODY]));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ samples: 2, skipped: 6 });
    expect((await readTopic<MetricSample>(log, 'metrics')).map((s) => [s.cpu, s.mem])).toEqual([
      [null, 1.48107846008856],
      [2.5, null],
    ]);
    // The log's own ingest is on the same port.
    const ingest = await fetch(`${endpoints.url}/topics/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ host: 'x', time: 1, cpu: 1, mem: 1, source: 'agent' }),
    });
    expect(ingest.status).toBe(200);
    expect(await readTopic(log, 'metrics')).toHaveLength(3);

    const bad = await post('{"not":"a list"}');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'COLLECTD_BAD_BODY' });
    // write_http's default Format "Command" sends text: the answer says which format to set.
    const command = await post('PUTVAL cd-test-host/cpu/percent-idle N:97', 'text/plain');
    expect(command.status).toBe(400);
    expect(((await command.json()) as { message: string }).message).toContain('Format "JSON"');
    expect((await post('x', 'application/octet-stream')).status).toBe(415);

    const failing: MetricsPublisher = {
      target: 'down',
      publish: async () => {
        throw new Error('disk full');
      },
      close: async () => {},
    };
    const other = await startEndpoints({ publisher: failing, port: 0 });
    cleanups.push(() => other.close());
    const down = await post(JSON.stringify(PERCENT_BODY), 'application/json', other.url);
    expect(down.status).toBe(503);
    expect(((await down.json()) as { message: string }).message).toContain('disk full');
    // Without a log (Kafka mode) there is no /topics route.
    expect((await fetch(`${other.url}/topics`)).status).toBe(404);
  });
});
