/**
 * q8 — monitor new users: people who registered and opened an auction within the same 10 s
 * tumbling window (id, name, window start). As Flink's q8: people grouped by (id, name, window),
 * auctions by (seller, window), then joined on id = seller and equal windows — two windowed
 * aggregations feeding a window join, all in append mode with 4 s watermarks. A window is final
 * (and can be joined) once the watermark — the minimum over both inputs — passes its end; windows
 * still open at the end of the stream are not emitted, and the baseline leaves them out too.
 */
import { type NexmarkQuery, forEachGenerated, runEngineQueryOver } from '../query.ts';
import { Checksum, ROW_SEED, hashNum, hashStr } from '../checksum.ts';

const SIZE_MS = 10_000;
const DELAY_MS = 4_000;
type Out = { id: number; name: string; start: number };

const hashRow = (r: Out): number => hashNum(hashStr(hashNum(ROW_SEED, r.id), r.name), r.start);

const q8: NexmarkQuery = {
  name: 'q8',
  description:
    'people who registered and opened an auction in the same 10 s window (window join after two aggregations)',
  defaultEvents: 10_000_000,
  defaultEventsPerTrigger: 1_000_000,
  baseline({ events, baselineChunk }) {
    const start = (t: number) => t - (((t % SIZE_MS) + SIZE_MS) % SIZE_MS);
    const people = new Map<string, Out>();
    let maxPerson = -Infinity;
    forEachGenerated('person', events, baselineChunk, (ps) => {
      for (const p of ps) {
        maxPerson = Math.max(maxPerson, p.dateTime);
        const s = start(p.dateTime);
        people.set(`${p.id}|${p.name}|${s}`, { id: p.id, name: p.name, start: s });
      }
    });
    const sellers = new Set<string>();
    let maxAuction = -Infinity;
    forEachGenerated('auction', events, baselineChunk, (as) => {
      for (const a of as) {
        maxAuction = Math.max(maxAuction, a.dateTime);
        sellers.add(`${a.seller}|${start(a.dateTime)}`);
      }
    });
    const watermark = Math.min(maxPerson, maxAuction) - DELAY_MS;
    const sum = new Checksum();
    for (const p of people.values()) {
      if (p.start + SIZE_MS <= watermark && sellers.has(`${p.id}|${p.start}`)) sum.add(hashRow(p));
    }
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  async engine(options) {
    const { count, window } = await import('millrace');
    return runEngineQueryOver(
      'q8',
      ['person', 'auction'],
      options,
      ({ person, auction }) => {
        const people = person!
          .withWatermark('dateTime', DELAY_MS)
          .groupBy(($) => ({ id: $.id, name: $.name, window: window($.dateTime, SIZE_MS) }))
          .agg({ registrations: count() });
        const sellers = auction!
          .withWatermark('dateTime', DELAY_MS)
          .groupBy(($) => ({ seller: $.seller, sellerWindow: window($.dateTime, SIZE_MS) }))
          .agg({ auctions: count() });
        return people
          .join(sellers, { on: (p, a) => p.id.eq(a.seller).and(p.window.eq(a.sellerWindow)) })
          .select(($) => ({ id: $.id, name: $.name, start: $.window.getField('start') }));
      },
      (r) => hashRow(r as Out),
    );
  },
};

export default q8;
