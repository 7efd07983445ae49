/**
 * The attribution answer computed directly from the generated events — plain loops, no engine —
 * for the test to compare with the query's output. It applies Spark's rules for a stream–stream
 * join followed by a windowed aggregation in append mode:
 *
 *   watermark   batch i runs with W_i: per input, max(event time of batches < i) − delay, and 0
 *               for an input that has seen no rows yet; the minimum of those; never moving
 *               back; W_0 = 0.
 *               After the last batch one more (no-data) batch runs with W_n.
 *   late rows   the join drops an impression with impAt ≤ W_{i−1}, a click with clickAt ≤ W_{i−1}
 *               (i = the batch it arrives in; W_{−1} = 0): Spark 3.4+ (and Millrace) judge lateness
 *               by the previous batch's watermark, at every stateful operator. A row between
 *               W_{i−1} and W_i is kept.
 *   join        every remaining impression is paired with every remaining click of the same
 *               impressionId with impAt ≤ clickAt ≤ impAt + range (a pair is always found: a row
 *               waits in state until no partner in range can still come); an impression with no
 *               such click gives one row with a null click.
 *   windows     the aggregation reads the watermark `range` later (W − range): a window is
 *               emitted once its end ≤ W − range, so after the last batch the windows with
 *               end ≤ W_n − range are in the output. Nothing the join emits is late for it.
 */
import { ADS, type Click, type Impression } from './generator.ts';

export interface AttributionTimes {
  readonly watermarkMs: number;
  readonly rangeMs: number;
  readonly windowMs: number;
}

export interface WindowRow {
  windowStart: number;
  windowEnd: number;
  campaign: string;
  impressions: number;
  clicks: number;
  ctr: number;
  spend: number;
}

export interface ReferenceResult {
  /** The final windows, as the query emits them. */
  rows: WindowRow[];
  /** W_0 … W_n: the watermark of each batch, the last one the no-data batch's. */
  watermarks: number[];
  droppedImpressions: number;
  droppedClicks: number;
  /** Rows behind their batch's own watermark but not the previous batch's: kept (see above). */
  keptBehindWatermark: number;
  /** Impressions in the emitted windows that found no click in range (the left outer rows). */
  unmatchedImpressions: number;
}

export function referenceAttribution(
  batches: readonly { readonly impressions: readonly Impression[]; readonly clicks: readonly Click[] }[],
  o: AttributionTimes,
): ReferenceResult {
  let w = 0;
  let maxImp: number | undefined;
  let maxClick: number | undefined;
  const watermarks: number[] = [];
  const imps: Impression[] = [];
  const clicksById = new Map<string, Click[]>();
  let droppedImpressions = 0;
  let droppedClicks = 0;
  let keptBehindWatermark = 0;

  for (const batch of batches) {
    const late = watermarks.at(-1) ?? 0;
    watermarks.push(w);
    const isLate = (t: number) => {
      if (t > late && t <= w) keptBehindWatermark++;
      return t <= late;
    };
    for (const i of batch.impressions) {
      if (isLate(i.impAt)) droppedImpressions++;
      else imps.push(i);
      maxImp = Math.max(maxImp ?? -Infinity, i.impAt);
    }
    for (const c of batch.clicks) {
      if (isLate(c.clickAt)) droppedClicks++;
      else clicksById.set(c.impressionId, [...(clicksById.get(c.impressionId) ?? []), c]);
      maxClick = Math.max(maxClick ?? -Infinity, c.clickAt);
    }
    const marks = [maxImp, maxClick].map((m) => (m === undefined ? 0 : m - o.watermarkMs));
    w = Math.max(w, Math.min(...marks));
  }
  watermarks.push(w);
  const closedBefore = w - o.rangeMs;

  const campaignOf = new Map(ADS.map((a) => [a.adId, a]));
  const windows = new Map<string, WindowRow & { spendMicros: number }>();
  let unmatchedImpressions = 0;
  for (const i of imps) {
    const start = i.impAt - (i.impAt % o.windowMs);
    if (start + o.windowMs > closedBefore) continue;
    const ad = campaignOf.get(i.adId)!;
    const matches = (clicksById.get(i.impressionId) ?? []).filter(
      (c) => c.clickAt >= i.impAt && c.clickAt <= i.impAt + o.rangeMs,
    ).length;
    if (matches === 0) unmatchedImpressions++;
    const key = `${start}|${ad.campaign}`;
    const row = windows.get(key) ?? {
      windowStart: start,
      windowEnd: start + o.windowMs,
      campaign: ad.campaign,
      impressions: 0,
      clicks: 0,
      ctr: 0,
      spend: 0,
      spendMicros: 0,
    };
    // One joined row per matching click, or one with a null click.
    const joinedRows = Math.max(1, matches);
    row.impressions += joinedRows;
    row.clicks += matches;
    row.spendMicros += joinedRows * ad.costPerImpression;
    windows.set(key, row);
  }
  const rows = [...windows.values()].map(({ spendMicros, ...r }) => ({
    ...r,
    ctr: r.clicks / r.impressions,
    spend: spendMicros / 1_000_000,
  }));
  return { rows, watermarks, droppedImpressions, droppedClicks, keptBehindWatermark, unmatchedImpressions };
}
