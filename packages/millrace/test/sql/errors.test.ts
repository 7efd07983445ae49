/**
 * Wrong queries: each fails when the stream is built (not at start()) with a MillraceError whose
 * code says the kind (SQL_PARSE: not valid SQL; SQL_ANALYSIS: unknown or ill-typed names;
 * SQL_UNSUPPORTED: valid Spark SQL that Millrace does not run yet), whose message starts with the
 * line and column, names the offending text, and suggests the closest name where one is near.
 */
import { describe, expect, it } from 'vitest';
import { MillraceError, createSession, memoryStream, schema, staticTable, t } from '../../src/index.ts';

function session() {
  const s = createSession();
  s.readStream(
    memoryStream(schema({ auction: t.long, bidder: t.long, price: t.long, ts: t.timestamp, url: t.string })),
  ).createOrReplaceTempView('bids');
  s.readStream(
    memoryStream(schema({ id: t.long, seller: t.long, opened: t.timestamp })),
  ).createOrReplaceTempView('auctions');
  s.createOrReplaceTempView(
    'sellers',
    staticTable({ schema: schema({ seller: t.long, name: t.string }), rows: [] }),
  );
  return s;
}

function sqlError(text: string): MillraceError {
  try {
    session().sql(text);
  } catch (e) {
    expect(e).toBeInstanceOf(MillraceError);
    return e as MillraceError;
  }
  throw new Error(`expected an error from: ${text}`);
}

type Case = readonly [sql: string, code: string, at: `${number}:${number}`, near: string, message: RegExp];

const CASES: readonly Case[] = [
  // -- parse errors -----------------------------------------------------------------------------
  ['', 'SQL_PARSE', '1:1', '<end of input>', /the SQL text is empty/],
  ['SELEC auction FROM bids', 'SQL_PARSE', '1:1', 'SELEC', /expected SELECT, WITH or CREATE TEMPORARY VIEW/],
  ['SELECT auction bids', 'SQL_PARSE', '1:20', '<end of input>', /expected FROM/],
  ['SELECT auction, FROM bids', 'SQL_PARSE', '1:17', 'FROM', /expected an expression, got the keyword FROM/],
  ['SELECT price +\nFROM bids', 'SQL_PARSE', '2:1', 'FROM', /expected an expression/],
  ["SELECT 'abc FROM bids", 'SQL_PARSE', '1:8', "'abc FROM bids", /string is never closed/],
  ['SELECT (price FROM bids', 'SQL_PARSE', '1:15', 'FROM', /expected "\)" to close "\("/],
  [
    'SELECT price FROM bids WHERE',
    'SQL_PARSE',
    '1:29',
    '<end of input>',
    /expected an expression, got the end/,
  ],
  [
    'SELECT price FROM bids extra words',
    'SQL_PARSE',
    '1:30',
    'words',
    /expected ";" or the end of the statement/,
  ],
  ['SELECT CASE price END FROM bids', 'SQL_PARSE', '1:19', 'END', /expected WHEN in CASE/],
  ['SELECT CAST(price STRING) FROM bids', 'SQL_PARSE', '1:19', 'STRING', /expected AS in CAST/],
  [
    'SELECT price FROM bids WHERE price IS 3',
    'SQL_PARSE',
    '1:39',
    '3',
    /expected NULL or DISTINCT FROM after IS/,
  ],
  ['SELECT ts + INTERVAL 10 FROM bids', 'SQL_PARSE', '1:25', 'FROM', /expected a unit \(SECONDS, MINUTES/],
  [
    "SELECT * FROM bids WATERMARK ts DELAY OF '10 parsecs'",
    'SQL_PARSE',
    '1:42',
    "'10 parsecs'",
    /not a duration/,
  ],
  ['SELECT * FROM bids WATERMARK ts 10 SECONDS', 'SQL_PARSE', '1:33', '10', /expected DELAY after WATERMARK/],
  [
    'SELECT * FROM bids a JOIN auctions b',
    'SQL_PARSE',
    '1:37',
    '<end of input>',
    /expected ON <condition> or USING/,
  ],
  ['SELECT 1a FROM bids', 'SQL_PARSE', '1:8', '1a', /neither a number nor a name/],
  ['SELECT price # 2 FROM bids', 'SQL_PARSE', '1:14', '#', /unexpected character "#"/],
  ['CREATE VIEW v AS SELECT * FROM bids', 'SQL_PARSE', '1:8', 'VIEW', /CREATE TEMPORARY VIEW/],
  // -- unknown names, with suggestions ----------------------------------------------------------
  [
    'SELECT prise FROM bids',
    'SQL_ANALYSIS',
    '1:8',
    'prise',
    /no column named "prise" in SELECT; did you mean "price"\?/,
  ],
  [
    'SELECT price FROM bids WHERE biddr > 3',
    'SQL_ANALYSIS',
    '1:30',
    'biddr',
    /in WHERE; did you mean "bidder"\?/,
  ],
  [
    'SELECT uper(url) FROM bids',
    'SQL_ANALYSIS',
    '1:8',
    'uper',
    /no function named "uper"; did you mean "upper"\?/,
  ],
  [
    'SELECT auction, cuont(*) FROM bids GROUP BY auction',
    'SQL_ANALYSIS',
    '1:17',
    'cuont',
    /did you mean "count"\?/,
  ],
  [
    'SELECT * FROM bid',
    'SQL_ANALYSIS',
    '1:15',
    'bid',
    /no stream or table named "bid"; did you mean "bids"\?/,
  ],
  [
    'SELECT b.prce FROM bids b',
    'SQL_ANALYSIS',
    '1:8',
    'b.prce',
    /b has no column named "prce"; did you mean "price"\?/,
  ],
  [
    "SELECT window.strt, count(*) FROM bids GROUP BY window(ts, '1 minute')",
    'SQL_ANALYSIS',
    '1:8',
    'window.strt',
    /no field "strt"; did you mean "start"\?/,
  ],
  [
    'SELECT CAST(price AS strng) FROM bids',
    'SQL_ANALYSIS',
    '1:22',
    'strng',
    /unknown type "strng"; did you mean "string"\?/,
  ],
  ['SELECT x.* FROM bids b', 'SQL_ANALYSIS', '1:8', 'x.*', /no stream named "x" in FROM/],
  [
    'SELECT * FROM bids a JOIN auctions b USING (auction)',
    'SQL_ANALYSIS',
    '1:45',
    'auction',
    /the right side has no column "auction"/,
  ],
  // -- types and structure ----------------------------------------------------------------------
  [
    'SELECT upper(price) FROM bids',
    'SQL_ANALYSIS',
    '1:8',
    'upper(price)',
    /upper: argument 1 must be string, got long/,
  ],
  ['SELECT price FROM bids WHERE url', 'SQL_ANALYSIS', '1:30', 'url', /not boolean/],
  [
    'SELECT substring(url) FROM bids',
    'SQL_ANALYSIS',
    '1:8',
    'substring(url)',
    /substring\(\) takes 2 to 3 argument\(s\), got 1/,
  ],
  [
    'SELECT auction, price FROM bids GROUP BY auction, ts',
    'SQL_UNSUPPORTED',
    '1:42',
    'auction',
    /GROUP BY without an aggregate/,
  ],
  [
    'SELECT auction, price, count(*) FROM bids GROUP BY auction',
    'SQL_ANALYSIS',
    '1:17',
    'price',
    /column "price" is neither grouped nor aggregated/,
  ],
  [
    'SELECT auction FROM bids WHERE count(*) > 1',
    'SQL_ANALYSIS',
    '1:32',
    'count(*)',
    /not allowed in WHERE \(filter groups with HAVING\)/,
  ],
  [
    'SELECT sum(max(price)) FROM bids',
    'SQL_ANALYSIS',
    '1:12',
    'max(price)',
    /an aggregate inside another aggregate/,
  ],
  ['SELECT sum(*) FROM bids', 'SQL_ANALYSIS', '1:8', 'sum(*)', /only count\(\*\) counts rows/],
  [
    'SELECT upper(DISTINCT url) FROM bids',
    'SQL_ANALYSIS',
    '1:8',
    'upper(DISTINCT url)',
    /DISTINCT is only allowed in an aggregate/,
  ],
  [
    'SELECT * , count(*) FROM bids GROUP BY auction',
    'SQL_ANALYSIS',
    '1:8',
    '*',
    /SELECT \* cannot be used with GROUP BY/,
  ],
  ['SELECT price, price FROM bids', 'SQL_ANALYSIS', '1:15', 'price', /"price" appears twice in SELECT/],
  [
    "SELECT count(*) FROM bids GROUP BY window(ts, 'soon')",
    'SQL_ANALYSIS',
    '1:36',
    "window(ts, 'soon')",
    /window\(\)/,
  ],
  [
    'SELECT * FROM bids WATERMARK url DELAY OF INTERVAL 1 SECOND',
    'SQL_ANALYSIS',
    '1:20',
    'WATERMARK url DELAY OF INTERVAL 1 SECOND',
    /must be a timestamp/,
  ],
  [
    'SELECT * FROM bids b JOIN auctions a ON b.auction = a.id AND b.bidder = 1 UNION ALL SELECT * FROM bids',
    'SQL_ANALYSIS',
    '1:85',
    'SELECT * FROM bids',
    /UNION ALL: the left query has 8 columns/,
  ],
  [
    'SELECT * FROM bids a JOIN bids b ON a.auction = b.auction',
    'SQL_ANALYSIS',
    '1:27',
    'bids b',
    /both sides have the column\(s\) auction, bidder, price, ts, url: join USING/,
  ],
  [
    'SELECT auction FROM bids b JOIN auctions a ON b.auction = a.id JOIN auctions c ON b.auction = c.id',
    'SQL_ANALYSIS',
    '1:69',
    'auctions c',
    /both sides have the column\(s\) id, seller, opened/,
  ],
  [
    'SELECT * FROM sellers',
    'SQL_ANALYSIS',
    '1:15',
    'sellers',
    /a static table is not a stream: join it to a stream/,
  ],
  [
    'SELECT * FROM sellers s JOIN bids b ON s.seller = b.bidder',
    'SQL_ANALYSIS',
    '1:15',
    'sellers s',
    /only be the right side of a join/,
  ],
  [
    'SELECT * FROM auctions a FULL JOIN sellers s USING (seller)',
    'SQL_ANALYSIS',
    '1:15',
    'auctions a FULL JOIN sellers s USING (seller)',
    /supports 'inner' and 'leftOuter'/,
  ],
  [
    "SELECT * FROM bids WHERE ts > TIMESTAMP 'yesterday'",
    'SQL_ANALYSIS',
    '1:31',
    "TIMESTAMP 'yesterday'",
    /'yesterday' is not a timestamp/,
  ],
  [
    'CREATE TEMPORARY VIEW bids AS SELECT * FROM bids',
    'SQL_ANALYSIS',
    '1:1',
    'CREATE TEMPORARY VIEW bids AS SELECT * FROM bids',
    /a view named "bids" exists already; write CREATE OR REPLACE/,
  ],
  // -- valid Spark SQL that Millrace does not run yet ------------------------------------------------
  ['SELECT price FROM bids ORDER BY price', 'SQL_UNSUPPORTED', '1:24', 'ORDER', /ORDER BY on a stream/],
  [
    'SELECT price FROM bids LIMIT 10',
    'SQL_UNSUPPORTED',
    '1:24',
    'LIMIT',
    /LIMIT on a stream is not supported yet/,
  ],
  [
    'SELECT price FROM bids UNION SELECT price FROM bids',
    'SQL_UNSUPPORTED',
    '1:24',
    'UNION',
    /UNION without ALL/,
  ],
  [
    'SELECT sum(price) OVER (PARTITION BY auction) FROM bids',
    'SQL_UNSUPPORTED',
    '1:19',
    'OVER',
    /a window function \(OVER …\)/,
  ],
  [
    'SELECT price FROM bids WHERE auction IN (SELECT id FROM auctions)',
    'SQL_UNSUPPORTED',
    '1:42',
    'SELECT',
    /a subquery in IN/,
  ],
  ['SELECT * FROM bids, auctions', 'SQL_UNSUPPORTED', '1:19', ',', /a comma join/],
  [
    'SELECT CAST(price AS DECIMAL(10, 2)) FROM bids',
    'SQL_UNSUPPORTED',
    '1:22',
    'DECIMAL(10, 2)',
    /DECIMAL is not supported yet/,
  ],
  ['SELECT ts + INTERVAL 1 MONTH FROM bids', 'SQL_UNSUPPORTED', '1:24', 'MONTH', /an interval in months/],
  ['INSERT INTO out SELECT * FROM bids', 'SQL_UNSUPPORTED', '1:1', 'INSERT', /INSERT/],
  [
    'SELECT * FROM bids a LEFT ANTI JOIN auctions b ON a.auction = b.id',
    'SQL_UNSUPPORTED',
    '1:27',
    'ANTI',
    /LEFT ANTI JOIN/,
  ],
];

describe('wrong queries', () => {
  it.each(CASES)('%s', (text, code, at, near, message) => {
    const e = sqlError(text);
    expect({ code: e.code, at: `${e.context.line}:${e.context.column}`, near: e.context.near }).toEqual({
      code,
      at,
      near,
    });
    expect(e.message).toMatch(new RegExp(`^line ${at.replace(':', ', column ')}: `));
    expect(e.message).toMatch(message);
    // The message shows the line and a caret under the offending text.
    const [, lineText, caret] = e.message.split('\n');
    const col = Number(at.split(':')[1]);
    expect(caret!.indexOf('^')).toBe(lineText!.length === 0 ? 2 : col + 1);
  });

  it('has 30 or more cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
  });

  it('an engine error keeps its own code in the context', () => {
    const e = sqlError('SELECT upper(price) FROM bids');
    expect(e.context.engineCode).toBe('INVALID_EXPRESSION');
  });
});
