/**
 * current_timestamp() is the micro-batch's timestamp (Spark): one value per batch, recorded in the
 * offsets log, so a replayed batch sees the same value. Processing-time windows group by it.
 */
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ManualClock,
  Trigger,
  count,
  createSession,
  currentTimestamp,
  memorySink,
  memoryStream,
  schema,
  t,
  window,
} from '../../src/index.ts';
import { testStream } from '../../src/testing/index.ts';

describe('current_timestamp()', () => {
  it('groups rows into processing-time windows (Nexmark q12)', async () => {
    const clock = new ManualClock(0);
    const session = createSession({ clock });
    const input = memoryStream(schema({ bidder: t.long }));
    const perWindow = session
      .readStream(input)
      .groupBy(($) => ({ bidder: $.bidder, window: window(currentTimestamp(), '10 seconds') }))
      .agg({ bids: count() })
      .map(
        (r) => ({ bidder: r.bidder, start: r.window.start / 1000, bids: r.bids }),
        schema({ bidder: t.long, start: t.long, bids: t.long }),
      );
    await testStream(perWindow, { outputMode: 'update', trigger: Trigger.processingTime('5 seconds') })
      .advanceClock(0, clock) // the first batch runs at start (time 0), with no data
      .addData(input, [{ bidder: 1 }, { bidder: 1 }, { bidder: 2 }])
      .advanceClock(5_000, clock) // batch at 5 s: window [0, 10)
      .checkNewRows([
        { bidder: 1, start: 0, bids: 2 },
        { bidder: 2, start: 0, bids: 1 },
      ])
      .addData(input, { bidder: 1 })
      .advanceClock(5_000, clock) // batch at 10 s: window [10, 20)
      .checkNewRows([{ bidder: 1, start: 10, bids: 1 }])
      .run();
  });

  it('a replayed batch sees the timestamp recorded for it, not the clock at the replay', async () => {
    const clock = new ManualClock(1_000);
    const session = createSession({ clock });
    const input = memoryStream(schema({ n: t.long }));
    const stamped = session.readStream(input).select(($) => ({ n: $.n, at: currentTimestamp() }));
    const checkpointLocation = mkdtempSync(path.join(os.tmpdir(), 'millrace-now-'));
    try {
      const sink = memorySink<{ n: number; at: number }>();
      let q = await stamped.writeStream({ sink, checkpointLocation }).start();
      input.addData({ n: 1 });
      await q.processAllAvailable();
      await q.stop();
      await fsp.rm(path.join(checkpointLocation, 'commits', '0')); // as if the process died before the commit
      clock.setTime(99_000);
      q = await stamped.writeStream({ sink, checkpointLocation }).start();
      await q.processAllAvailable();
      await q.stop();
      expect(sink.batch(0)).toEqual([{ n: 1, at: 1_000 }]);
    } finally {
      rmSync(checkpointLocation, { recursive: true, force: true });
    }
  });
});
