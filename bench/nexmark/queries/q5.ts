/**
 * q5 — per sliding window (10 s every 2 s), the auction(s) with the most bids. Watermark 4 s on
 * dateTime, append mode, two chained aggregations (Spark 3.5's multiple stateful operators):
 *   1. bids per (window, auction), emitted once the watermark passes the window's end;
 *   2. per window, the highest count and every auction that has it (ties kept, as Nexmark asks),
 *      with a small user-defined aggregate.
 * The second level reads the first one's window column as its event-time key and emits a window
 * in the same batch the first level finalises it.
 *
 * Windows still open at the end of the stream (end > last event time − 4 s) are never emitted,
 * as in Spark; the baseline leaves them out too.
 */
import { type NexmarkQuery, forEachGenerated, runEngineQuery } from '../query.ts';
import { Checksum, ROW_SEED, hashNum } from '../checksum.ts';

const SIZE_MS = 10_000;
const SLIDE_MS = 2_000;
const DELAY_MS = 4_000;

type Hottest = { bids: number; auctions: number[] };
type Out = { window: { start: number; end: number }; hottest: Hottest };

/** One row per window: its start and end, the top count, the auctions with it (sorted). */
function hash(start: number, end: number, top: Hottest): number {
  let h = hashNum(ROW_SEED, start);
  h = hashNum(h, end);
  h = hashNum(h, top.bids);
  for (const a of [...top.auctions].sort((x, y) => x - y)) h = hashNum(h, a);
  return h;
}

const hashRow = (r: Out): number => hash(r.window.start, r.window.end, r.hottest);

/** The highest count and every auction that has it (plain data: it lives in the state store). */
function addCandidate(buf: Hottest, auction: number, bids: number): Hottest {
  if (bids > buf.bids) return { bids, auctions: [auction] };
  if (bids === buf.bids) buf.auctions.push(auction);
  return buf;
}

const q5: NexmarkQuery = {
  name: 'q5',
  description:
    'per 10 s window sliding every 2 s, the auction(s) with the most bids; watermark 4 s, append mode, two chained aggregations',
  defaultEvents: 2_000_000,
  defaultEventsPerTrigger: 500_000,
  baseline({ events, baselineChunk }) {
    // Window start → auction → bids. Windows are emitted (and dropped) once maxTime − delay ≥ end.
    const windows = new Map<number, Map<number, number>>();
    const sum = new Checksum();
    let maxTime = -Infinity;
    const emitUpTo = (watermark: number) => {
      for (const [start, counts] of windows) {
        const end = start + SIZE_MS;
        if (end > watermark) continue;
        let top: Hottest = { bids: -1, auctions: [] };
        for (const [auction, n] of counts) top = addCandidate(top, auction, n);
        sum.add(hash(start, end, top));
        windows.delete(start);
      }
    };
    forEachGenerated('bid', events, baselineChunk, (bids) => {
      for (let i = 0; i < bids.length; i++) {
        const b = bids[i]!;
        const t = b.dateTime;
        if (t > maxTime) maxTime = t;
        const last = t - (((t % SLIDE_MS) + SLIDE_MS) % SLIDE_MS);
        for (let start = last; start > t - SIZE_MS; start -= SLIDE_MS) {
          let counts = windows.get(start);
          if (counts === undefined) windows.set(start, (counts = new Map()));
          counts.set(b.auction, (counts.get(b.auction) ?? 0) + 1);
        }
      }
      // Events are in order, so no bid is late: emitting per chunk gives the same table.
      emitUpTo(maxTime - DELAY_MS);
    });
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  async engine(options) {
    const { count, t, udaf, window } = await import('millrace');
    const hottest = udaf('hottest', {
      resultType: t.struct({ bids: t.long, auctions: t.array(t.long) }),
      init: (): Hottest => ({ bids: -1, auctions: [] }),
      update: (buf: Hottest, auction: number, bids: number) => addCandidate(buf, auction, bids),
      merge: (a: Hottest, b: Hottest) => b.auctions.reduce((acc, x) => addCandidate(acc, x, b.bids), a),
      finish: (buf: Hottest) => ({ bids: buf.bids, auctions: [...buf.auctions] }),
    });
    return runEngineQuery(
      'q5',
      'bid',
      options,
      (bids) =>
        bids
          .withWatermark('dateTime', DELAY_MS)
          .groupBy(($) => ({ window: window($.dateTime, SIZE_MS, SLIDE_MS), auction: $.auction }))
          .agg({ bids: count() })
          .groupBy('window')
          .agg(($) => ({ hottest: hottest($.auction, $.bids) })),
      (r) => hashRow(r as Out),
      { outputMode: 'append' },
    );
  },
};

export default q5;
