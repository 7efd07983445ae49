/**
 * q20 — expand bid with auction: every bid joined with its auction when the auction's category is
 * 10. An unwindowed inner stream–stream join (Flink's regular join): with no time bound both
 * buffers keep every row — all bids are buffered, which is what makes this the large-state join.
 */
import { type NexmarkQuery, forEachGenerated, runEngineQueryOver } from '../query.ts';
import { Checksum, ROW_SEED, hashNum, hashStr } from '../checksum.ts';

type Out = {
  auction: number;
  bidder: number;
  price: number;
  dateTime: number;
  itemName: string;
  initialBid: number;
  reserve: number;
  expires: number;
  seller: number;
};

const hashRow = (r: Out): number => {
  let h = hashNum(ROW_SEED, r.auction);
  h = hashNum(h, r.bidder);
  h = hashNum(h, r.price);
  h = hashNum(h, r.dateTime);
  h = hashStr(h, r.itemName);
  h = hashNum(h, r.initialBid);
  h = hashNum(h, r.reserve);
  h = hashNum(h, r.expires);
  return hashNum(h, r.seller);
};

const q20: NexmarkQuery = {
  name: 'q20',
  description: 'bids joined with their auction when its category is 10 (unwindowed inner join, large state)',
  defaultEvents: 2_000_000,
  defaultEventsPerTrigger: 500_000,
  baseline({ events, baselineChunk }) {
    const auctions = new Map<
      number,
      { itemName: string; initialBid: number; reserve: number; expires: number; seller: number }
    >();
    forEachGenerated('auction', events, baselineChunk, (as) => {
      for (const a of as) {
        if (a.category === 10) {
          auctions.set(a.id, {
            itemName: a.itemName,
            initialBid: a.initialBid,
            reserve: a.reserve,
            expires: a.expires,
            seller: a.seller,
          });
        }
      }
    });
    const sum = new Checksum();
    forEachGenerated('bid', events, baselineChunk, (bids) => {
      for (let i = 0; i < bids.length; i++) {
        const b = bids[i]!;
        const a = auctions.get(b.auction);
        if (a)
          sum.add(
            hashRow({ auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime, ...a }),
          );
      }
    });
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  engine(options) {
    return runEngineQueryOver(
      'q20',
      ['bid', 'auction'],
      options,
      ({ bid, auction }) =>
        bid!
          .select('auction', 'bidder', 'price', 'dateTime')
          .join(
            auction!
              .where(($) => $.category.eq(10))
              .select(($) => ({
                id: $.id,
                itemName: $.itemName,
                initialBid: $.initialBid,
                reserve: $.reserve,
                expires: $.expires,
                seller: $.seller,
              })),
            { on: (b, a) => b.auction.eq(a.id) },
          )
          .select(
            'auction',
            'bidder',
            'price',
            'dateTime',
            'itemName',
            'initialBid',
            'reserve',
            'expires',
            'seller',
          ),
      hashRow,
    );
  },
};

export default q20;
