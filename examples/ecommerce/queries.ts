/**
 * The e-commerce queries, over a stream of shop events (generator.ts), all in append mode on
 * event time:
 *
 *   eventCounts   events per type per sliding window (10 min every 5 min at shop speed)
 *   sessions      per user, sessions ending after an inactivity gap: duration, events, views,
 *                 orders, revenue (paid)
 *   funnel        per tumbling window: views → carts → orders → payments, with conversion rates
 *   topProducts   per tumbling window, the products with the most orders (then views): two
 *                 chained aggregations
 */
import {
  type Stream,
  count,
  countDistinct,
  lit,
  max,
  min,
  sessionWindow,
  sum,
  t,
  udaf,
  when,
  window,
} from 'millrace';
import type { ShopEvent } from './generator.ts';

export interface ShopQueryOptions {
  /** Watermark delay: at least maxOutOfOrderMs of the generator's config. */
  readonly watermarkMs: number;
  /** Sliding window of the event counts, and its slide. */
  readonly windowMs: number;
  readonly slideMs: number;
  /** Session inactivity gap. */
  readonly sessionGapMs: number;
  /** Tumbling window of the funnel and the top products. */
  readonly funnelWindowMs: number;
  /** Products kept per window in topProducts. */
  readonly topN: number;
}

/** Shop speed: the 10 min / 5 min windows, a 30 min session gap. */
export const SHOP_QUERIES: ShopQueryOptions = {
  watermarkMs: 10 * 60_000,
  windowMs: 10 * 60_000,
  slideMs: 5 * 60_000,
  sessionGapMs: 30 * 60_000,
  funnelWindowMs: 10 * 60_000,
  topN: 5,
};

/** The same at 1/60 speed (the demo): 10 s / 5 s windows, a 30 s gap. */
export function scaledQueries(scale: number, base: ShopQueryOptions = SHOP_QUERIES): ShopQueryOptions {
  const s = (ms: number) => Math.max(1, Math.round(ms * scale));
  return {
    watermarkMs: s(base.watermarkMs),
    windowMs: s(base.windowMs),
    slideMs: s(base.slideMs),
    sessionGapMs: s(base.sessionGapMs),
    funnelWindowMs: s(base.funnelWindowMs),
    topN: base.topN,
  };
}

export interface TopProduct {
  productId: number;
  orders: number;
  views: number;
}

/** Keeps the `n` products with the most orders (then views, then the smaller id). */
function topProductsOf(n: number) {
  const better = (a: TopProduct, b: TopProduct) =>
    a.orders !== b.orders
      ? a.orders > b.orders
      : a.views !== b.views
        ? a.views > b.views
        : a.productId < b.productId;
  const add = (buf: TopProduct[], p: TopProduct): TopProduct[] => {
    buf.push(p);
    buf.sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
    if (buf.length > n) buf.length = n;
    return buf;
  };
  return udaf('top_products', {
    resultType: t.array(t.struct({ productId: t.long, orders: t.long, views: t.long })),
    init: (): TopProduct[] => [],
    update: (buf: TopProduct[], productId: number, orders: number, views: number) =>
      add(buf, { productId, orders, views }),
    merge: (a: TopProduct[], b: TopProduct[]) => b.reduce(add, a),
    finish: (buf: TopProduct[]) => buf.map((p) => ({ ...p })),
  });
}

export function shopQueries(events: Stream<ShopEvent>, o: ShopQueryOptions) {
  const timed = events.withWatermark('ts', o.watermarkMs);
  const eventCounts = timed
    .groupBy(($) => ({ window: window($.ts, o.windowMs, o.slideMs), type: $.type }))
    .agg({ events: count() })
    .select(($) => ({
      windowStart: $.window.getField('start'),
      windowEnd: $.window.getField('end'),
      type: $.type,
      events: $.events,
    }));

  const sessions = timed
    .groupBy(($) => ({ session: sessionWindow($.ts, o.sessionGapMs), userId: $.userId }))
    .agg(($) => ({
      events: count(),
      views: count().filter($.type.eq('view')),
      orders: count().filter($.type.eq('order')),
      revenue: sum($.amount).filter($.type.eq('pay')),
      first: min($.ts),
      last: max($.ts),
    }))
    .select(($) => ({
      userId: $.userId,
      sessionStart: $.session.getField('start'),
      sessionEnd: $.session.getField('end'),
      durationMs: $.last.minus($.first),
      events: $.events,
      views: $.views,
      orders: $.orders,
      revenue: when($.revenue.isNull(), lit(0)).otherwise($.revenue),
    }));

  const funnel = timed
    .groupBy(($) => ({ window: window($.ts, o.funnelWindowMs) }))
    .agg(($) => ({
      views: count().filter($.type.eq('view')),
      carts: count().filter($.type.eq('cart')),
      orders: count().filter($.type.eq('order')),
      payments: count().filter($.type.eq('pay')),
      revenue: sum($.amount).filter($.type.eq('pay')),
      visitors: countDistinct($.userId),
    }))
    .select(($) => ({
      windowStart: $.window.getField('start'),
      windowEnd: $.window.getField('end'),
      visitors: $.visitors,
      views: $.views,
      carts: $.carts,
      orders: $.orders,
      payments: $.payments,
      revenue: when($.revenue.isNull(), lit(0)).otherwise($.revenue),
      // Conversion: payments per view (the alert watches it); each step's rate too.
      conversionRate: when($.views.gt(0), $.payments.div($.views)).otherwise(lit(null)),
      cartRate: when($.views.gt(0), $.carts.div($.views)).otherwise(lit(null)),
      orderRate: when($.carts.gt(0), $.orders.div($.carts)).otherwise(lit(null)),
      payRate: when($.orders.gt(0), $.payments.div($.orders)).otherwise(lit(null)),
    }));

  const top = topProductsOf(o.topN);
  const topProducts = timed
    .groupBy(($) => ({ window: window($.ts, o.funnelWindowMs), productId: $.productId }))
    .agg(($) => ({ orders: count().filter($.type.eq('order')), views: count().filter($.type.eq('view')) }))
    .groupBy(($) => ({ window: $.window }))
    .agg(($) => ({ top: top($.productId, $.orders, $.views) }))
    .select(($) => ({
      windowStart: $.window.getField('start'),
      windowEnd: $.window.getField('end'),
      top: $.top,
    }));

  return { eventCounts, sessions, funnel, topProducts };
}
