/** The pipeline contract in-process: the shipped example (backfill mode) and the progress display. */
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPipelineContext, type DashboardPoint } from '../src/index.ts';
import { ProgressDisplay, StderrMux } from '../src/cli/progressDisplay.ts';
import example from '../examples/pipeline.ts';
import { cleanupDirs, fakeProgress, tempDir, testService } from './helpers.ts';

afterEach(cleanupDirs);

function capture(tty: boolean) {
  let text = '';
  const out = { write: (s: string) => ((text += s), true), columns: 200 } as unknown as NodeJS.WriteStream;
  return { mux: new StderrMux(out, tty), text: () => text };
}

describe('pipeline files', () => {
  it('runs the example pipeline (backfill mode): dashboards fill, the alert rule is registered', async () => {
    const { service } = testService({ logLevel: 'info' });
    try {
      const session = service.createSession();
      const out = tempDir();
      const ctx = createPipelineContext(service, {
        session,
        args: ['--backfill', '100000', '--out', out],
        signal: new AbortController().signal,
      });
      await example(ctx);
      for (const q of session.streams.active) await q.awaitTermination();
      const entries = service.queries.list();
      expect(entries.map((e) => [e.name, e.health, e.endReason]).sort()).toEqual([
        ['bids-per-channel', 'stopped', 'finished'],
        ['closed-windows', 'stopped', 'finished'],
      ]);
      expect(
        entries.every((e) => e.handle?.checkpointLocation?.startsWith(path.join(out, 'checkpoints'))),
      ).toBe(true);
      const ts = service.dashboard('bids-per-channel');
      const series = new Set((ts.snapshot() as DashboardPoint[]).map((p) => p.series));
      expect([...series].sort()).toEqual(['Apple', 'Baidu', 'Facebook', 'Google', 'other']);
      const table = service.dashboard('closed-windows').snapshot() as { channel: string; bids: number }[];
      expect(table.map((r) => r.channel).sort()).toEqual(['Apple', 'Baidu', 'Facebook', 'Google', 'other']);
      expect(table.find((r) => r.channel === 'other')!.bids).toBeGreaterThan(4_000);
      expect(service.alerts.listRules()).toEqual([
        expect.objectContaining({
          name: 'busy-channel',
          query: 'closed-windows',
          labels: ['channel'],
          clock: 'event-time',
        }),
      ]);
      expect(service.alerts.listRules()[0]!.lastEvaluatedAt).not.toBeNull();
    } finally {
      await service.stopAll();
      await service.close({ flushMs: 0 });
    }
  }, 30_000);

  it('the progress display shows rows, rate, what remains and an ETA for finite queries', async () => {
    const { service } = testService({ logLevel: 'info' });
    try {
      service.queries.recordProgress(fakeProgress({ id: 'b1', name: 'backfill', batchId: 0 }));
      const e = service.queries.get('backfill');
      e.handle = { trigger: { kind: 'availableNow' } } as typeof e.handle;
      const plain = capture(false);
      const display = new ProgressDisplay(service.queries, plain.mux, 'plain', 50);
      display.tick();
      await new Promise((r) => setTimeout(r, 60));
      service.queries.recordProgress(fakeProgress({ id: 'b1', name: 'backfill', batchId: 1 }));
      display.tick();
      // 2 batches of 100 rows; the source reports latest = end + 200
      expect(plain.text()).toMatch(
        /millrace progress: backfill \d+% {2}batch 1 {2}200 rows {2}[\d,]+ rows\/s {2}200 left {2}ETA \d+s/,
      );
      e.health = 'stopped';
      display.tick();
      expect(plain.text().trim().split('\n').at(-1)).toMatch(/ETA done$/);

      const tty = capture(true);
      e.health = 'active';
      const live = new ProgressDisplay(service.queries, tty.mux, 'tty');
      live.tick();
      expect(tty.text()).toContain('backfill');
      tty.mux.write('{"a log line":1}\n');
      // the status block is cleared (cursor up, erase) before the log line and drawn again after it
      const ESC = String.fromCharCode(27);
      expect(tty.text()).toContain(`${ESC}[1A${ESC}[0J{"a log line":1}\nbackfill`);
      live.stop();
    } finally {
      await service.close({ flushMs: 0 });
    }
  });
});
