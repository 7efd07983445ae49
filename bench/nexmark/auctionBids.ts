/**
 * What q4 and q9 share: the bids placed while their auction was open (a.dateTime ≤ bid time ≤
 * a.expires), as a stream–stream join for the engine and as a loop for the baseline.
 *
 * The join's range `bidTime BETWEEN a.dateTime AND a.dateTime + maxLife` bounds its state (an
 * auction leaves it once the watermark is maxLife past its start; a bid once the watermark passes
 * it); `bidTime <= a.expires` is checked on each pair. What reads the join sees the watermark
 * maxLife later, so an aggregation keyed on the auction's dateTime emits an auction once, closed.
 */
import type { Column, Stream } from 'millrace';
import {
  type Auction,
  type Bid,
  maxAuctionLifeMs,
} from '../../packages/millrace/src/connectors/nexmark/index.ts';
import { forEachGenerated } from './query.ts';

/** Both inputs' watermark delay. */
export const DELAY_MS = 4_000;

/**
 * Auctions ⋈ bids placed while the auction was open: the auction's id, seller, category, dateTime
 * (its event time) and expires, with the bid's bidder, price and bidTime. `maxLife`:
 * `interval(\`${maxAuctionLifeMs()} milliseconds\`)` (the caller imports the engine lazily).
 */
export function bidsWhileOpen(auction: Stream<Auction>, bid: Stream<Bid>, maxLife: Column<number>) {
  const auctions = auction
    .withWatermark('dateTime', DELAY_MS)
    .select('id', 'seller', 'category', 'dateTime', 'expires');
  const bids = bid
    .select(($) => ({ auction: $.auction, bidder: $.bidder, price: $.price, bidTime: $.dateTime }))
    .withWatermark('bidTime', DELAY_MS);
  return auctions.join(bids, {
    on: (a, b) =>
      a.id
        .eq(b.auction)
        .and(b.bidTime.between(a.dateTime, a.dateTime.plus(maxLife)))
        .and(b.bidTime.le(a.expires)),
  });
}

/**
 * Baseline: calls `each(a, b)` for every bid placed while its auction was open, and returns the
 * auctions (by id) and the time up to which the engine has emitted them: an auction with
 * dateTime ≤ `closedUpTo` (the final watermark, min over both inputs, less maxLife).
 */
export function forEachBidWhileOpen(
  events: number,
  chunk: number,
  each: (a: Auction, b: Bid) => void,
): { auctions: Map<number, Auction>; closedUpTo: number } {
  const auctions = new Map<number, Auction>();
  let maxAuction = -Infinity;
  forEachGenerated('auction', events, chunk, (as) => {
    for (const a of as) {
      maxAuction = Math.max(maxAuction, a.dateTime);
      auctions.set(a.id, a);
    }
  });
  let maxBid = -Infinity;
  forEachGenerated('bid', events, chunk, (bids) => {
    for (let i = 0; i < bids.length; i++) {
      const b = bids[i]!;
      if (b.dateTime > maxBid) maxBid = b.dateTime;
      const a = auctions.get(b.auction);
      if (a !== undefined && b.dateTime >= a.dateTime && b.dateTime <= a.expires) each(a, b);
    }
  });
  return { auctions, closedUpTo: Math.min(maxAuction, maxBid) - DELAY_MS - maxAuctionLifeMs() };
}
