/**
 * q17 — per (auction, day): bids in total and per price band, and min/max/avg/sum of the price.
 *
 * Update mode; the result is the final table (one row per auction and day). Auctions are
 * created throughout the stream (3 per 50 events) and never expire from this aggregation, so
 * state grows with the stream — the unbounded keyed aggregation of the benchmark.
 */
import { type NexmarkQuery, forEachGenerated, runEngineQuery } from '../query.ts';
import { Checksum } from '../checksum.ts';
import { RANK1_BELOW, RANK2_BELOW, ROW_SEED, dayOf, hashNum, hashStr, rankOf } from '../bands.ts';

type Out = {
  auction: number;
  day: string;
  totalBids: number;
  rank1Bids: number;
  rank2Bids: number;
  rank3Bids: number;
  minPrice: number;
  maxPrice: number;
  avgPrice: number;
  sumPrice: number;
};

function hashRow(r: Out): number {
  let h = hashNum(ROW_SEED, r.auction);
  h = hashStr(h, r.day);
  h = hashNum(h, r.totalBids);
  h = hashNum(h, r.rank1Bids);
  h = hashNum(h, r.rank2Bids);
  h = hashNum(h, r.rank3Bids);
  h = hashNum(h, r.minPrice);
  h = hashNum(h, r.maxPrice);
  h = hashNum(h, r.avgPrice);
  return hashNum(h, r.sumPrice);
}

interface Group {
  auction: number;
  day: string;
  n: number;
  r1: number;
  r2: number;
  r3: number;
  min: number;
  max: number;
  sum: number;
}

const q17: NexmarkQuery = {
  name: 'q17',
  description: 'per (auction, day): bids per price band, min/max/avg/sum of the price (update mode)',
  defaultEvents: 10_000_000,
  defaultEventsPerTrigger: 2_000_000,
  baseline({ events, baselineChunk }) {
    const groups = new Map<string, Group>();
    forEachGenerated('bid', events, baselineChunk, (bids) => {
      for (let i = 0; i < bids.length; i++) {
        const b = bids[i]!;
        const day = dayOf(b.dateTime);
        const key = `${b.auction}|${day}`;
        let g = groups.get(key);
        if (g === undefined) {
          g = { auction: b.auction, day, n: 0, r1: 0, r2: 0, r3: 0, min: b.price, max: b.price, sum: 0 };
          groups.set(key, g);
        }
        const p = b.price;
        g.n++;
        const r = rankOf(p);
        if (r === 1) g.r1++;
        else if (r === 2) g.r2++;
        else g.r3++;
        if (p < g.min) g.min = p;
        if (p > g.max) g.max = p;
        g.sum += p;
      }
    });
    const sum = new Checksum();
    for (const g of groups.values()) {
      sum.add(
        hashRow({
          auction: g.auction,
          day: g.day,
          totalBids: g.n,
          rank1Bids: g.r1,
          rank2Bids: g.r2,
          rank3Bids: g.r3,
          minPrice: g.min,
          maxPrice: g.max,
          avgPrice: g.sum / g.n,
          sumPrice: g.sum,
        }),
      );
    }
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  async engine(options) {
    const { avg, count, dateFormat, max, min, sum } = await import('millrace');
    return runEngineQuery(
      'q17',
      'bid',
      options,
      (bids) =>
        bids
          .groupBy(($) => ({ auction: $.auction, day: dateFormat($.dateTime, 'yyyy-MM-dd') }))
          .agg(($) => ({
            totalBids: count(),
            rank1Bids: count().filter($.price.lt(RANK1_BELOW)),
            rank2Bids: count().filter($.price.ge(RANK1_BELOW).and($.price.lt(RANK2_BELOW))),
            rank3Bids: count().filter($.price.ge(RANK2_BELOW)),
            minPrice: min($.price),
            maxPrice: max($.price),
            avgPrice: avg($.price),
            sumPrice: sum($.price),
          })),
      (r) => hashRow(r as Out),
      { outputMode: 'update', finalKey: (r) => `${r.auction}|${r.day}` },
    );
  },
};

export default q17;
