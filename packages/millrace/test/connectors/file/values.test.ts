import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fileSource } from '../../../src/connectors/file/index.ts';
import { globToRegExp } from '../../../src/connectors/file/glob.ts';
import {
  escapePathName,
  fromCsvField,
  parseDateText,
  parseTimestampText,
  unescapePathName,
} from '../../../src/connectors/file/values.ts';
import { csvLine, readCsv } from '../../../src/connectors/file/csv.ts';
import { schema, t } from '../../../src/schema/index.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('timestamps and dates', () => {
  it('reads ISO-8601 variants as UTC epoch ms', () => {
    const base = Date.UTC(2024, 0, 31, 10, 5, 7);
    expect(parseTimestampText('2024-01-31T10:05:07Z')).toBe(base);
    expect(parseTimestampText('2024-01-31 10:05:07')).toBe(base);
    expect(parseTimestampText('2024-01-31T10:05:07.123456Z')).toBe(base + 123);
    expect(parseTimestampText('2024-01-31T12:05:07+02:00')).toBe(base);
    expect(parseTimestampText('2024-01-31T05:05:07-0500')).toBe(base);
    expect(parseTimestampText('2024-01-31')).toBe(Date.UTC(2024, 0, 31));
    expect(parseTimestampText('2023-02-29T00:00:00Z')).toBeUndefined();
    expect(parseTimestampText('2024-01-31T25:00:00Z')).toBeUndefined();
    expect(parseTimestampText('yesterday')).toBeUndefined();
  });

  it('reads dates as days since the epoch', () => {
    expect(parseDateText('1970-01-01')).toBe(0);
    expect(parseDateText('2024-02-29')).toBe(19782);
    expect(parseDateText('1969-12-31')).toBe(-1);
    expect(parseDateText('2024-13-01')).toBeUndefined();
  });

  it('reads CSV fields per type', () => {
    expect(fromCsvField('', false, { kind: 'string' })).toBeNull();
    expect(fromCsvField('', true, { kind: 'string' })).toBe('');
    expect(fromCsvField(' 42 ', false, { kind: 'long' })).toBe(42);
    expect(fromCsvField('NaN', false, { kind: 'double' })).toBeNaN();
    expect(fromCsvField('1706695200000', false, { kind: 'timestamp' })).toBe(1706695200000);
    expect(() => fromCsvField('1.5', false, { kind: 'long' })).toThrow('cannot read "1.5" as long');
    expect(() => fromCsvField('9007199254740993', false, { kind: 'long' })).toThrow(/safe integer range/);
  });
});

describe('paths, globs and CSV text', () => {
  it('escapes partition values as Spark does', () => {
    expect(escapePathName('a/b:c=d%e f')).toBe('a%2Fb%3Ac%3Dd%25e f');
    expect(unescapePathName(escapePathName('x/y?#[]\u0001'))).toBe('x/y?#[]\u0001');
  });

  it('turns globs into anchored expressions', () => {
    expect(globToRegExp('*.jsonl').test('a.jsonl')).toBe(true);
    expect(globToRegExp('*.jsonl').test('a.jsonl.bak')).toBe(false);
    expect(globToRegExp('data-?.{csv,tsv}').test('data-1.tsv')).toBe(true);
    expect(globToRegExp('[!a]*').test('abc')).toBe(false);
    expect(globToRegExp('[!a]*').test('bcd')).toBe(true);
    expect(() => globToRegExp('{a,b')).toThrow(/unclosed "\{"/);
  });

  it('writes CSV that reads back, nulls and empty strings apart', () => {
    const line = csvLine(['a', null, '', 'x,y', 'say "hi"', ' pad', 'multi\nline']);
    const items = readCsv(line, ',');
    expect(items).toHaveLength(1);
    const item = items[0]!;
    expect(item.ok && item.fields.map((f) => (f.text === '' && !f.quoted ? null : f.text))).toEqual([
      'a',
      null,
      '',
      'x,y',
      'say "hi"',
      ' pad',
      'multi\nline',
    ]);
  });
});

describe('file source log', () => {
  it('compacts many small chunks on open and keeps the same list', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'millrace-file-log-in-'));
    const state = await mkdtemp(path.join(tmpdir(), 'millrace-file-log-state-'));
    dirs.push(dir, state);
    const s = schema({ id: t.long });
    const ctx = {
      queryId: 'q',
      queryName: 'q',
      stateDir: state,
      clock: new ManualClock(0),
      log: silentLogger,
    };
    const src = fileSource({ path: dir, format: 'jsonl', schema: s });
    await src.open(ctx);
    let end: number | null = null;
    for (let i = 0; i < 70; i++) {
      const f = path.join(dir, `f${String(i).padStart(3, '0')}.jsonl`);
      await writeFile(f, `{"id":${i}}\n`);
      await utimes(f, 1000 + i, 1000 + i);
      end = (await src.latestOffset(end, { kind: 'default' })) as number;
    }
    expect(end).toBe(70);
    expect((await readdir(path.join(state, 'files'))).length).toBe(70);
    const all = (await src.getBatch(null, 70, { batchId: 0 })).rows;

    const again = fileSource({ path: dir, format: 'jsonl', schema: s });
    await again.open(ctx);
    expect(await readdir(path.join(state, 'files'))).toEqual(['000000000000.json']);
    expect((await again.getBatch(null, 70, { batchId: 0 })).rows).toEqual(all);
    expect(all.map((r) => r.id)).toEqual([...Array(70).keys()]);
    expect(await again.latestOffset(70, { kind: 'default' })).toBe(70);
    await expect(again.latestOffset(71, { kind: 'default' })).rejects.toThrow(/has only 70 entries/);
  });
});
