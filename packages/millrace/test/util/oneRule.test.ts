/**
 * One rule, one place (issue 17): timestamp text reads the same in a CAST and
 * in JSON/CSV ingest, and durations are one table, exported from the engine.
 */
import { describe, expect, it } from 'vitest';
import { fromCsvField, fromJson } from '../../src/connectors/file/values.ts';
import { parseDateStrict, parseTimestampStrict } from '../../src/expr/functions/datetime.ts';
import { parseDateText, parseDuration, parseTimestampText } from '../../src/index.ts';

const TS = { kind: 'timestamp' } as const;
const DATE = { kind: 'date' } as const;

const samples = [
  '2024-01-05T10:20:30Z',
  '2024-01-05 10:20:30.123',
  '2024-01-05T10:20:30.123456789+02:00',
  '2024-1-5 3:04:05',
  '2024-01-05',
  '2024-01',
  '2024',
  ' 2024-01-05T10:20:30 ',
  '2024-01-05T10:20:30 UTC',
  '2024-01-05T10:20:30gmt',
  '2024-01-05T10:20:30+0530',
  '2023-02-29T00:00:00Z',
  '2024-01-05T24:00:00Z',
  'yesterday',
  '',
];

describe('timestamp and date text: one rule for casts and for JSON/CSV ingest', () => {
  it('a JSON or CSV timestamp column reads text exactly as CAST(text AS TIMESTAMP)', () => {
    for (const s of samples) {
      const cast = parseTimestampStrict(s);
      const read = (f: () => unknown) => {
        try {
          return f();
        } catch {
          return null;
        }
      };
      expect(
        read(() => fromJson(s, TS)),
        `json ${JSON.stringify(s)}`,
      ).toBe(cast);
      // (a CSV cell of digits only is epoch milliseconds, as documented; "2024" is not compared there)
      if (!/^\s*\d+\s*$/.test(s)) {
        expect(
          read(() => fromCsvField(s, true, TS)),
          `csv ${JSON.stringify(s)}`,
        ).toBe(cast);
      }
      expect(parseTimestampText(s) ?? null, `export ${JSON.stringify(s)}`).toBe(cast);
    }
  });

  it('a date column reads text exactly as CAST(text AS DATE)', () => {
    for (const s of samples) {
      const cast = parseDateStrict(s);
      let got: unknown;
      try {
        got = fromJson(s, DATE);
      } catch {
        got = null;
      }
      expect(got, JSON.stringify(s)).toBe(cast);
      expect(parseDateText(s) ?? null).toBe(cast);
    }
  });
});

describe('durations: one table', () => {
  it('accepts every unit spelling, short and long, singular and plural', () => {
    const cases: [string, number][] = [
      ['250 ms', 250],
      ['2 msecs', 2],
      ['10 secs', 10_000],
      ['1 sec', 1000],
      ['5 mins', 300_000],
      ['2 hrs', 7_200_000],
      ['1 hour', 3_600_000],
      ['3 days', 259_200_000],
      ['2 weeks', 1_209_600_000],
      ['1w', 604_800_000],
    ];
    for (const [text, ms] of cases) expect(parseDuration(text, 'test'), text).toBe(ms);
  });

  it('refuses other values with INVALID_DURATION naming the option', () => {
    for (const bad of ['soon', '5 fortnights', -1, Number.NaN, {}, null]) {
      expect(() => parseDuration(bad as never, 'alert "for"')).toThrow(/alert "for"/);
    }
  });
});
