/**
 * Alert and dashboard state survive a restart of the service (issue 17): the
 * service is stopped mid-incident (an alert firing) and started again on the
 * same stateDir and checkpoint — the history and the dashboard are back, the
 * firing alert stays firing without notifying again, and it resolves later.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileSource, schema, t } from 'millrace';
import { afterEach, describe, expect, it } from 'vitest';
import { dashboardSink, type MillraceService } from '../src/index.ts';
import { cleanupDirs, tempDir, testService, webhookReceiver } from './helpers.ts';
import { webhook } from '../src/index.ts';

afterEach(cleanupDirs);

const readings = schema({ host: t.string, value: t.long });

interface Run {
  service: MillraceService;
  logs: string[];
  next(rows: { host: string; value: number }[]): Promise<void>;
  stop(): Promise<void>;
}

let fileNo = 0;

async function start(dir: string, receiverUrl: string): Promise<Run> {
  const { service, logs } = testService({ stateDir: path.join(dir, 'service'), alertHistorySize: 50 });
  const input = path.join(dir, 'in');
  const session = service.createSession();
  const dash = dashboardSink({ name: 'hosts', kind: 'table', key: 'host' });
  service.alerts.rule({
    name: 'hot',
    sink: 'hosts',
    condition: 'value > 10',
    labels: ['host'],
    summary: '{host} is at {value}',
    notify: [webhook({ url: receiverUrl, maxAttempts: 1 })],
  });
  const q = await service.startQuery(
    session.readStream(fileSource({ path: input, format: 'jsonl', schema: readings })),
    { queryName: 'hosts', sink: dash, outputMode: 'update', checkpointLocation: path.join(dir, 'cp') },
  );
  return {
    service,
    logs,
    async next(rows) {
      writeFileSync(
        path.join(input, `${String(++fileNo).padStart(4, '0')}.jsonl`),
        rows.map((r) => JSON.stringify(r)).join('\n') + '\n',
      );
      await q.processAllAvailable();
    },
    async stop() {
      await service.stopAll();
      await service.close({ flushMs: 2_000 });
    },
  };
}

describe('durable alert and dashboard state', () => {
  it('a restart mid-incident keeps the history, the dashboard and the firing alert (no second notification)', async () => {
    const dir = tempDir();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(path.join(dir, 'in'));
    const receiver = await webhookReceiver();
    try {
      const a = await start(dir, receiver.url);
      await a.next([
        { host: 'a', value: 50 },
        { host: 'b', value: 1 },
      ]);
      expect(
        a.service.alerts.historyPage({ limit: 1000 }).events.map((e) => [e.rule, e.status, e.labels.host]),
      ).toEqual([['hot', 'firing', 'a']]);
      await a.stop();
      expect(receiver.requests.length).toBe(1);

      // Restart: same stateDir, same checkpoint, the rule registered again by the pipeline.
      const b = await start(dir, receiver.url);
      expect(b.service.alerts.historyPage({ limit: 1000 }).events.map((e) => e.status)).toEqual(['firing']);
      expect(b.service.alerts.active()).toMatchObject([
        { rule: 'hot', state: 'firing', labels: { host: 'a' } },
      ]);
      const dash = b.service.dashboards.find((d) => d.name === 'hosts')!;
      expect(dash.snapshot()).toEqual([
        { host: 'a', value: 50 },
        { host: 'b', value: 1 },
      ]);
      // Still hot: no new firing, no second notification.
      await b.next([{ host: 'a', value: 70 }]);
      expect(b.service.alerts.historyPage({ limit: 1000 }).events.map((e) => e.status)).toEqual(['firing']);
      // Cooled down: resolved, and the ids go on from the restored history.
      await b.next([{ host: 'a', value: 3 }]);
      const h = b.service.alerts.historyPage({ limit: 1000 }).events;
      expect(h.map((e) => e.status)).toEqual(['firing', 'resolved']);
      expect(h[1]!.id).toBeGreaterThan(h[0]!.id);
      await b.stop();
      expect(receiver.requests.length).toBe(2);

      // And once more: the history is bounded and kept.
      const c = await start(dir, receiver.url);
      expect(c.service.alerts.historyPage({ limit: 1000 }).events.map((e) => e.status)).toEqual([
        'firing',
        'resolved',
      ]);
      expect(c.service.alerts.active()).toEqual([]);
      await c.stop();
    } finally {
      await receiver.close();
    }
  });

  it('without a stateDir nothing is written and a restart starts empty (the old behaviour)', async () => {
    const { service } = testService();
    expect(service.state).toBeUndefined();
    await service.close({ flushMs: 0 });
  });
});
