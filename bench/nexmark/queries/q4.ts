/**
 * q4 — per category, the average final price of its closed auctions: an auction's final price is
 * its highest bid placed while it was open (dateTime ≤ bid time ≤ expires).
 *
 * Two queries, as a Spark user has to write it: Spark (and Millrace) run a stream–stream join
 * only in append mode, and a second aggregation after it in append mode needs an event-time key,
 * which "per category, over all time" has not. So:
 *   1. auctions ⋈ bids on the id within `bidTime BETWEEN a.dateTime AND a.dateTime + maxLife`
 *      (plus `bidTime <= a.expires`), then the max price per auction, keyed on the auction's
 *      dateTime — append mode: a final price is emitted once, when the auction is closed (as q9);
 *   2. those final prices read as a stream, `groupBy(category).agg(avg(final))` in complete mode.
 * The first query's sink feeds a memory stream the second one reads (in a pipeline: a topic).
 * Both run to the end of the input; the CPU time of both is counted.
 *
 * Flink's q4 is one updating query that also counts auctions still open; here only closed
 * auctions count (dateTime ≤ watermark − maxLife at the end), and the baseline does the same.
 */
import type { Stream } from 'millrace';
import { type NexmarkQuery, type RunResult, runEngineQueryOver, runStreamQuery } from '../query.ts';
import { Checksum, ROW_SEED, hashNum } from '../checksum.ts';
import { maxAuctionLifeMs } from '../../../packages/millrace/src/connectors/nexmark/index.ts';
import { bidsWhileOpen, forEachBidWhileOpen } from '../auctionBids.ts';

type Final = { id: number; category: number; dateTime: number; final: number };
type Out = { category: number; average: number };

const hashFinal = (r: Final): number =>
  hashNum(hashNum(hashNum(hashNum(ROW_SEED, r.id), r.category), r.dateTime), r.final);
const hashRow = (r: Out): number => hashNum(hashNum(ROW_SEED, r.category), r.average);

const q4: NexmarkQuery = {
  name: 'q4',
  description:
    'per category, the average final price of closed auctions: time-range join, max per auction (append), then a second query averaging per category (complete)',
  defaultEvents: 2_000_000,
  defaultEventsPerTrigger: 500_000,
  note: 'two queries: the join and per-auction max (append), then per-category averages over its output (complete); figures cover both',
  baseline({ events, baselineChunk }) {
    const finals = new Map<number, number>();
    const { auctions, closedUpTo } = forEachBidWhileOpen(events, baselineChunk, (a, b) => {
      if (b.price > (finals.get(a.id) ?? -1)) finals.set(a.id, b.price);
    });
    const perCategory = new Map<number, { sum: number; n: number }>();
    for (const [id, final] of finals) {
      const a = auctions.get(id)!;
      if (a.dateTime > closedUpTo) continue;
      const c = perCategory.get(a.category) ?? { sum: 0, n: 0 };
      c.sum += final;
      c.n++;
      perCategory.set(a.category, c);
    }
    const sum = new Checksum();
    for (const [category, { sum: s, n }] of perCategory) sum.add(hashRow({ category, average: s / n }));
    return { rowsOut: sum.rows, checksum: sum.value() };
  },
  async engine(options): Promise<RunResult> {
    const { avg, createSession, interval, max, memoryStream, schema, t } = await import('millrace');
    const maxLife = interval(`${maxAuctionLifeMs()} milliseconds`);
    const finalsTopic = memoryStream(
      schema({ id: t.long, category: t.long, dateTime: t.timestamp, final: t.long }),
      { name: 'q4-finals' },
    );
    const finals: Final[] = [];
    const first = await runEngineQueryOver(
      'q4-finals',
      ['auction', 'bid'],
      options,
      ({ auction, bid }) =>
        bidsWhileOpen(auction!, bid!, maxLife)
          .groupBy('id', 'category', 'dateTime')
          .agg(($) => ({ final: max($.price) })) as unknown as Stream<Final>,
      hashFinal,
      { tap: (row) => finals.push(row) },
    );
    finalsTopic.addData(finals);
    const averages = createSession()
      .readStream(finalsTopic)
      .groupBy('category')
      .agg(($) => ({ average: avg($.final) }));
    const second = await runStreamQuery('q4', averages as Stream<Out>, 1, options.sink, hashRow, {
      outputMode: 'complete',
      finalKey: (r) => r.category,
    });
    return {
      ...second,
      rowsIn: first.rowsIn,
      batches: first.batches,
      batchesTotal: (first.batchesTotal ?? 0) + (second.batchesTotal ?? 0),
      rowsEmitted: second.rowsEmitted,
      stateRows: (first.stateRows ?? 0) + (second.stateRows ?? 0),
      rowsDroppedByWatermark: first.rowsDroppedByWatermark,
      outputMode: 'append',
    };
  },
};

export default q4;
