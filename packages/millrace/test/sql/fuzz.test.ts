/**
 * Bad input of any shape: random token sequences and random edits of valid queries either build a
 * stream or fail with a SQL_* MillraceError that has a position inside the text — never another
 * exception (a TypeError would mean the parser or binder missed a case).
 */
import { expect, it } from 'vitest';
import { MillraceError, createSession, memoryStream, schema, staticTable, t } from '../../src/index.ts';
import { prng } from '../../src/testing/index.ts';

const TOKENS = [
  'SELECT',
  'FROM',
  'WHERE',
  'GROUP',
  'BY',
  'HAVING',
  'JOIN',
  'LEFT',
  'ON',
  'USING',
  'AS',
  'STREAM',
  'WATERMARK',
  'DELAY',
  'OF',
  'INTERVAL',
  'SECONDS',
  'CASE',
  'WHEN',
  'THEN',
  'ELSE',
  'END',
  'CAST',
  'AND',
  'OR',
  'NOT',
  'IN',
  'IS',
  'NULL',
  'BETWEEN',
  'LIKE',
  'UNION',
  'ALL',
  'DISTINCT',
  'WITH',
  'CREATE',
  'TEMPORARY',
  'VIEW',
  'FILTER',
  'bids',
  'b',
  'price',
  'auction',
  'ts',
  'url',
  'window',
  'count',
  'sum',
  'upper',
  'session_window',
  'STRING',
  '*',
  ',',
  '(',
  ')',
  '.',
  '+',
  '-',
  '/',
  '=',
  '<',
  '>=',
  '<=>',
  '||',
  ';',
  "'10 seconds'",
  "'x'",
  '1',
  '2.5',
  '`q`',
  'sellers',
  'seller',
  'TRUE',
];

const VALID = [
  "SELECT window, auction, count(*) AS n FROM STREAM bids WATERMARK ts DELAY OF INTERVAL 5 SECONDS GROUP BY window(ts, '10 seconds'), auction",
  "SELECT upper(url) AS u, CASE WHEN price > 10 THEN 'a' ELSE 'b' END AS c FROM bids WHERE price BETWEEN 1 AND 9 OR url LIKE 'x%'",
  'SELECT b.auction, s.seller FROM bids b LEFT JOIN sellers s ON b.bidder = s.seller',
  'WITH x AS (SELECT auction, price FROM bids) SELECT auction, sum(price) FILTER (WHERE price > 1) AS p FROM x GROUP BY auction HAVING count(*) > 1',
];

function session() {
  const s = createSession();
  s.readStream(
    memoryStream(schema({ auction: t.long, bidder: t.long, price: t.long, ts: t.timestamp, url: t.string })),
  ).createOrReplaceTempView('bids');
  s.createOrReplaceTempView(
    'sellers',
    staticTable({ schema: schema({ seller: t.long, name: t.string }), rows: [] }),
  );
  return s;
}

function check(text: string): 'ok' | 'error' {
  try {
    session().sql(text);
    return 'ok';
  } catch (e) {
    if (!(e instanceof MillraceError) || !e.code.startsWith('SQL_')) {
      throw new Error(`${JSON.stringify(text)} threw ${String(e)}`, { cause: e });
    }
    const { line, column } = e.context as { line: number; column: number };
    const lines = text.split('\n');
    expect(line).toBeGreaterThanOrEqual(1);
    expect(line).toBeLessThanOrEqual(lines.length);
    expect(column).toBeGreaterThanOrEqual(1);
    expect(column).toBeLessThanOrEqual(lines[line - 1]!.length + 1);
    return 'error';
  }
}

it('random token sequences fail cleanly', () => {
  const rand = prng(15);
  const outcomes = { ok: 0, error: 0 };
  for (let i = 0; i < 1500; i++) {
    const n = 1 + Math.floor(rand() * 14);
    const words = Array.from({ length: n }, () => TOKENS[Math.floor(rand() * TOKENS.length)]!);
    outcomes[check(words.join(rand() < 0.2 ? '\n' : ' '))]++;
  }
  expect(outcomes.error).toBeGreaterThan(1000);
});

it('valid queries with a token dropped, doubled or swapped fail cleanly or still build', () => {
  const rand = prng(51);
  const outcomes = { ok: 0, error: 0 };
  for (const q of VALID) expect(check(q)).toBe('ok');
  for (let i = 0; i < 1500; i++) {
    const words = VALID[i % VALID.length]!.split(' ');
    const at = Math.floor(rand() * words.length);
    const op = rand();
    if (op < 0.4) words.splice(at, 1);
    else if (op < 0.7) words.splice(at, 0, words[at]!);
    else words.splice(at, 1, TOKENS[Math.floor(rand() * TOKENS.length)]!);
    outcomes[check(words.join(' '))]++;
  }
  expect(outcomes.ok).toBeGreaterThan(0);
  expect(outcomes.error).toBeGreaterThan(500);
});
