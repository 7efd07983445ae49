/**
 * q5 (first level only) — bids per (sliding window of 10 s every 2 s, auction), with a 4 s
 * watermark on dateTime, in append mode: a window's counts are emitted once the watermark
 * passes its end, then forgotten.
 *
 * Nexmark q5 asks, per window, for the auction(s) with the most bids: a second aggregation
 * (max of the counts per window) joined back to these counts. Millrace cannot chain
 * aggregations yet, so that second level is NOT computed here — neither by the engine nor by
 * the baseline, which computes the same first-level table so the two can be compared.
 *
 * Windows still open at the end of the stream (end > last event time − 4 s) are never emitted,
 * as in Spark; the baseline leaves them out too.
 */
import { type NexmarkQuery, forEachGenerated, runEngineQuery } from '../query.ts';
import { Checksum, ROW_SEED, hashNum } from '../checksum.ts';

const SIZE_MS = 10_000;
const SLIDE_MS = 2_000;
const DELAY_MS = 4_000;

type Out = { window: { start: number; end: number }; auction: number; bids: number };

function hash(start: number, end: number, auction: number, bids: number): number {
  let h = hashNum(ROW_SEED, start);
  h = hashNum(h, end);
  h = hashNum(h, auction);
  return hashNum(h, bids);
}

const hashRow = (r: Out): number => hash(r.window.start, r.window.end, r.auction, r.bids);

const q5: NexmarkQuery = {
  name: 'q5',
  description:
    'bids per (10 s window sliding every 2 s, auction), watermark 4 s, append mode — first level of q5 only',
  note: "q5's second level (the auction(s) with the most bids per window) is not computed: it needs a chained aggregation, which Millrace does not support yet",
  defaultEvents: 2_000_000,
  defaultEventsPerTrigger: 500_000,
  baseline({ events, baselineChunk }) {
    // Window start → auction → bids. Windows are emitted (and dropped) once maxTime − delay ≥ end.
    const windows = new Map<number, Map<number, number>>();
    const sum = new Checksum();
    let maxTime = -Infinity;
    const emitUpTo = (watermark: number) => {
      for (const [start, counts] of windows) {
        const end = start + SIZE_MS;
        if (end > watermark) continue;
        for (const [auction, n] of counts) sum.add(hash(start, end, auction, n));
        windows.delete(start);
      }
    };
    forEachGenerated('bid', events, baselineChunk, (bids) => {
      for (let i = 0; i < bids.length; i++) {
        const b = bids[i]!;
        const t = b.dateTime;
        if (t > maxTime) maxTime = t;
        const last = t - (((t % SLIDE_MS) + SLIDE_MS) % SLIDE_MS);
        for (let start = last; start > t - SIZE_MS; start -= SLIDE_MS) {
          let counts = windows.get(start);
          if (counts === undefined) windows.set(start, (counts = new Map()));
          counts.set(b.auction, (counts.get(b.auction) ?? 0) + 1);
        }
      }
      // Events are in order, so no bid is late: emitting per chunk gives the same table.
      emitUpTo(maxTime - DELAY_MS);
    });
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  async engine(options) {
    const { count, window } = await import('millrace');
    return runEngineQuery(
      'q5',
      'bid',
      options,
      (bids) =>
        bids
          .withWatermark('dateTime', DELAY_MS)
          .groupBy(($) => ({ window: window($.dateTime, SIZE_MS, SLIDE_MS), auction: $.auction }))
          .agg({ bids: count() }),
      (r) => hashRow(r as Out),
      { outputMode: 'append' },
    );
  },
};

export default q5;
