/**
 * q18 — per (bidder, auction), the latest bid: the bid with the largest dateTime (on a tie,
 * the earlier bid in the stream, as Spark's max_by), all its columns.
 *
 * Nexmark's "deduplication keeping the last" (Flink: ROW_NUMBER() … ORDER BY dateTime DESC,
 * rn = 1), written as one aggregation with maxBy per column. Update mode; the result is the
 * final table. State: one group per distinct (bidder, auction) pair, which grows with the stream.
 */
import { type NexmarkQuery, forEachGenerated, runEngineQuery } from '../query.ts';
import { Checksum, ROW_SEED, hashNum, hashStr } from '../checksum.ts';
import type { Bid } from '../../../packages/millrace/src/connectors/nexmark/index.ts';

type Out = {
  bidder: number;
  auction: number;
  price: number;
  channel: string;
  url: string;
  dateTime: number;
  extra: string;
};

function hashRow(r: Out): number {
  let h = hashNum(ROW_SEED, r.bidder);
  h = hashNum(h, r.auction);
  h = hashNum(h, r.price);
  h = hashStr(h, r.channel);
  h = hashStr(h, r.url);
  h = hashNum(h, r.dateTime);
  return hashStr(h, r.extra);
}

const q18: NexmarkQuery = {
  name: 'q18',
  description: 'per (bidder, auction), the latest bid (update mode)',
  defaultEvents: 2_000_000,
  defaultEventsPerTrigger: 500_000,
  baseline({ events, baselineChunk }) {
    // bidder → auction → latest bid
    const latest = new Map<number, Map<number, Bid>>();
    forEachGenerated('bid', events, baselineChunk, (bids) => {
      for (let i = 0; i < bids.length; i++) {
        const b = bids[i]!;
        let byAuction = latest.get(b.bidder);
        if (byAuction === undefined) latest.set(b.bidder, (byAuction = new Map()));
        const prev = byAuction.get(b.auction);
        if (prev === undefined || b.dateTime > prev.dateTime) byAuction.set(b.auction, b);
      }
    });
    const sum = new Checksum();
    for (const byAuction of latest.values()) {
      for (const b of byAuction.values()) {
        sum.add(
          hashRow({
            bidder: b.bidder,
            auction: b.auction,
            price: b.price,
            channel: b.channel,
            url: b.url,
            dateTime: b.dateTime,
            extra: b.extra,
          }),
        );
      }
    }
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  async engine(options) {
    const { max, maxBy } = await import('millrace');
    return runEngineQuery(
      'q18',
      'bid',
      options,
      (bids) =>
        bids.groupBy('bidder', 'auction').agg(($) => ({
          price: maxBy($.price, $.dateTime),
          channel: maxBy($.channel, $.dateTime),
          url: maxBy($.url, $.dateTime),
          dateTime: max($.dateTime),
          extra: maxBy($.extra, $.dateTime),
        })),
      (r) => hashRow(r as Out),
      {
        outputMode: 'update',
        // A number is a cheaper Map key than text; auction ids stay far below 1e7 here
        // (1,000 + 3 per 50 events: below 1e7 up to ~166M events).
        finalKey: (r) => (r.auction < 1e7 ? r.bidder * 1e7 + r.auction : `${r.bidder}|${r.auction}`),
      },
    );
  },
};

export default q18;
