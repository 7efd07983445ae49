/**
 * q16 — q15 per (channel, day), plus the latest minute (`max(dateFormat(dateTime, 'HH:mm'))`).
 *
 * Update mode; the result is the final table (one row per channel and day). About 10,000
 * channels (4 hot ones and `channel-N` for N below 10,000), each with exact distinct sets.
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
  minuteOf,
} from '../bands.ts';

type Out = { channel: string; day: string; minute: string } & BandColumns;

function hashRow(r: Out): number {
  let h = hashStr(ROW_SEED, r.channel);
  h = hashStr(h, r.day);
  h = hashStr(h, r.minute);
  return hashBands(h, r);
}

class Group extends BandCounts {
  minute = '';
}

const q16: NexmarkQuery = {
  name: 'q16',
  description: 'per (channel, day): q15 plus the latest minute (update mode)',
  defaultEvents: 2_000_000,
  defaultEventsPerTrigger: 500_000,
  baseline({ events, baselineChunk }) {
    // channel → day → group (few days: the inner map is tiny).
    const groups = new Map<string, Map<string, Group>>();
    forEachGenerated('bid', events, baselineChunk, (bids) => {
      for (let i = 0; i < bids.length; i++) {
        const b = bids[i]!;
        const day = dayOf(b.dateTime);
        let byDay = groups.get(b.channel);
        if (byDay === undefined) groups.set(b.channel, (byDay = new Map()));
        let g = byDay.get(day);
        if (g === undefined) byDay.set(day, (g = new Group()));
        g.add(b.price, b.bidder, b.auction);
        const minute = minuteOf(b.dateTime);
        if (minute > g.minute) g.minute = minute;
      }
    });
    const sum = new Checksum();
    for (const [channel, byDay] of groups) {
      for (const [day, g] of byDay) sum.add(hashRow({ channel, day, minute: g.minute, ...bandColumns(g) }));
    }
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  async engine(options) {
    const { count, countDistinct, dateFormat, max } = await import('millrace');
    return runEngineQuery(
      'q16',
      'bid',
      options,
      (bids) =>
        bids
          .groupBy(($) => ({ channel: $.channel, day: dateFormat($.dateTime, 'yyyy-MM-dd') }))
          .agg(($) => {
            const r1 = $.price.lt(RANK1_BELOW);
            const r2 = $.price.ge(RANK1_BELOW).and($.price.lt(RANK2_BELOW));
            const r3 = $.price.ge(RANK2_BELOW);
            return {
              minute: max(dateFormat($.dateTime, 'HH:mm')),
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
      (r) => hashRow(r as Out),
      { outputMode: 'update', finalKey: (r) => `${r.channel}|${r.day}` },
    );
  },
};

export default q16;
