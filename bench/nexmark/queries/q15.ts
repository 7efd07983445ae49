/**
 * q15 — per day: bids, distinct bidders and distinct auctions, each in total and per price band
 * (rank 1: < 10,000; rank 2: < 1,000,000; rank 3: ≥ 1,000,000). Exact distinct counts.
 *
 * Unbounded aggregation in update mode: the result is the final table (one row per day), the
 * last row the sink received per key. At the default 10,000 events/s of event time a day holds
 * 864,000,000 events, so runs of a few million events have a single group whose distinct sets
 * grow with the stream (state = the sets of bidders and auctions seen).
 */
import { type NexmarkQuery, forEachGenerated, runEngineQuery } from '../query.ts';
import { Checksum } from '../checksum.ts';
import {
  type BandColumns,
  BandCounts,
  RANK1_BELOW,
  RANK2_BELOW,
  ROW_SEED,
  bandColumns,
  dayOf,
  hashBands,
  hashStr,
} from '../bands.ts';

type Out = { day: string } & BandColumns;

function hashRow(r: Out): number {
  return hashBands(hashStr(ROW_SEED, r.day), r);
}

const q15: NexmarkQuery = {
  name: 'q15',
  description:
    'per day: bids, distinct bidders and distinct auctions, in total and per price band (update mode)',
  defaultEvents: 10_000_000,
  defaultEventsPerTrigger: 1_000_000,
  baseline({ events, baselineChunk }) {
    const days = new Map<string, BandCounts>();
    forEachGenerated('bid', events, baselineChunk, (bids) => {
      for (let i = 0; i < bids.length; i++) {
        const b = bids[i]!;
        const day = dayOf(b.dateTime);
        let c = days.get(day);
        if (c === undefined) days.set(day, (c = new BandCounts()));
        c.add(b.price, b.bidder, b.auction);
      }
    });
    const sum = new Checksum();
    for (const [day, c] of days) sum.add(hashRow({ day, ...bandColumns(c) }));
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  async engine(options) {
    const { count, countDistinct, dateFormat } = await import('millrace');
    return runEngineQuery(
      'q15',
      'bid',
      options,
      (bids) =>
        bids
          .groupBy(($) => ({ day: dateFormat($.dateTime, 'yyyy-MM-dd') }))
          .agg(($) => {
            const r1 = $.price.lt(RANK1_BELOW);
            const r2 = $.price.ge(RANK1_BELOW).and($.price.lt(RANK2_BELOW));
            const r3 = $.price.ge(RANK2_BELOW);
            return {
              totalBids: count(),
              rank1Bids: count().filter(r1),
              rank2Bids: count().filter(r2),
              rank3Bids: count().filter(r3),
              totalBidders: countDistinct($.bidder),
              rank1Bidders: countDistinct($.bidder).filter(r1),
              rank2Bidders: countDistinct($.bidder).filter(r2),
              rank3Bidders: countDistinct($.bidder).filter(r3),
              totalAuctions: countDistinct($.auction),
              rank1Auctions: countDistinct($.auction).filter(r1),
              rank2Auctions: countDistinct($.auction).filter(r2),
              rank3Auctions: countDistinct($.auction).filter(r3),
            };
          }),
      hashRow,
      { outputMode: 'update', finalKey: (r) => r.day },
    );
  },
};

export default q15;
