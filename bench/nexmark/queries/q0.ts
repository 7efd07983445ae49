/** q0 — passthrough: every bid, unchanged (auction, bidder, price, dateTime, extra). */
import { type NexmarkQuery, forEachGenerated, runEngineQuery } from '../query.ts';
import { Checksum, ROW_SEED, hashNum, hashStr } from '../checksum.ts';

type Out = { auction: number; bidder: number; price: number; dateTime: number; extra: string };

function hashRow(r: Out): number {
  let h = hashNum(ROW_SEED, r.auction);
  h = hashNum(h, r.bidder);
  h = hashNum(h, r.price);
  h = hashNum(h, r.dateTime);
  return hashStr(h, r.extra);
}

const q0: NexmarkQuery = {
  name: 'q0',
  description: 'every bid, unchanged (auction, bidder, price, dateTime, extra)',
  defaultEvents: 10_000_000,
  baseline({ events, baselineChunk }) {
    const sum = new Checksum();
    forEachGenerated('bid', events, baselineChunk, (bids) => {
      for (let i = 0; i < bids.length; i++) {
        const b = bids[i]!;
        const out: Out = {
          auction: b.auction,
          bidder: b.bidder,
          price: b.price,
          dateTime: b.dateTime,
          extra: b.extra,
        };
        sum.add(hashRow(out));
      }
    });
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  engine(options) {
    return runEngineQuery(
      'q0',
      'bid',
      options,
      (bids) => bids.select('auction', 'bidder', 'price', 'dateTime', 'extra'),
      hashRow,
    );
  },
};

export default q0;
