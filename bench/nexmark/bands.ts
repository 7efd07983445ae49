/**
 * Shared pieces of the q15–q17 baselines: Nexmark's price bands and the day/minute strings the
 * engine computes with `dateFormat` (UTC), formatted here by hand (the same text).
 */
import { ROW_SEED, hashNum, hashStr } from './checksum.ts';

/** rank 1: price < 10,000; rank 2: 10,000 ≤ price < 1,000,000; rank 3: price ≥ 1,000,000. */
export const RANK1_BELOW = 10_000;
export const RANK2_BELOW = 1_000_000;

/** 1, 2 or 3. */
export function rankOf(price: number): 1 | 2 | 3 {
  return price < RANK1_BELOW ? 1 : price < RANK2_BELOW ? 2 : 3;
}

const MS_PER_DAY = 86_400_000;
let lastDay = NaN;
let lastDayText = '';

/** `yyyy-MM-dd` of an epoch-ms time (UTC), as `dateFormat(t, 'yyyy-MM-dd')`. */
export function dayOf(ms: number): string {
  const d = Math.floor(ms / MS_PER_DAY);
  if (d !== lastDay) {
    lastDay = d;
    lastDayText = new Date(d * MS_PER_DAY).toISOString().slice(0, 10);
  }
  return lastDayText;
}

const two = (n: number) => (n < 10 ? `0${n}` : String(n));
const MINUTES: string[] = [];
for (let h = 0; h < 24; h++) for (let m = 0; m < 60; m++) MINUTES.push(`${two(h)}:${two(m)}`);

/** `HH:mm` of an epoch-ms time (UTC), as `dateFormat(t, 'HH:mm')`. */
export function minuteOf(ms: number): string {
  const inDay = ms - Math.floor(ms / MS_PER_DAY) * MS_PER_DAY;
  return MINUTES[Math.floor(inDay / 60_000)]!;
}

/** Per-band counters and exact distinct sets (q15, q16). */
export class BandCounts {
  bids = [0, 0, 0, 0];
  bidders: Set<number>[] = [new Set(), new Set(), new Set(), new Set()];
  auctions: Set<number>[] = [new Set(), new Set(), new Set(), new Set()];

  add(price: number, bidder: number, auction: number): void {
    const r = rankOf(price);
    this.bids[0]!++;
    this.bids[r]!++;
    this.bidders[0]!.add(bidder);
    this.bidders[r]!.add(bidder);
    this.auctions[0]!.add(auction);
    this.auctions[r]!.add(auction);
  }
}

/** The 12 count columns of q15/q16, as the engine names them. */
export interface BandColumns {
  totalBids: number;
  rank1Bids: number;
  rank2Bids: number;
  rank3Bids: number;
  totalBidders: number;
  rank1Bidders: number;
  rank2Bidders: number;
  rank3Bidders: number;
  totalAuctions: number;
  rank1Auctions: number;
  rank2Auctions: number;
  rank3Auctions: number;
}

export function bandColumns(c: BandCounts): BandColumns {
  return {
    totalBids: c.bids[0]!,
    rank1Bids: c.bids[1]!,
    rank2Bids: c.bids[2]!,
    rank3Bids: c.bids[3]!,
    totalBidders: c.bidders[0]!.size,
    rank1Bidders: c.bidders[1]!.size,
    rank2Bidders: c.bidders[2]!.size,
    rank3Bidders: c.bidders[3]!.size,
    totalAuctions: c.auctions[0]!.size,
    rank1Auctions: c.auctions[1]!.size,
    rank2Auctions: c.auctions[2]!.size,
    rank3Auctions: c.auctions[3]!.size,
  };
}

/** Fold the 12 band columns into a row hash. */
export function hashBands(h: number, r: BandColumns): number {
  h = hashNum(h, r.totalBids);
  h = hashNum(h, r.rank1Bids);
  h = hashNum(h, r.rank2Bids);
  h = hashNum(h, r.rank3Bids);
  h = hashNum(h, r.totalBidders);
  h = hashNum(h, r.rank1Bidders);
  h = hashNum(h, r.rank2Bidders);
  h = hashNum(h, r.rank3Bidders);
  h = hashNum(h, r.totalAuctions);
  h = hashNum(h, r.rank1Auctions);
  h = hashNum(h, r.rank2Auctions);
  return hashNum(h, r.rank3Auctions);
}

export { ROW_SEED, hashNum, hashStr };
