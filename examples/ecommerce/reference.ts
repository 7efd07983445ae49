/**
 * The e-commerce answers computed directly from the generated events — plain loops, no engine —
 * for the tests to compare with the queries' output. It applies the same event-time rules as
 * Spark: batch i runs with watermark wm_i = max(event time of batches < i) − delay (0 for the
 * first); an event is dropped from a window whose end ≤ wm_{i−1}, the previous batch's watermark
 * (Spark 3.4+; from its session when t + gap ≤ wm_{i−1}) — the test's batches run back to back
 * (availableNow), with no batch without data in between; results are emitted once the watermark
 * passes their end, the last watermark being max(event time) − delay.
 */
import type { ShopEvent } from './generator.ts';
import type { ShopQueryOptions, TopProduct } from './queries.ts';

export interface ReferenceResults {
  eventCounts: { windowStart: number; windowEnd: number; type: string; events: number }[];
  sessions: {
    userId: number;
    sessionStart: number;
    sessionEnd: number;
    durationMs: number;
    events: number;
    views: number;
    orders: number;
    revenue: number;
  }[];
  funnel: {
    windowStart: number;
    windowEnd: number;
    visitors: number;
    views: number;
    carts: number;
    orders: number;
    payments: number;
    revenue: number;
    conversionRate: number | null;
    cartRate: number | null;
    orderRate: number | null;
    payRate: number | null;
  }[];
  topProducts: { windowStart: number; windowEnd: number; top: TopProduct[] }[];
}

const floorTo = (t: number, step: number) => t - (((t % step) + step) % step);

/** `batches`: the events of each micro-batch, in order. */
export function referenceResults(
  batches: readonly (readonly ShopEvent[])[],
  o: ShopQueryOptions,
): ReferenceResults {
  let maxTs = -Infinity;
  let wm = 0;
  const counts = new Map<string, { windowStart: number; windowEnd: number; type: string; events: number }>();
  const sessionRows = new Map<number, ShopEvent[]>();
  const funnel = new Map<number, { events: ShopEvent[] }>();
  const products = new Map<string, { start: number; productId: number; orders: number; views: number }>();

  let previousWm = 0;
  for (const batch of batches) {
    // Lateness is judged by the watermark the previous batch ran with.
    const late = previousWm;
    previousWm = wm;
    for (const e of batch) {
      // Sliding windows of the event counts.
      for (let s = floorTo(e.ts, o.slideMs); s > e.ts - o.windowMs; s -= o.slideMs) {
        const end = s + o.windowMs;
        if (end <= late) continue;
        const k = `${s}|${e.type}`;
        const c = counts.get(k) ?? { windowStart: s, windowEnd: end, type: e.type, events: 0 };
        c.events++;
        counts.set(k, c);
      }
      // Sessions: the row's own session [t, t + gap) must end after the watermark.
      if (e.ts + o.sessionGapMs > late) {
        const rows = sessionRows.get(e.userId) ?? [];
        rows.push(e);
        sessionRows.set(e.userId, rows);
      }
      // Tumbling windows of the funnel and the product counts.
      const fs = floorTo(e.ts, o.funnelWindowMs);
      if (fs + o.funnelWindowMs > late) {
        const f = funnel.get(fs) ?? { events: [] };
        f.events.push(e);
        funnel.set(fs, f);
        const pk = `${fs}|${e.productId}`;
        const p = products.get(pk) ?? { start: fs, productId: e.productId, orders: 0, views: 0 };
        if (e.type === 'order') p.orders++;
        if (e.type === 'view') p.views++;
        products.set(pk, p);
      }
    }
    for (const e of batch) if (e.ts > maxTs) maxTs = e.ts;
    wm = Math.max(wm, maxTs - o.watermarkMs);
  }
  const finalWm = wm;

  const eventCounts = [...counts.values()].filter((c) => c.windowEnd <= finalWm);

  const sessions: ReferenceResults['sessions'] = [];
  for (const [userId, rows] of sessionRows) {
    rows.sort((a, b) => a.ts - b.ts);
    let cur: ShopEvent[] = [];
    let start = 0;
    let end = -Infinity;
    const close = () => {
      if (cur.length === 0 || end > finalWm) return;
      const pays = cur.filter((e) => e.type === 'pay');
      sessions.push({
        userId,
        sessionStart: start,
        sessionEnd: end,
        durationMs: cur[cur.length - 1]!.ts - cur[0]!.ts,
        events: cur.length,
        views: cur.filter((e) => e.type === 'view').length,
        orders: cur.filter((e) => e.type === 'order').length,
        revenue: pays.reduce((a, e) => a + e.amount, 0),
      });
    };
    for (const e of rows) {
      if (e.ts <= end) {
        cur.push(e);
        end = Math.max(end, e.ts + o.sessionGapMs);
      } else {
        close();
        cur = [e];
        start = e.ts;
        end = e.ts + o.sessionGapMs;
      }
    }
    close();
  }

  const funnelRows: ReferenceResults['funnel'] = [];
  for (const [start, { events }] of funnel) {
    const end = start + o.funnelWindowMs;
    if (end > finalWm) continue;
    const n = (type: string) => events.filter((e) => e.type === type).length;
    const views = n('view');
    const carts = n('cart');
    const orders = n('order');
    const payments = n('pay');
    funnelRows.push({
      windowStart: start,
      windowEnd: end,
      visitors: new Set(events.map((e) => e.userId)).size,
      views,
      carts,
      orders,
      payments,
      revenue: events.filter((e) => e.type === 'pay').reduce((a, e) => a + e.amount, 0),
      conversionRate: views > 0 ? payments / views : null,
      cartRate: views > 0 ? carts / views : null,
      orderRate: carts > 0 ? orders / carts : null,
      payRate: orders > 0 ? payments / orders : null,
    });
  }

  const byWindow = new Map<number, TopProduct[]>();
  for (const p of products.values()) {
    if (p.start + o.funnelWindowMs > finalWm) continue;
    const list = byWindow.get(p.start) ?? [];
    list.push({ productId: p.productId, orders: p.orders, views: p.views });
    byWindow.set(p.start, list);
  }
  const topProducts = [...byWindow].map(([start, list]) => ({
    windowStart: start,
    windowEnd: start + o.funnelWindowMs,
    top: list
      .sort((a, b) => b.orders - a.orders || b.views - a.views || a.productId - b.productId)
      .slice(0, o.topN),
  }));

  return { eventCounts, sessions, funnel: funnelRows, topProducts };
}
