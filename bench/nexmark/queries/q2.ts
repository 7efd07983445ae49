/** q2 — selection: bids whose auction id is a multiple of 123 (auction, price). */
import { type NexmarkQuery, forEachGenerated, runEngineQuery } from '../query.ts';
import { Checksum, ROW_SEED, hashNum } from '../checksum.ts';

type Out = { auction: number; price: number };

function hashRow(r: Out): number {
  return hashNum(hashNum(ROW_SEED, r.auction), r.price);
}

const q2: NexmarkQuery = {
  name: 'q2',
  description: 'bids whose auction id is a multiple of 123 (auction, price)',
  defaultEvents: 10_000_000,
  baseline({ events, baselineChunk }) {
    const sum = new Checksum();
    forEachGenerated('bid', events, baselineChunk, (bids) => {
      for (let i = 0; i < bids.length; i++) {
        const b = bids[i]!;
        if (b.auction % 123 === 0) {
          const out: Out = { auction: b.auction, price: b.price };
          sum.add(hashRow(out));
        }
      }
    });
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  engine(options) {
    return runEngineQuery(
      'q2',
      'bid',
      options,
      (bids) => bids.where(($) => $.auction.mod(123).eq(0)).select('auction', 'price'),
      hashRow,
    );
  },
};

export default q2;
