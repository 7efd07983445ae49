/**
 * SQL queries run end to end on memory sources and sinks, each beside the same query written with
 * the typed API: both must give the same rows, and for the shapes below the same plans (explain()),
 * since SQL builds the API's plan nodes and nothing else.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type OutputMode,
  ManualClock,
  Trigger,
  type TableSource,
  type Row,
  type Session,
  type Stream,
  approxCountDistinct,
  avg,
  col,
  count,
  countDistinct,
  createSession,
  dateFormat,
  hour,
  interval,
  lit,
  max,
  memorySink,
  memoryStream,
  min,
  percentileApprox,
  schema,
  sessionWindow,
  staticTable,
  sum,
  t,
  upper,
  udf,
  udaf,
  when,
  window,
  concat,
  like,
  coalesce,
  regexpExtract,
} from '../../src/index.ts';
import { cleanupDirs, tempDir } from '../execution/helpers.ts';

afterEach(cleanupDirs);

const bidSchema = schema({
  auction: t.long,
  bidder: t.long,
  price: t.long,
  ts: t.timestamp,
  url: t.string,
  extra: t.string.orNull(),
});
const auctionSchema = schema({ id: t.long, seller: t.long, category: t.long, opened: t.timestamp });
const categorySchema = schema({ categoryId: t.long, title: t.string });

type Bid = { auction: number; bidder: number; price: number; ts: number; url: string; extra: string | null };

const S = 1000;
/** Batches of bids: event times move forward in steps, so windows close and late rows appear. */
function bidBatches(): Bid[][] {
  const out: Bid[][] = [];
  let n = 0;
  for (let b = 0; b < 5; b++) {
    const batch: Bid[] = [];
    for (let i = 0; i < 12; i++, n++) {
      batch.push({
        auction: ((n * 7) % 4) + 4 * b,
        bidder: (n * 13) % 5,
        price: ((n * 37) % 50) * 25 + (n % 3),
        ts: (b * 12 + i) * S + (n % 4) * 250,
        url: `https://shop${n % 3}.example/item/${n}?src=${n % 2 === 0 ? 'mail' : 'ad'}`,
        extra: n % 4 === 0 ? null : `x${n % 6}`,
      });
    }
    if (b === 3)
      batch.push({ auction: 1, bidder: 9, price: 5, ts: 2 * S, url: 'https://late.example/', extra: null }); // late
    out.push(batch);
  }
  return out;
}
/** Four auctions per batch, opened as that batch's bids arrive (so both watermarks move). */
type Auction = { id: number; seller: number; category: number; opened: number };
const auctions = (): Auction[][] =>
  [0, 1, 2, 3, 4].map((b) =>
    [0, 1, 2, 3].map((j) => ({
      id: 4 * b + j,
      seller: 100 + j,
      category: j % 2,
      opened: (b * 12 + j * 3) * S,
    })),
  );

interface Fixture {
  readonly session: Session;
  /** The session's clock: batches run when it is advanced (processing-time trigger). */
  readonly clock: ManualClock;
  readonly bids: Stream<Bid>;
  readonly auctions: Stream<Auction>;
  readonly categories: TableSource<{ categoryId: number; title: string }>;
  feed(step: number): boolean;
}

/** A user function and a user aggregate, registered for SQL in every fixture. */
const slashes = udf('slashes', t.long, (s: string) => s.split('/').length - 1);
const spread = udaf('spread', {
  resultType: t.long,
  init: () => ({ lo: Infinity, hi: -Infinity }),
  update: (b: { lo: number; hi: number }, x: number) => ({ lo: Math.min(b.lo, x), hi: Math.max(b.hi, x) }),
  merge: (a: { lo: number; hi: number }, b: { lo: number; hi: number }) => ({
    lo: Math.min(a.lo, b.lo),
    hi: Math.max(a.hi, b.hi),
  }),
  finish: (b: { lo: number; hi: number }) => b.hi - b.lo,
});

/** A session with `bids`, `auctions` (streams) and `categories` (a static table) registered. */
function fixture(): Fixture {
  const clock = new ManualClock(0);
  const session = createSession({ clock });
  const bidsIn = memoryStream(bidSchema, { name: 'bids' });
  const auctionsIn = memoryStream(auctionSchema, { name: 'auctions' });
  const bids = session.readStream(bidsIn);
  const auctionStream = session.readStream(auctionsIn);
  bids.createOrReplaceTempView('bids');
  session.udf.register('slashes', slashes);
  session.udf.register('spread', spread);
  auctionStream.createOrReplaceTempView('auctions');
  const categories = staticTable({
    name: 'categories',
    schema: categorySchema,
    rows: [
      { categoryId: 0, title: 'books' },
      { categoryId: 1, title: 'music' },
    ],
  });
  session.createOrReplaceTempView('categories', categories);
  const b = bidBatches();
  const a = auctions();
  return {
    session,
    clock,
    bids,
    auctions: auctionStream,
    categories,
    feed(step) {
      if (step >= b.length) return false;
      bidsIn.addData(b[step]!);
      if (a[step]) auctionsIn.addData(a[step]!);
      return true;
    },
  };
}

const canonical = (rows: readonly Row[]): string[] => rows.map((r) => JSON.stringify(r)).sort();

/** Runs the stream built on a fresh fixture over every batch; the sink's rows, sorted. */
async function rowsOf(build: (f: Fixture) => Stream<any>, outputMode: OutputMode): Promise<string[]> {
  const f = fixture();
  const sink = memorySink();
  // A processing-time trigger on a manual clock: data is added while the query sleeps, so each
  // step is exactly one batch (both sources' rows together), in every run alike.
  const q = await build(f)
    .writeStream({
      sink,
      outputMode,
      checkpointLocation: tempDir('millrace-sql-'),
      trigger: Trigger.processingTime('1 second'),
    })
    .start();
  const asleep = async () => {
    const deadline = Date.now() + 15_000;
    while (q.isActive && !(f.clock.waiting > 0 && !q.status.isTriggerActive)) {
      if (Date.now() > deadline) throw new Error('the query did not go back to waiting on the clock');
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  try {
    await asleep();
    // The steps, then three triggers without data: windows and outer rows the watermark closes.
    for (let step = 0; f.feed(step) || step < 8; step++) {
      f.clock.advance(1000);
      await asleep();
    }
    if (q.exception) throw q.exception;
  } finally {
    await q.stop();
  }
  return canonical(sink.allRows() as Row[]);
}

/** The SQL query and the typed one: same explain(), same rows (and some rows). */
async function same(sql: string, typed: (f: Fixture) => Stream<any>, outputMode: OutputMode = 'append') {
  const f = fixture();
  const fromSql = f.session.sql(sql);
  const fromApi = typed(f);
  expect(fromSql.schema.toString()).toBe(fromApi.schema.toString());
  expect(fromSql.explain()).toBe(fromApi.explain());
  const [a, b] = await Promise.all([
    rowsOf((g) => g.session.sql(sql), outputMode),
    rowsOf(typed, outputMode),
  ]);
  expect(a.length).toBeGreaterThan(0);
  expect(a).toEqual(b);
}

describe('SELECT … FROM … WHERE', () => {
  it('expressions, aliases, CAST, CASE, LIKE, BETWEEN, IN, IS NULL and functions', async () => {
    await same(
      `SELECT auction, price * 0.908 AS euros, upper(url) AS u, CAST(price AS STRING) AS p,
              CASE WHEN price > 600 THEN 'big' WHEN price > 100 THEN 'mid' ELSE 'small' END AS size,
              hour(ts) AS h, date_format(ts, 'HH:mm:ss') AS hms, coalesce(extra, 'none') AS extra,
              regexp_extract(url, '//([^/]+)', 1) AS host, CAST(bidder AS STRING) || '-' || url AS who
       FROM bids
       WHERE price BETWEEN 10 AND 1000 AND url LIKE '%mail%' AND bidder IN (1, 2, 3) AND extra IS NOT NULL`,
      (f) =>
        f.bids
          .where(($) =>
            $.price
              .between(10, 1000)
              .and(like($.url, '%mail%'))
              .and($.bidder.isin(1, 2, 3))
              .and($.extra.isNotNull()),
          )
          .select(($) => ({
            auction: $.auction,
            euros: $.price.mul(0.908),
            u: upper($.url),
            p: $.price.cast('string'),
            size: when($.price.gt(600), 'big').when($.price.gt(100), 'mid').otherwise('small'),
            h: hour($.ts),
            hms: dateFormat($.ts, 'HH:mm:ss'),
            extra: coalesce($.extra, 'none'),
            host: regexpExtract($.url, '//([^/]+)', 1),
            who: concat(concat($.bidder.cast('string'), lit('-')), $.url),
          })),
    );
  });

  it('SELECT * and FROM STREAM keep the stream as it is; INTERVAL arithmetic on timestamps', async () => {
    await same('SELECT * FROM STREAM bids WHERE NOT (price < 500 OR extra IS NULL)', (f) =>
      f.bids.where(($) => $.price.lt(500).or($.extra.isNull()).not()),
    );
    await same(
      "SELECT auction, ts + INTERVAL 1 HOUR 30 MINUTES AS later, ts - INTERVAL '10' SECOND AS before FROM STREAM(bids)",
      (f) =>
        f.bids.select(($) => ({
          auction: $.auction,
          later: $.ts.plus(interval('90 minutes')),
          before: $.ts.minus(interval('10 seconds')),
        })),
    );
  });
});

describe('GROUP BY', () => {
  it('a windowed aggregation with a watermark (append): the API plan and rows', async () => {
    await same(
      `SELECT window, auction, count(*) AS bids, max(price) AS top, count(DISTINCT bidder) AS bidders
       FROM STREAM bids WATERMARK ts DELAY OF INTERVAL 5 SECONDS
       GROUP BY window(ts, '10 seconds'), auction`,
      (f) =>
        f.bids
          .withWatermark('ts', '5 seconds')
          .groupBy(($) => ({ window: window($.ts, '10 seconds'), auction: $.auction }))
          .agg(($) => ({ bids: count(), top: max($.price), bidders: countDistinct($.bidder) })),
    );
  });

  it('sliding windows, window.start, HAVING and FILTER (WHERE …) over the aggregate output', async () => {
    await same(
      `SELECT window.start AS start, sum(price) AS total, count(*) FILTER (WHERE price > 500) AS big
       FROM bids WATERMARK ts DELAY OF INTERVAL '4 seconds'
       GROUP BY window(ts, INTERVAL 10 SECONDS, '5 seconds')
       HAVING count(*) > 3`,
      (f) =>
        f.bids
          .withWatermark('ts', '4 seconds')
          .groupBy(($) => ({ window: window($.ts, '10 seconds', '5 seconds') }))
          .agg(($) => ({ total: sum($.price), big: count().filter($.price.gt(500)), 'count(1)': count() }))
          .where(col('count(1)').gt(3))
          .select(($) => ({ start: $.window.getField('start'), total: $.total, big: $.big })),
    );
  });

  it('update and complete modes: avg, min, approx_count_distinct, percentile_approx, expressions over aggregates', async () => {
    const sql = `SELECT auction, avg(price) AS mean, min(price) AS low, approx_count_distinct(bidder) AS bidders,
                        percentile_approx(price, 0.5, 100) AS median, max(price) - min(price) AS spread
                 FROM bids GROUP BY auction`;
    const typed = (f: Fixture) =>
      f.bids
        .groupBy('auction')
        .agg(($) => ({
          mean: avg($.price),
          low: min($.price),
          bidders: approxCountDistinct($.bidder),
          median: percentileApprox($.price, 0.5, 100),
          'max(price)': max($.price),
        }))
        .select(($) => ({
          auction: $.auction,
          mean: $.mean,
          low: $.low,
          bidders: $.bidders,
          median: $.median,
          spread: $['max(price)'].minus($.low),
        }));
    await same(sql, typed, 'complete');
    await same(sql, typed, 'update');
  });

  it('a global aggregation (no GROUP BY) and HAVING on an aggregate the select list does not show', async () => {
    await same(
      'SELECT count(*) AS n, sum(price) AS total FROM bids',
      (f) => f.bids.groupBy().agg(($) => ({ n: count(), total: sum($.price) })),
      'complete',
    );
    await same(
      'SELECT auction FROM bids GROUP BY auction HAVING sum(price) > 1500',
      (f) =>
        f.bids
          .groupBy('auction')
          .agg(($) => ({ 'sum(price)': sum($.price) }))
          .where(col('sum(price)').gt(1500))
          .select('auction'),
      'update',
    );
  });

  it('session_window per key, and GROUP BY an expression named in SELECT', async () => {
    await same(
      `SELECT session_window, bidder, count(*) AS n
       FROM bids WATERMARK ts DELAY OF INTERVAL 2 SECONDS
       GROUP BY session_window(ts, '3 seconds'), bidder`,
      (f) =>
        f.bids
          .withWatermark('ts', '2 seconds')
          .groupBy(($) => ({ session_window: sessionWindow($.ts, '3 seconds'), bidder: $.bidder }))
          .agg({ n: count() }),
    );
    await same(
      'SELECT price % 3 AS bucket, count(*) AS n FROM bids GROUP BY price % 3',
      (f) => f.bids.groupBy(($) => ({ bucket: $.price.mod(3) })).agg({ n: count() }),
      'complete',
    );
  });
});

describe('naming', () => {
  it('GROUP BY an alias, an ordinal or an aliased expression names the key as the select list does', async () => {
    const typed = (f: Fixture) =>
      f.bids.groupBy(($) => ({ host: regexpExtract($.url, '//([^/]+)', 1) })).agg({ n: count() });
    for (const groupBy of ['host', '1', "regexp_extract(url, '//([^/]+)', 1)"]) {
      await same(
        `SELECT regexp_extract(url, '//([^/]+)', 1) AS host, count(*) AS n FROM bids GROUP BY ${groupBy}`,
        typed,
        'complete',
      );
    }
  });

  it('unaliased items get Spark-style names; current_timestamp needs no parentheses', () => {
    const f = fixture();
    const s = f.session.sql(
      'SELECT auction, count(*), sum(price), max(price * 2) FROM bids GROUP BY auction',
    );
    expect(s.schema.names).toEqual(['auction', 'count(1)', 'sum(price)', 'max((price * 2))']);
    const t2 = f.session.sql(
      "SELECT price * 2, window.start, current_timestamp AS now FROM (SELECT price, window(ts, '1 minute') AS window FROM bids)",
    );
    expect(t2.schema.names).toEqual(['(price * 2)', 'start', 'now']);
    // Names resolve case-insensitively and keep the schema's spelling, as in Spark.
    expect(f.session.sql('SELECT PRICE, B.Auction FROM BIDS b').schema.names).toEqual(['price', 'auction']);
  });
});

describe('user functions (session.udf.register)', () => {
  it('a udf() builder called from SQL builds the expression TypeScript builds', async () => {
    await same('SELECT auction, slashes(url) AS n FROM bids WHERE slashes(url) > 3', (f) =>
      f.bids.where(($) => slashes($.url).gt(3)).select(($) => ({ auction: $.auction, n: slashes($.url) })),
    );
  });

  it('a udaf() is an aggregate in SQL, with FILTER too', async () => {
    await same(
      'SELECT auction, spread(price) AS s, spread(price) FILTER (WHERE price > 100) AS big FROM bids GROUP BY auction',
      (f) =>
        f.bids
          .groupBy('auction')
          .agg(($) => ({ s: spread($.price), big: spread($.price).filter($.price.gt(100)) })),
      'complete',
    );
  });

  it('names: suggestions include registered functions; a udaf is refused in WHERE; a bad registration fails', () => {
    const f = fixture();
    expect(() => f.session.sql('SELECT slashs(url) FROM bids')).toThrow(/did you mean "slashes"\?/);
    expect(() => f.session.sql('SELECT * FROM bids WHERE spread(price) > 1')).toThrow(
      /the aggregate spread\(\) is not allowed in WHERE/,
    );
    expect(() => f.session.udf.register('bad name', slashes)).toThrow(/letters, digits and _/);
    expect(() => f.session.udf.register('x', 'nope' as never)).toThrow(
      /give the function udf\(\) or udaf\(\) returned/,
    );
  });
});

describe('subqueries, WITH, views, UNION ALL, DISTINCT', () => {
  const chained = (f: Fixture) =>
    f.bids
      .where(($) => $.price.gt(300))
      .select(($) => ({ auction: $.auction, euros: $.price.mul(0.9) }))
      .groupBy('auction')
      .agg(($) => ({ total: sum($.euros) }));

  it('a subquery in FROM, a WITH query and a temporary view give the chained API plan', async () => {
    await same(
      'SELECT auction, sum(euros) AS total FROM (SELECT auction, price * 0.9 AS euros FROM bids WHERE price > 300) AS b GROUP BY auction',
      chained,
      'complete',
    );
    await same(
      'WITH b AS (SELECT auction, price * 0.9 AS euros FROM bids WHERE price > 300) SELECT b.auction, sum(b.euros) AS total FROM b GROUP BY b.auction',
      chained,
      'complete',
    );
    await same(
      `CREATE TEMPORARY VIEW b AS SELECT auction, price * 0.9 AS euros FROM bids WHERE price > 300;
       SELECT auction, sum(euros) AS total FROM b GROUP BY auction`,
      chained,
      'complete',
    );
  });

  it('UNION ALL (by position) and SELECT DISTINCT', async () => {
    await same(
      'SELECT auction, price FROM bids WHERE price > 900 UNION ALL SELECT bidder AS b, price FROM bids WHERE price < 50',
      (f) =>
        f.bids
          .where(($) => $.price.gt(900))
          .select('auction', 'price')
          .union(
            f.bids
              .where(($) => $.price.lt(50))
              .select(($) => ({ b: $.bidder, price: $.price }))
              .select(($) => ({ auction: $.b, price: $.price })),
          ),
    );
    await same('SELECT DISTINCT auction, bidder FROM bids', (f) =>
      f.bids.select('auction', 'bidder').dropDuplicates(),
    );
  });
});

describe('JOIN', () => {
  it('stream–stream joins with a time range: inner, and left outer (emitted once the watermark passes)', async () => {
    await same(
      `SELECT a.id, a.seller, b.price, b.ts
       FROM STREAM auctions a WATERMARK opened DELAY OF INTERVAL 5 SECONDS
       JOIN STREAM bids b WATERMARK ts DELAY OF INTERVAL 5 SECONDS
         ON a.id = b.auction AND b.ts BETWEEN a.opened AND a.opened + INTERVAL 20 SECONDS`,
      (f) =>
        f.auctions
          .withWatermark('opened', '5 seconds')
          .join(f.bids.withWatermark('ts', '5 seconds'), {
            on: (a, b) =>
              a.id.eq(b.auction).and(b.ts.between(a.opened, a.opened.plus(interval('20 seconds')))),
          })
          .select('id', 'seller', 'price', 'ts'),
    );
    await same(
      `SELECT a.id, b.price
       FROM STREAM auctions a WATERMARK opened DELAY OF INTERVAL 5 SECONDS
       LEFT OUTER JOIN STREAM bids b WATERMARK ts DELAY OF INTERVAL 5 SECONDS
         ON a.id = b.auction AND b.ts BETWEEN a.opened AND a.opened + INTERVAL 20 SECONDS AND b.price > 1100`,
      (f) =>
        f.auctions
          .withWatermark('opened', '5 seconds')
          .join(f.bids.withWatermark('ts', '5 seconds'), {
            on: (a, b) =>
              a.id
                .eq(b.auction)
                .and(b.ts.between(a.opened, a.opened.plus(interval('20 seconds'))))
                .and(b.price.gt(1100)),
            type: 'leftOuter',
          })
          .select('id', 'price'),
    );
  });

  it('LEFT SEMI and FULL OUTER stream–stream joins; a watermark on a subquery', async () => {
    const range = (a: { opened: any }, b: { ts: any }) =>
      b.ts.between(a.opened, a.opened.plus(interval('20 seconds')));
    await same(
      `SELECT * FROM STREAM auctions a WATERMARK opened DELAY OF INTERVAL 5 SECONDS
       LEFT SEMI JOIN (SELECT auction, price, ts FROM bids WHERE price > 1000) WATERMARK ts DELAY OF INTERVAL 5 SECONDS b
         ON a.id = b.auction AND b.ts BETWEEN a.opened AND a.opened + INTERVAL 20 SECONDS`,
      (f) =>
        f.auctions.withWatermark('opened', '5 seconds').join(
          f.bids
            .where(($) => $.price.gt(1000))
            .select('auction', 'price', 'ts')
            .withWatermark('ts', '5 seconds'),
          { on: (a, b) => a.id.eq(b.auction).and(range(a, b)), type: 'leftSemi' },
        ),
    );
    await same(
      `SELECT a.id, b.price FROM auctions a WATERMARK opened DELAY OF INTERVAL 5 SECONDS
       FULL OUTER JOIN bids b WATERMARK ts DELAY OF INTERVAL 5 SECONDS
         ON a.id = b.auction AND b.ts BETWEEN a.opened AND a.opened + INTERVAL 20 SECONDS AND b.price > 1100`,
      (f) =>
        f.auctions
          .withWatermark('opened', '5 seconds')
          .join(f.bids.withWatermark('ts', '5 seconds'), {
            on: (a, b) => a.id.eq(b.auction).and(range(a, b)).and(b.price.gt(1100)),
            type: 'fullOuter',
          })
          .select('id', 'price'),
    );
  });

  it('session_window with a per-row gap expression', async () => {
    await same(
      `SELECT auction, session_window.end AS closes, count(*) AS n FROM bids WATERMARK ts DELAY OF INTERVAL 2 SECONDS
       GROUP BY auction, session_window(ts, CASE WHEN bidder = 0 THEN '1 second' ELSE '4 seconds' END)`,
      (f) =>
        f.bids
          .withWatermark('ts', '2 seconds')
          .groupBy(($) => ({
            auction: $.auction,
            session_window: sessionWindow($.ts, when($.bidder.eq(0), '1 second').otherwise('4 seconds')),
          }))
          .agg({ n: count() })
          .select(($) => ({ auction: $.auction, closes: $.session_window.getField('end'), n: $.n })),
    );
  });

  it('stream–static join (enrichment), left outer and USING', async () => {
    await same(
      `SELECT a.id, c.title FROM auctions a LEFT JOIN categories c ON a.category = c.categoryId`,
      (f) =>
        f.auctions
          .join(f.categories, { on: (a, c) => a.category.eq(c.categoryId), type: 'leftOuter' })
          .select('id', 'title'),
    );
    await same(
      `SELECT * FROM (SELECT auction AS id, price FROM bids) b JOIN (SELECT id, seller FROM auctions) a USING (id)`,
      (f) =>
        f.bids
          .select(($) => ({ id: $.auction, price: $.price }))
          .join(f.auctions.select('id', 'seller'), { on: ['id'] }),
    );
  });
});
