/**
 * q3 — local item suggestion: auctions in category 10 joined with their seller, if the seller
 * lives in OR, ID or CA (name, city, state, auction id). An unwindowed inner stream–stream join:
 * no watermark, so both sides' buffers keep every row (small here: people are 2% of the events
 * and only the filtered rows are buffered), as Flink's regular join.
 */
import { type NexmarkQuery, forEachGenerated, runEngineQueryOver } from '../query.ts';
import { Checksum, ROW_SEED, hashNum, hashStr } from '../checksum.ts';

type Out = { name: string; city: string; state: string; auctionId: number };
const STATES = new Set(['OR', 'ID', 'CA']);

const hashRow = (r: Out): number =>
  hashNum(hashStr(hashStr(hashStr(ROW_SEED, r.name), r.city), r.state), r.auctionId);

const q3: NexmarkQuery = {
  name: 'q3',
  description: 'auctions in category 10 joined with their seller in OR, ID or CA (unwindowed inner join)',
  defaultEvents: 10_000_000,
  defaultEventsPerTrigger: 1_000_000,
  baseline({ events, baselineChunk }) {
    // Every (auction, seller) pair is output once, whatever the order: index people, then probe.
    const people = new Map<number, { name: string; city: string; state: string }>();
    forEachGenerated('person', events, baselineChunk, (ps) => {
      for (const p of ps)
        if (STATES.has(p.state)) people.set(p.id, { name: p.name, city: p.city, state: p.state });
    });
    const sum = new Checksum();
    forEachGenerated('auction', events, baselineChunk, (as) => {
      for (const a of as) {
        if (a.category !== 10) continue;
        const p = people.get(a.seller);
        if (p) sum.add(hashRow({ ...p, auctionId: a.id }));
      }
    });
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  engine(options) {
    return runEngineQueryOver(
      'q3',
      ['auction', 'person'],
      options,
      ({ auction, person }) =>
        auction!
          .where(($) => $.category.eq(10))
          .select(($) => ({ auctionId: $.id, seller: $.seller }))
          .join(
            person!
              .where(($) => $.state.isin('OR', 'ID', 'CA'))
              .select(($) => ({ personId: $.id, name: $.name, city: $.city, state: $.state })),
            { on: (a, p) => a.seller.eq(p.personId) },
          )
          .select('name', 'city', 'state', 'auctionId'),
      hashRow,
    );
  },
};

export default q3;
