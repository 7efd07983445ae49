import { afterEach, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  type Bid,
  type Stream,
  Trigger,
  count,
  createSession,
  generateBids,
  max,
  memorySink,
  nexmarkConfig,
  round,
  window,
} from 'millrace';
import { hotItems, runHotItems } from './hotItems.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'millrace-sql-example-'));
  dirs.push(d);
  return d;
};

const EVENTS = 60_000;
const sorted = (rows: readonly object[]) => rows.map((r) => JSON.stringify(r)).sort();

/** The answer computed directly from the generated bids: no engine involved. */
function reference(): object[] {
  const bids: Bid[] = [];
  generateBids(0, EVENTS, nexmarkConfig({ eventsPerSecond: 1_000 }), bids);
  const watermark = Math.max(...bids.map((b) => b.dateTime)) - 4_000;
  const groups = new Map<
    string,
    { windowStart: number; auction: number; bids: number; big: number; top: number }
  >();
  for (const b of bids) {
    const windowStart = b.dateTime - (b.dateTime % 10_000);
    const k = `${windowStart}/${b.auction}`;
    const g = groups.get(k) ?? { windowStart, auction: b.auction, bids: 0, big: 0, top: -Infinity };
    g.bids++;
    if (b.price > 5000) g.big++;
    g.top = Math.max(g.top, b.price * 0.908);
    groups.set(k, g);
  }
  return [...groups.values()]
    .filter((g) => g.bids >= 3 && g.windowStart + 10_000 <= watermark)
    .map((g) => ({
      windowStart: g.windowStart,
      auction: g.auction,
      bids: g.bids,
      bigBids: g.big,
      topEuros: Math.round(g.top * 100) / 100,
    }));
}

it('the SQL query gives the directly computed hot items', async () => {
  const sink = memorySink();
  await runHotItems({ events: EVENTS, sink, checkpointLocation: tmp() });
  const want = reference();
  expect(want.length).toBeGreaterThan(10);
  expect(sorted(sink.allRows())).toEqual(sorted(want));
});

it('the SQL query and the same query in the typed API have the same plan and rows', async () => {
  const session = createSession();
  const fromSql = hotItems(session, { events: EVENTS });
  const bids = session.sql('SELECT * FROM bids') as unknown as Stream<Bid>; // the registered stream
  const typed = bids
    .withWatermark('dateTime', '4 seconds')
    .select(($) => ({
      auction: $.auction,
      bidder: $.bidder,
      euros: $.price.mul(0.908),
      big: $.price.gt(5000),
      dateTime: $.dateTime,
    }))
    .groupBy(($) => ({ window: window($.dateTime, '10 seconds'), auction: $.auction }))
    .agg(($) => ({ bids: count(), bigBids: count().filter($.big), 'max(euros)': max($.euros) }))
    .where(($) => $.bids.ge(3))
    .select(($) => ({
      windowStart: $.window.getField('start'),
      auction: $.auction,
      bids: $.bids,
      bigBids: $.bigBids,
      topEuros: round($['max(euros)'], 2),
    }));
  expect(fromSql.explain()).toBe(typed.explain());
  const run = async (s: Stream<any>) => {
    const sink = memorySink();
    const q = await s
      .writeStream({ sink, outputMode: 'append', trigger: Trigger.availableNow(), checkpointLocation: tmp() })
      .start();
    await q.awaitTermination();
    return sorted(sink.allRows());
  };
  const sqlRows = await run(fromSql);
  expect(sqlRows.length).toBeGreaterThan(10);
  // The typed query reads the same source object: run it after the SQL one has stopped.
  expect(await run(typed)).toEqual(sqlRows);
});
