/**
 * q11 — per bidder, sessions with a 10 s gap (a session ends 10 s after its last bid) and the
 * number of bids in each: `sessionWindow(dateTime, '10 seconds')` with a 4 s watermark on
 * dateTime, in append mode: a session is emitted once the watermark passes its end, then
 * forgotten. Sessions still open at the end of the stream (end > last event time − 4 s) are
 * never emitted, as in Spark; the baseline leaves them out too.
 *
 * Hot bidders (3/4 of the bids go to the latest person id rounded down to 100, plus 1) bid many
 * times a second, so their sessions last until the hot bidder changes; other bidders mostly have
 * one-bid sessions.
 */
import { type NexmarkQuery, forEachGenerated, runEngineQuery } from '../query.ts';
import { Checksum, ROW_SEED, hashNum } from '../checksum.ts';

const GAP_MS = 10_000;
const DELAY_MS = 4_000;

type Out = { bidder: number; session: { start: number; end: number }; bids: number };

function hash(bidder: number, start: number, end: number, bids: number): number {
  let h = hashNum(ROW_SEED, bidder);
  h = hashNum(h, start);
  h = hashNum(h, end);
  return hashNum(h, bids);
}

const hashRow = (r: Out): number => hash(r.bidder, r.session.start, r.session.end, r.bids);

interface Session {
  start: number;
  end: number;
  bids: number;
}

const q11: NexmarkQuery = {
  name: 'q11',
  description: 'per bidder, sessions with a 10 s gap and their bid counts (watermark 4 s, append mode)',
  defaultEvents: 5_000_000,
  defaultEventsPerTrigger: 1_000_000,
  baseline({ events, baselineChunk }) {
    const open = new Map<number, Session>();
    /** Closed sessions the watermark had not passed yet when they closed. */
    const pending: [bidder: number, s: Session][] = [];
    const sum = new Checksum();
    let maxTime = -Infinity;
    forEachGenerated('bid', events, baselineChunk, (bids) => {
      for (let i = 0; i < bids.length; i++) {
        const b = bids[i]!;
        const t = b.dateTime;
        if (t > maxTime) maxTime = t;
        const s = open.get(b.bidder);
        if (s !== undefined && t <= s.end) {
          // Events are in order: [t, t + gap) touches the open session, which it extends.
          if (t + GAP_MS > s.end) s.end = t + GAP_MS;
          s.bids++;
          continue;
        }
        if (s !== undefined) {
          // The watermark only grows: a session it has passed now is emitted at the end too.
          if (s.end <= maxTime - DELAY_MS) sum.add(hash(b.bidder, s.start, s.end, s.bids));
          else pending.push([b.bidder, s]);
        }
        open.set(b.bidder, { start: t, end: t + GAP_MS, bids: 1 });
      }
    });
    const watermark = maxTime - DELAY_MS;
    for (const [bidder, s] of pending) if (s.end <= watermark) sum.add(hash(bidder, s.start, s.end, s.bids));
    for (const [bidder, s] of open) if (s.end <= watermark) sum.add(hash(bidder, s.start, s.end, s.bids));
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  async engine(options) {
    const { count, sessionWindow } = await import('millrace');
    return runEngineQuery(
      'q11',
      'bid',
      options,
      (bids) =>
        bids
          .withWatermark('dateTime', DELAY_MS)
          .groupBy(($) => ({ bidder: $.bidder, session: sessionWindow($.dateTime, GAP_MS) }))
          .agg({ bids: count() }),
      (r) => hashRow(r as Out),
      { outputMode: 'append' },
    );
  },
};

export default q11;
