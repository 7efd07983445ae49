import { describe, expect, it } from 'vitest';
import { consoleSink, formatDouble, formatTable } from '../../src/connectors/console/index.ts';
import type { SinkContext } from '../../src/connectors/contracts.ts';
import { schema, t } from '../../src/schema/index.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';

const people = schema({ id: t.long, name: t.string.orNull(), score: t.double });

describe('formatTable', () => {
  it('prints a show()-style table with right-aligned cells', () => {
    const text = formatTable(
      [
        { id: 1, name: 'ann', score: 1 },
        { id: 22, name: null, score: 2.5 },
      ],
      people,
    );
    expect(text).toBe(
      [
        '+---+----+-----+',
        '| id|name|score|',
        '+---+----+-----+',
        '|  1| ann|  1.0|',
        '| 22|NULL|  2.5|',
        '+---+----+-----+',
        '',
      ].join('\n'),
    );
  });

  it('truncates long cells to 20 characters, or not at all (left-aligned) when truncate is false', () => {
    const s = schema({ text: t.string });
    const long = 'abcdefghijklmnopqrstuvwxyz';
    expect(formatTable([{ text: long }], s)).toBe(
      [
        '+--------------------+',
        '|                text|',
        '+--------------------+',
        '|abcdefghijklmnopq...|',
        '+--------------------+',
        '',
      ].join('\n'),
    );
    expect(formatTable([{ text: long }, { text: 'x' }], s, { truncate: false })).toBe(
      [
        '+--------------------------+',
        '|text                      |',
        '+--------------------------+',
        '|abcdefghijklmnopqrstuvwxyz|',
        '|x                         |',
        '+--------------------------+',
        '',
      ].join('\n'),
    );
    // Below 4 characters there is no room for an ellipsis.
    expect(formatTable([{ text: long }], s, { truncate: 3 })).toBe(
      '+----+\n|text|\n+----+\n| abc|\n+----+\n',
    );
  });

  it('cuts to numRows with a footer', () => {
    const s = schema({ v: t.long });
    const rows = [1, 2, 3, 4].map((v) => ({ v }));
    expect(formatTable(rows, s, { numRows: 2 })).toBe(
      ['+---+', '|  v|', '+---+', '|  1|', '|  2|', '+---+', 'only showing top 2 rows', ''].join('\n'),
    );
    expect(formatTable(rows, s, { numRows: 1 })).toMatch(/only showing top 1 row\n$/);
    expect(formatTable(rows, s, { numRows: 4 })).not.toContain('only showing');
  });

  it('formats timestamps, dates, arrays, structs, binary, nulls and escapes control characters', () => {
    const s = schema({
      ts: t.timestamp.orNull(),
      d: t.date,
      tags: t.array(t.string.orNull()),
      pos: t.struct({ x: t.long, at: t.timestamp.orNull() }),
      bin: t.binary,
      note: t.string,
    });
    const text = formatTable(
      [
        {
          ts: Date.UTC(2025, 0, 2, 3, 4, 5, 6),
          d: 20089,
          tags: ['a', null],
          pos: { x: 1, at: null },
          bin: new Uint8Array([10, 255]),
          note: 'a\tb\nc',
        },
        { ts: null, d: 0, tags: [], pos: { x: 2, at: 0 }, bin: new Uint8Array(), note: '' },
      ],
      s,
      { truncate: false },
    );
    expect(text).toBe(
      [
        '+-----------------------+----------+---------+----------------------------+-------+-------+',
        '|ts                     |d         |tags     |pos                         |bin    |note   |',
        '+-----------------------+----------+---------+----------------------------+-------+-------+',
        '|2025-01-02 03:04:05.006|2025-01-01|[a, NULL]|{1, NULL}                   |[0A FF]|a\\tb\\nc|',
        '|NULL                   |1970-01-01|[]       |{2, 1970-01-01 00:00:00.000}|[]     |       |',
        '+-----------------------+----------+---------+----------------------------+-------+-------+',
        '',
      ].join('\n'),
    );
  });

  it('prints an empty table for an empty batch', () => {
    expect(formatTable([], schema({ value: t.string }))).toBe('+-----+\n|value|\n+-----+\n+-----+\n');
  });

  it('formats doubles like Java', () => {
    expect([1, 0.5, -0, 1e7, 1.5e-4, 123456.789, NaN, -Infinity, 1e21].map(formatDouble)).toEqual([
      '1.0',
      '0.5',
      '-0.0',
      '1.0E7',
      '1.5E-4',
      '123456.789',
      'NaN',
      '-Infinity',
      '1.0E21',
    ]);
  });

  it('counts wide characters as two columns', () => {
    expect(formatTable([{ v: '日本' }], schema({ v: t.string }))).toBe(
      '+----+\n|   v|\n+----+\n|日本|\n+----+\n',
    );
  });
});

describe('consoleSink', () => {
  const ctx = (s = people): SinkContext => ({
    queryId: 'q1',
    queryName: 'q',
    stateDir: '/nonexistent',
    clock: new ManualClock(0),
    log: silentLogger,
    schema: s,
    outputMode: 'append',
  });

  it('prints a batch header and the table, in one write', async () => {
    const writes: string[] = [];
    const sink = consoleSink({ out: (text) => writes.push(text), numRows: 1 });
    expect(sink.guarantee).toBe('at-least-once');
    await sink.open(ctx());
    const res = await sink.addBatch(
      [
        { id: 1, name: 'a-very-long-name-indeed-yes', score: 0.25 },
        { id: 2, name: 'b', score: 3 },
      ],
      { batchId: 7, outputMode: 'append' },
    );
    expect(res).toEqual({ rowsWritten: 2 });
    expect(writes).toEqual([
      [
        '-------------------------------------------',
        'Batch: 7',
        '-------------------------------------------',
        '+---+--------------------+-----+',
        '| id|                name|score|',
        '+---+--------------------+-----+',
        '|  1|a-very-long-name-...| 0.25|',
        '+---+--------------------+-----+',
        'only showing top 1 row',
        '',
        '',
      ].join('\n'),
    ]);
  });

  it('rejects bad options', () => {
    expect(() => consoleSink({ numRows: -1 })).toThrow(/numRows -1 must be a non-negative integer/);
    expect(() => consoleSink({ truncate: 'yes' as never })).toThrow(/truncate "yes"/);
  });
});
