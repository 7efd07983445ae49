/**
 * q12 — bids per bidder in 10 s *processing-time* windows:
 * `groupBy(bidder, window(currentTimestamp(), '10 seconds')).count()` in update mode.
 * `currentTimestamp()` is the batch's timestamp (Spark's current_timestamp()), so which window a
 * bid lands in depends on when its batch ran — no run gives the same windows twice. What does not
 * depend on batching is the total per bidder over all windows, so both sides fold that: the
 * baseline counts bids per bidder; the engine's final table (one row per bidder and window) is
 * summed per bidder. The window count is reported as the engine's `rowsOut` only.
 *
 * No watermark (processing time has none): state keeps every (bidder, window) group, as
 * Flink's q12 keeps its windows until they fire.
 */
import { type NexmarkQuery, forEachGenerated, runEngineQuery } from '../query.ts';
import { Checksum, ROW_SEED, hashNum } from '../checksum.ts';

type Out = { bidder: number; window: { start: number; end: number }; bids: number };

const hash = (bidder: number, bids: number): number => hashNum(hashNum(ROW_SEED, bidder), bids);

function foldPerBidder(rows: Iterable<Out>): Checksum {
  const totals = new Map<number, number>();
  for (const r of rows) totals.set(r.bidder, (totals.get(r.bidder) ?? 0) + r.bids);
  const sum = new Checksum();
  for (const [bidder, n] of totals) sum.add(hash(bidder, n));
  return sum;
}

const q12: NexmarkQuery = {
  name: 'q12',
  description: 'bids per bidder in 10 s processing-time windows (update mode; checked as totals per bidder)',
  defaultEvents: 2_000_000,
  defaultEventsPerTrigger: 500_000,
  baseline({ events, baselineChunk }) {
    const totals = new Map<number, number>();
    forEachGenerated('bid', events, baselineChunk, (bids) => {
      for (let i = 0; i < bids.length; i++) {
        const b = bids[i]!.bidder;
        totals.set(b, (totals.get(b) ?? 0) + 1);
      }
    });
    const sum = new Checksum();
    for (const [bidder, n] of totals) sum.add(hash(bidder, n));
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  async engine(options) {
    const { count, currentTimestamp, window } = await import('millrace');
    const result = await runEngineQuery(
      'q12',
      'bid',
      options,
      (bids) =>
        bids
          .groupBy(($) => ({ bidder: $.bidder, window: window(currentTimestamp(), '10 seconds') }))
          .agg({ bids: count() }),
      () => 0,
      {
        outputMode: 'update',
        finalKey: (r: Out) => `${r.bidder}|${r.window.start}`,
        foldFinal: foldPerBidder,
      },
    );
    return result;
  },
};

export default q12;
