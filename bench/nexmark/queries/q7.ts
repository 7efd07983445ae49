/**
 * q7 — highest bid: per 10 s tumbling window, the bid(s) with the highest price. As in Flink's
 * q7, the maximum per window is joined back with the bids: a windowed aggregation (append, 4 s
 * watermark) and a stream–stream join on the window and the price. The join's state is bounded
 * by the window equality: a window's bids leave it once the watermark passes the window's end.
 */
import { type NexmarkQuery, forEachGenerated, runEngineQueryOver } from '../query.ts';
import { Checksum, ROW_SEED, hashNum } from '../checksum.ts';

const SIZE_MS = 10_000;
const DELAY_MS = 4_000;
type Out = { auction: number; bidder: number; price: number; dateTime: number };

const hashRow = (r: Out): number =>
  hashNum(hashNum(hashNum(hashNum(ROW_SEED, r.auction), r.bidder), r.price), r.dateTime);

const q7: NexmarkQuery = {
  name: 'q7',
  description: 'per 10 s window, the bid(s) with the highest price (windowed max joined back with the bids)',
  defaultEvents: 10_000_000,
  // Every bid waits in the join's state until its window closes: 500 k-event batches keep that to
  // about 2 GiB (1 M: 3 GiB, and slower for the GC).
  defaultEventsPerTrigger: 500_000,
  baseline({ events, baselineChunk }) {
    const windows = new Map<number, { max: number; bids: Out[] }>();
    let maxTime = -Infinity;
    forEachGenerated('bid', events, baselineChunk, (bids) => {
      for (let i = 0; i < bids.length; i++) {
        const b = bids[i]!;
        if (b.dateTime > maxTime) maxTime = b.dateTime;
        const start = b.dateTime - (((b.dateTime % SIZE_MS) + SIZE_MS) % SIZE_MS);
        let w = windows.get(start);
        if (w === undefined) windows.set(start, (w = { max: -Infinity, bids: [] }));
        if (b.price > w.max) {
          w.max = b.price;
          w.bids = [];
        }
        if (b.price === w.max)
          w.bids.push({ auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime });
      }
    });
    const watermark = maxTime - DELAY_MS;
    const sum = new Checksum();
    for (const [start, w] of windows)
      if (start + SIZE_MS <= watermark) for (const b of w.bids) sum.add(hashRow(b));
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  async engine(options) {
    const { max, window } = await import('millrace');
    return runEngineQueryOver(
      'q7',
      ['bid'],
      options,
      ({ bid }) => {
        const bids = bid!.withWatermark('dateTime', DELAY_MS).select(($) => ({
          auction: $.auction,
          bidder: $.bidder,
          price: $.price,
          dateTime: $.dateTime,
          window: window($.dateTime, SIZE_MS),
        }));
        const maxes = bids
          .groupBy(($) => ({ maxWindow: window($.dateTime, SIZE_MS) }))
          .agg(($) => ({ maxPrice: max($.price) }));
        return bids
          .join(maxes, { on: (b, m) => b.window.eq(m.maxWindow).and(b.price.eq(m.maxPrice)) })
          .select('auction', 'bidder', 'price', 'dateTime');
      },
      (r) => hashRow(r as Out),
    );
  },
};

export default q7;
