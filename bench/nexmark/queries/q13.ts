/**
 * q13 — bounded side input join: bids enriched from a static side table of 10,000 rows keyed by
 * `auction mod 10,000` (a stream–table lookup join, loaded once).
 */
import { type NexmarkQuery, forEachGenerated, runEngineQuery } from '../query.ts';
import { Checksum, ROW_SEED, hashNum, hashStr } from '../checksum.ts';

type Out = { auction: number; bidder: number; price: number; dateTime: number; value: string };
const SIDE_ROWS = 10_000;
const sideValue = (k: number) => `side-${k}-${(k * 2654435761) % 1000}`;

const hashRow = (r: Out): number =>
  hashStr(hashNum(hashNum(hashNum(hashNum(ROW_SEED, r.auction), r.bidder), r.price), r.dateTime), r.value);

const q13: NexmarkQuery = {
  name: 'q13',
  description: 'bids joined with a 10,000-row static side table on auction mod 10,000 (stream–table join)',
  defaultEvents: 10_000_000,
  baseline({ events, baselineChunk }) {
    const side = new Map<number, string>();
    for (let k = 0; k < SIDE_ROWS; k++) side.set(k, sideValue(k));
    const sum = new Checksum();
    forEachGenerated('bid', events, baselineChunk, (bids) => {
      for (let i = 0; i < bids.length; i++) {
        const b = bids[i]!;
        const value = side.get(b.auction % SIDE_ROWS);
        if (value !== undefined) {
          sum.add(
            hashRow({ auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime, value }),
          );
        }
      }
    });
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  async engine(options) {
    const { schema, staticTable, t } = await import('millrace');
    const side = staticTable({
      name: 'side',
      schema: schema({ key: t.long, value: t.string }),
      rows: Array.from({ length: SIDE_ROWS }, (_, key) => ({ key, value: sideValue(key) })),
    });
    return runEngineQuery(
      'q13',
      'bid',
      options,
      (bids) =>
        bids
          .select(($) => ({
            auction: $.auction,
            bidder: $.bidder,
            price: $.price,
            dateTime: $.dateTime,
            key: $.auction.mod(SIDE_ROWS),
          }))
          .join(side, { on: 'key' })
          .select('auction', 'bidder', 'price', 'dateTime', 'value'),
      hashRow,
    );
  },
};

export default q13;
