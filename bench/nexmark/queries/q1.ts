/** q1 — currency conversion: every bid with price × 0.908 (a double). */
import { type NexmarkQuery, forEachGenerated, runEngineQuery } from '../query.ts';
import { Checksum, ROW_SEED, hashNum } from '../checksum.ts';

type Out = { auction: number; bidder: number; price: number; dateTime: number };

function hashRow(r: Out): number {
  let h = hashNum(ROW_SEED, r.auction);
  h = hashNum(h, r.bidder);
  h = hashNum(h, r.price);
  return hashNum(h, r.dateTime);
}

const q1: NexmarkQuery = {
  name: 'q1',
  description: 'every bid with its price converted: price × 0.908',
  defaultEvents: 10_000_000,
  baseline({ events, baselineChunk }) {
    const sum = new Checksum();
    forEachGenerated('bid', events, baselineChunk, (bids) => {
      for (let i = 0; i < bids.length; i++) {
        const b = bids[i]!;
        const out: Out = {
          auction: b.auction,
          bidder: b.bidder,
          price: b.price * 0.908,
          dateTime: b.dateTime,
        };
        sum.add(hashRow(out));
      }
    });
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  engine(options) {
    return runEngineQuery(
      'q1',
      'bid',
      options,
      (bids) =>
        bids.select(($) => ({
          auction: $.auction,
          bidder: $.bidder,
          price: $.price.mul(0.908),
          dateTime: $.dateTime,
        })),
      hashRow,
    );
  },
};

export default q1;
