/**
 * q9 — the winning bid of every auction: the highest price among the bids placed while the auction
 * was open (dateTime ≤ bid time ≤ expires), the earliest such bid on a tie.
 *
 * As a Spark user would write it: a stream–stream inner join of auctions and bids on the auction
 * id, with the event-time range `bid.bidTime BETWEEN a.dateTime AND a.dateTime + maxLife` that
 * bounds the state (an auction leaves it once the watermark is `maxLife` past its start; a bid as
 * soon as the watermark passes it), plus `bid.bidTime <= a.expires`, checked on each pair. Then a
 * per-auction aggregation keyed on the auction's dateTime, in append mode: the join's output
 * watermark trails by maxLife, so an auction's row is emitted once no bid can still join it.
 * `maxLife` is the generator's longest auction (expires − dateTime ≤ maxLife); the baseline does
 * not use it.
 *
 * Auctions still open when the stream ends (dateTime > watermark − maxLife) are not emitted, and
 * auctions without a bid are not either (an inner join); the baseline leaves both out.
 */
import { type NexmarkQuery, runEngineQueryOver } from '../query.ts';
import { Checksum, ROW_SEED, hashNum } from '../checksum.ts';
import { maxAuctionLifeMs } from '../../../packages/millrace/src/connectors/nexmark/index.ts';
import { bidsWhileOpen, forEachBidWhileOpen } from '../auctionBids.ts';

type Winner = { price: number; bidder: number; bidTime: number };
type Out = {
  id: number;
  seller: number;
  category: number;
  dateTime: number;
  expires: number;
  winner: Winner;
};

const hashRow = (r: Out): number => {
  let h = hashNum(ROW_SEED, r.id);
  h = hashNum(h, r.seller);
  h = hashNum(h, r.category);
  h = hashNum(h, r.dateTime);
  h = hashNum(h, r.expires);
  h = hashNum(h, r.winner.price);
  h = hashNum(h, r.winner.bidder);
  return hashNum(h, r.winner.bidTime);
};

/** Higher price wins; on a tie the earlier bid (then the lower bidder, so the result is unique). */
function better(a: Winner, price: number, bidTime: number, bidder: number): boolean {
  if (price !== a.price) return price > a.price;
  if (bidTime !== a.bidTime) return bidTime < a.bidTime;
  return bidder < a.bidder;
}

function offer(buf: Winner, price: number, bidder: number, bidTime: number): Winner {
  if (better(buf, price, bidTime, bidder)) {
    buf.price = price;
    buf.bidder = bidder;
    buf.bidTime = bidTime;
  }
  return buf;
}

const q9: NexmarkQuery = {
  name: 'q9',
  description:
    'the winning bid of every auction: time-range join of auctions and bids, then the top bid per auction (append mode)',
  defaultEvents: 2_000_000,
  defaultEventsPerTrigger: 500_000,
  baseline({ events, baselineChunk }) {
    const winners = new Map<number, Winner>();
    const { auctions, closedUpTo } = forEachBidWhileOpen(events, baselineChunk, (a, b) => {
      let w = winners.get(a.id);
      if (w === undefined) winners.set(a.id, (w = { price: -1, bidder: 0, bidTime: 0 }));
      offer(w, b.price, b.bidder, b.dateTime);
    });
    const sum = new Checksum();
    for (const [id, winner] of winners) {
      const a = auctions.get(id)!;
      if (a.dateTime > closedUpTo) continue;
      const { seller, category, dateTime, expires } = a;
      sum.add(hashRow({ id, seller, category, dateTime, expires, winner }));
    }
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  async engine(options) {
    const { interval, t, udaf } = await import('millrace');
    const winning = udaf('winning_bid', {
      resultType: t.struct({ price: t.long, bidder: t.long, bidTime: t.timestamp }),
      init: (): Winner => ({ price: -1, bidder: 0, bidTime: 0 }),
      update: (buf: Winner, price: number, bidder: number, bidTime: number) =>
        offer(buf, price, bidder, bidTime),
      merge: (a: Winner, b: Winner) => offer(a, b.price, b.bidder, b.bidTime),
      finish: (buf: Winner) => ({ ...buf }),
    });
    const maxLife = interval(`${maxAuctionLifeMs()} milliseconds`);
    return runEngineQueryOver(
      'q9',
      ['auction', 'bid'],
      options,
      ({ auction, bid }) =>
        bidsWhileOpen(auction!, bid!, maxLife)
          .groupBy('id', 'seller', 'category', 'dateTime', 'expires')
          .agg(($) => ({ winner: winning($.price, $.bidder, $.bidTime) })),
      (r) => hashRow(r as Out),
    );
  },
};

export default q9;
