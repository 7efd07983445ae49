/**
 * What alert notifications say: numbers people can read (no float noise, `|percent`), and a
 * resolved event that describes the row that resolved it instead of repeating the firing text.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ManualClock,
  type MemoryStream,
  type StreamingQuery,
  memorySink,
  memoryStream,
  schema,
  t,
} from 'millrace';
import type { MillraceService } from '../src/index.ts';
import { fill } from '../src/alerts/AlertManager.ts';
import { cleanupDirs, testService } from './helpers.ts';

type Row = { shop: string; views: number; rate: number };
let service: MillraceService;
let source: MemoryStream<Row>;
let query: StreamingQuery;

beforeEach(async () => {
  ({ service } = testService({ clock: new ManualClock(Date.UTC(2026, 0, 1)) }));
  source = memoryStream(schema({ shop: t.string, views: t.long, rate: t.double }), { name: 'funnel-in' });
  query = await service.startQuery(service.createSession().readStream(source), {
    queryName: 'funnel',
    sink: memorySink(),
  });
});
afterEach(async () => {
  await service.stopAll();
  await service.close({ flushMs: 0 });
  cleanupDirs();
});

async function batch(...rows: Row[]) {
  source.addData(rows);
  await query.processAllAvailable();
}

describe('alert texts', () => {
  it('formats numbers: integers in full, others to 4 significant digits, |percent as a percentage', () => {
    const row = { rate: 0.021937842778793418, views: 1_234_567, big: 12345.678, tiny: 0.000012346, n: null };
    expect(fill('{rate} {views} {big} {tiny}', row)).toBe('0.02194 1234567 12350 0.00001235');
    expect(fill('{rate|percent} of {views}', row)).toBe('2.194% of 1234567');
    expect(fill('{n} {missing}', row)).toBe('null {missing}');
  });

  it('a resolved event describes the resolving row; its text is not the firing one', async () => {
    service.alerts.rule({
      name: 'conversion-drop',
      query: 'funnel',
      condition: 'rate < 0.03',
      labels: ['shop'],
      summary: 'conversion {rate|percent} in {shop} ({views} views)',
      resolvedSummary: 'conversion back to {rate|percent} in {shop}',
    });
    service.alerts.rule({
      name: 'default-texts',
      query: 'funnel',
      condition: 'rate < 0.03',
      labels: ['shop'],
    });
    await batch({ shop: 'eu', views: 300, rate: 0.021937842778793418 });
    await batch({ shop: 'eu', views: 500, rate: 0.0456 });
    const events = service.alerts.historyPage({ limit: 10 }).events;
    const of = (rule: string, status: string) => events.find((e) => e.rule === rule && e.status === status)!;
    expect(of('conversion-drop', 'firing').summary).toBe('conversion 2.194% in eu (300 views)');
    expect(of('conversion-drop', 'resolved').summary).toBe('conversion back to 4.56% in eu');
    expect(of('conversion-drop', 'resolved').value).toEqual({ shop: 'eu', views: 500, rate: 0.0456 });
    expect(of('conversion-drop', 'firing').value).toEqual({
      shop: 'eu',
      views: 300,
      rate: 0.021937842778793418,
    });
    expect(of('default-texts', 'firing').summary).toBe('default-texts: rate < 0.03 (shop=eu)');
    expect(of('default-texts', 'resolved').summary).toBe(
      'default-texts resolved: rate < 0.03 no longer holds (shop=eu)',
    );
  });

  it('turning a rule off resolves its alerts with a text that says so', async () => {
    service.alerts.rule({ name: 'low', query: 'funnel', condition: 'rate < 0.03', summary: 'low {rate}' });
    await batch({ shop: 'eu', views: 300, rate: 0.01 });
    service.alerts.setEnabled('low', false);
    const resolved = service.alerts.historyPage({ limit: 10 }).events.find((e) => e.status === 'resolved')!;
    expect(resolved.summary).toBe('low resolved: the rule was turned off');
  });
});
