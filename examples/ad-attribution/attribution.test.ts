/**
 * The attribution query against an independent computation (reference.ts) over the same
 * generated traffic: 45 minutes, read 1 and 4 minutes per micro-batch.
 */
import { describe, expect, it } from 'vitest';
import { type StreamingQueryProgress, memorySink } from 'millrace';
import { ATTRIBUTION, attributionOverTraffic, startAttribution } from './attribution.ts';
import { ADS, DEFAULT_TRAFFIC, generateTraffic } from './generator.ts';
import { type WindowRow, referenceAttribution } from './reference.ts';

const canon = (rows: readonly object[]) => rows.map((r) => JSON.stringify(r, Object.keys(r).sort())).sort();
const join = (p: StreamingQueryProgress) => p.stateOperators.find((o) => o.operatorName.startsWith('join'))!;
const total = (ps: readonly StreamingQueryProgress[], f: (p: StreamingQueryProgress) => number) =>
  ps.reduce((a, p) => a + f(p), 0);
const MINUTE = 60_000;

describe('ad attribution', () => {
  const traffic = generateTraffic(DEFAULT_TRAFFIC);

  it('the generator: deterministic; clicks in range, before and after it, and never; out of order and late events', () => {
    expect(generateTraffic(DEFAULT_TRAFFIC)).toEqual(traffic);
    const impAt = new Map(traffic.impressions.map((i) => [i.impressionId, i.impAt]));
    const delays = traffic.clicks
      .filter((c) => impAt.has(c.impressionId))
      .map((c) => c.clickAt - impAt.get(c.impressionId)!);
    expect(delays.filter((d) => d >= 1_000 && d <= 10 * MINUTE).length).toBeGreaterThan(150);
    expect(delays.filter((d) => d > 10 * MINUTE).length).toBeGreaterThan(10);
    expect(delays.filter((d) => d < 0).length).toBeGreaterThan(3);
    expect(traffic.impressions.length - traffic.clicks.length).toBeGreaterThan(1_000); // most never clicked
    const outOfOrder = (ts: number[]) => ts.filter((t, k) => k > 0 && t < ts[k - 1]!).length;
    expect(outOfOrder(traffic.impressions.map((i) => i.impAt))).toBeGreaterThan(100);
    expect(outOfOrder(traffic.clicks.map((c) => c.clickAt))).toBeGreaterThan(10);
    expect(traffic.delayed.size).toBeGreaterThan(10);
    expect(new Set(traffic.impressions.map((i) => i.adId))).toEqual(new Set(ADS.map((a) => a.adId)));
  });

  for (const perBatch of [1, 4]) {
    it(`equals the reference, read ${perBatch} minute(s) per batch: rows, when windows close, late rows`, async () => {
      const batches: (typeof traffic.blocks)[number][] = [];
      for (let b = 0; b < traffic.blocks.length; b += perBatch) {
        const blocks = traffic.blocks.slice(b, b + perBatch);
        batches.push({
          impressions: blocks.flatMap((x) => x.impressions),
          clicks: blocks.flatMap((x) => x.clicks),
        });
      }
      const expected = referenceAttribution(batches, ATTRIBUTION);

      const sink = memorySink<WindowRow>();
      const query = await startAttribution({ maxMinutesPerTrigger: perBatch, sink });
      await query.awaitTermination();
      expect(query.exception).toBeNull();
      const progress = query.recentProgress;

      // Every final window, exactly (6 windows × 3 campaigns for 45 minutes of traffic).
      expect(expected.rows.length).toBeGreaterThanOrEqual(15);
      expect(canon(sink.allRows())).toEqual(canon(expected.rows));

      // The same watermarks: one per data batch, then the no-data batch that closes the last windows.
      expect(progress.map((p) => p.isNoDataBatch)).toEqual([...batches.map(() => false), true]);
      const wms = progress.map((p) => Date.parse(p.eventTime.watermark));
      expect(wms).toEqual(expected.watermarks);

      // A window is emitted in the first batch whose watermark is at least its end + 10 minutes
      // (the join's range), not + 0: the aggregation reads the watermark 10 minutes late.
      for (const [k, p] of progress.entries()) {
        const closes = (end: number) =>
          end <= wms[k]! - ATTRIBUTION.rangeMs && !(end <= (wms[k - 1] ?? -Infinity) - ATTRIBUTION.rangeMs);
        const want = expected.rows.filter((r) => closes(r.windowEnd));
        expect(canon(sink.batch(p.batchId) ?? []), `batch ${p.batchId}`).toEqual(canon(want));
      }

      // Late rows: dropped by the join, counted in progress — on both sides. Rows behind their
      // batch's watermark but not the previous batch's are kept (Spark 3.4+; see reference.ts).
      expect(expected.keptBehindWatermark).toBeGreaterThan(0);
      expect(expected.droppedImpressions).toBeGreaterThan(0);
      expect(expected.droppedClicks).toBeGreaterThan(0);
      expect(total(progress, (p) => join(p).customMetrics.numLeftRowsDroppedByWatermark!)).toBe(
        expected.droppedImpressions,
      );
      expect(total(progress, (p) => join(p).customMetrics.numRightRowsDroppedByWatermark!)).toBe(
        expected.droppedClicks,
      );
      expect(total(progress, (p) => join(p).numRowsDroppedByWatermark)).toBe(
        expected.droppedImpressions + expected.droppedClicks,
      );
      // …and nothing the join emits is late for the aggregation after it.
      const agg = (p: StreamingQueryProgress) =>
        p.stateOperators.find((o) => o.operatorName.startsWith('aggregate'))!;
      expect(total(progress, (p) => agg(p).numRowsDroppedByWatermark)).toBe(0);

      // Left outer: impressions without a click in range are counted (most of them).
      const got = sink.allRows();
      const impressions = got.reduce((a, r) => a + r.impressions, 0);
      const clicks = got.reduce((a, r) => a + r.clicks, 0);
      expect(expected.unmatchedImpressions).toBeGreaterThan(clicks);
      expect(impressions - clicks).toBe(expected.unmatchedImpressions);
    });
  }

  it('explain() shows the bounds of the join state and the delayed watermark of the aggregation', () => {
    const plan = attributionOverTraffic({}).explain();
    expect(plan).toMatch(
      /StreamingSymmetricHashJoin join-0 leftOuter.*left state: time <= watermark - 600000 ms, right state: time <= watermark - 0 ms/,
    );
    expect(plan).toMatch(/StatefulAggregate .*input watermark − 600000 ms \(after a time-range join\)/);
    expect(plan).toMatch(/LookupJoin\[inner, using \[adId\], table campaigns\]/);
  });
});
