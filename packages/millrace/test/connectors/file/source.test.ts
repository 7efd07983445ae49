import { appendFile, mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectorContext } from '../../../src/connectors/contracts.ts';
import { fileSource } from '../../../src/connectors/file/index.ts';
import { MillraceError } from '../../../src/errors/index.ts';
import { schema, t } from '../../../src/schema/index.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';

const DEFAULT = { kind: 'default' } as const;
const ALL = { kind: 'all' } as const;
const dirs: string[] = [];

async function tmp(prefix: string): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), `millrace-file-${prefix}-`));
  dirs.push(d);
  return d;
}

function context(stateDir: string): ConnectorContext {
  return { queryId: 'q1', queryName: 'q', stateDir, clock: new ManualClock(0), log: silentLogger };
}

/** Write a file with a given mtime (seconds), so listing order is deterministic. */
async function put(dir: string, name: string, text: string, mtimeSec: number): Promise<void> {
  await writeFile(path.join(dir, name), text);
  await utimes(path.join(dir, name), mtimeSec, mtimeSec);
}

afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const events = schema({ id: t.long, name: t.string.orNull(), ts: t.timestamp.orNull() });

describe('fileSource: discovery and offsets', () => {
  it('picks up new files across calls and ignores hidden, _ and temp files', async () => {
    const dir = await tmp('in');
    const src = fileSource({ path: dir, format: 'jsonl', schema: events });
    await src.open(context(await tmp('state')));
    expect(src.describe()).toBe(`FileSource[${dir}, jsonl]`);
    expect(await src.latestOffset(null, DEFAULT)).toBeNull();

    await put(
      dir,
      'a.jsonl',
      '{"id":1,"name":"x","ts":"2024-01-31T10:00:00Z"}\n{"id":2,"ts":1706695200000}\n',
      100,
    );
    await put(dir, '.hidden.jsonl', '{"id":99}\n', 100);
    await put(dir, '_SUCCESS', '', 100);
    await put(dir, 'b.jsonl.tmp', '{"id":98}\n', 100);
    await put(dir, 'c.jsonl._COPYING_', '{"id":97}\n', 100);
    const end1 = await src.latestOffset(null, DEFAULT);
    expect(end1).toBe(1);
    const b1 = await src.getBatch(null, end1!, { batchId: 0 });
    expect(b1.rows).toEqual([
      { id: 1, name: 'x', ts: Date.UTC(2024, 0, 31, 10) },
      { id: 2, name: null, ts: 1706695200000 },
    ]);
    expect(b1.metrics).toMatchObject({ filesRead: 1, malformedRecords: 0 });

    expect(await src.latestOffset(1, DEFAULT)).toBe(1); // nothing new
    await put(dir, 'd.jsonl', '{"id":3}\n', 200);
    expect(await src.latestOffset(1, DEFAULT)).toBe(2);
    expect((await src.getBatch(1, 2, { batchId: 1 })).rows).toEqual([{ id: 3, name: null, ts: null }]);
    expect(src.reportLatestOffset!()).toBe(2);
    await src.close();
  });

  it('respects maxFilesPerTrigger, oldest first, unless the limit is all', async () => {
    const dir = await tmp('in');
    for (let i = 0; i < 5; i++) await put(dir, `f${i}.jsonl`, `{"id":${i}}\n`, 1000 - i * 10); // f4 oldest
    const src = fileSource({ path: dir, format: 'jsonl', schema: events, maxFilesPerTrigger: 2 });
    await src.open(context(await tmp('state')));
    expect(await src.latestOffset(null, DEFAULT)).toBe(2);
    expect(src.reportLatestOffset!()).toBe(5);
    expect((await src.getBatch(null, 2, { batchId: 0 })).rows.map((r) => r.id)).toEqual([4, 3]);
    expect(await src.latestOffset(2, DEFAULT)).toBe(4);
    expect(await src.latestOffset(4, ALL)).toBe(5);
    expect((await src.getBatch(2, 5, { batchId: 1 })).rows.map((r) => r.id)).toEqual([2, 1, 0]);
  });

  it('latestFirst takes the newest files first', async () => {
    const dir = await tmp('in');
    for (let i = 0; i < 4; i++) await put(dir, `f${i}.jsonl`, `{"id":${i}}\n`, 1000 + i * 10); // f3 newest
    const src = fileSource({
      path: dir,
      format: 'jsonl',
      schema: events,
      maxFilesPerTrigger: 2,
      latestFirst: true,
    });
    await src.open(context(await tmp('state')));
    expect(await src.latestOffset(null, DEFAULT)).toBe(2);
    expect((await src.getBatch(null, 2, { batchId: 0 })).rows.map((r) => r.id)).toEqual([3, 2]);
  });

  it('fileNameFilter takes a glob or a RegExp', async () => {
    const dir = await tmp('in');
    await put(dir, 'a.jsonl', '{"id":1}\n', 100);
    await put(dir, 'b.json', '{"id":2}\n', 101);
    await put(dir, 'c.txt', '{"id":3}\n', 102);
    const glob = fileSource({ path: dir, format: 'jsonl', schema: events, fileNameFilter: '*.{jsonl,json}' });
    await glob.open(context(await tmp('state')));
    expect(
      (await glob.getBatch(null, (await glob.latestOffset(null, DEFAULT))!, { batchId: 0 })).rows.map(
        (r) => r.id,
      ),
    ).toEqual([1, 2]);
    const re = fileSource({ path: dir, format: 'jsonl', schema: events, fileNameFilter: /^c\./g });
    await re.open(context(await tmp('state')));
    expect(
      (await re.getBatch(null, (await re.latestOffset(null, DEFAULT))!, { batchId: 0 })).rows.map(
        (r) => r.id,
      ),
    ).toEqual([3]);
  });

  it('persists the file list: a restarted source reads the same files for the same offsets', async () => {
    const dir = await tmp('in');
    const state = await tmp('state');
    await put(dir, 'b.jsonl', '{"id":2}\n', 200);
    await put(dir, 'c.jsonl', '{"id":3}\n', 300);
    const first = fileSource({ path: dir, format: 'jsonl', schema: events, maxFilesPerTrigger: 2 });
    await first.open(context(state));
    expect(await first.latestOffset(null, DEFAULT)).toBe(2);
    const before = await first.getBatch(null, 2, { batchId: 0 });
    await first.close();

    // A file that sorts before the others appears while the query is down.
    await put(dir, 'a.jsonl', '{"id":1}\n', 100);
    const second = fileSource({ path: dir, format: 'jsonl', schema: events, maxFilesPerTrigger: 2 });
    await second.open(context(state));
    expect(await second.getBatch(null, 2, { batchId: 0 })).toEqual(before);
    expect(before.rows.map((r) => r.id)).toEqual([2, 3]);
    expect(await second.latestOffset(2, DEFAULT)).toBe(3);
    expect((await second.getBatch(2, 3, { batchId: 1 })).rows).toEqual([{ id: 1, name: null, ts: null }]);
    expect((await readdir(path.join(state, 'files'))).length).toBe(2); // one durable chunk per discovery
  });

  it('returns the same rows on replay, even if a file grows afterwards', async () => {
    const dir = await tmp('in');
    await put(dir, 'a.jsonl', '{"id":1}\n{"id":2}\n', 100);
    const src = fileSource({ path: dir, format: 'jsonl', schema: events });
    await src.open(context(await tmp('state')));
    const end = await src.latestOffset(null, DEFAULT);
    const a = await src.getBatch(null, end!, { batchId: 0 });
    await appendFile(path.join(dir, 'a.jsonl'), '{"id":3}\n');
    const b = await src.getBatch(null, end!, { batchId: 0 });
    expect(b).toEqual(a);
    expect(a.rows).toHaveLength(2);
  });

  it('fixes the target for Trigger.AvailableNow', async () => {
    const dir = await tmp('in');
    for (let i = 0; i < 3; i++) await put(dir, `f${i}.jsonl`, `{"id":${i}}\n`, 100 + i);
    const src = fileSource({ path: dir, format: 'jsonl', schema: events, maxFilesPerTrigger: 2 });
    await src.open(context(await tmp('state')));
    await src.prepareForAvailableNow!();
    await put(dir, 'late.jsonl', '{"id":9}\n', 500);
    expect(await src.latestOffset(null, DEFAULT)).toBe(2);
    expect(await src.latestOffset(2, DEFAULT)).toBe(3);
    expect(await src.latestOffset(3, DEFAULT)).toBe(3);
  });
});

describe('fileSource: parsing and bad records', () => {
  const withCorrupt = schema({
    id: t.long,
    score: t.double.orNull(),
    day: t.date.orNull(),
    _corrupt_record: t.string.orNull(),
  });
  const lines = [
    '{"id":1,"score":1.5,"day":"2024-02-29"}',
    '{"id":2,"score":"high","day":"2024-01-01"}', // bad score
    'not json',
    '',
    '{"id":4,"score":null}',
    '{"score":2}', // id missing but not nullable
  ].join('\n');

  it('permissive keeps bad rows with nulls and the raw line in the corrupt-record column', async () => {
    const dir = await tmp('in');
    await put(dir, 'a.jsonl', lines, 100);
    const src = fileSource({ path: dir, format: 'jsonl', schema: withCorrupt });
    await src.open(context(await tmp('state')));
    const b = await src.getBatch(null, (await src.latestOffset(null, DEFAULT))!, { batchId: 0 });
    // "not json" and {"score":2} would leave the non-nullable id null: dropped, not kept.
    expect(b.rows).toEqual([
      { id: 1, score: 1.5, day: 19782, _corrupt_record: null },
      { id: 2, score: null, day: 19723, _corrupt_record: '{"id":2,"score":"high","day":"2024-01-01"}' },
      { id: 4, score: null, day: null, _corrupt_record: null },
    ]);
    expect(b.malformedRows).toBe(2);
    expect(b.metrics).toMatchObject({ malformedRecords: 3 });
    // With a nullable id (as Spark's permissive reads every column), they are kept with nulls.
    const nullable = fileSource({
      path: dir,
      format: 'jsonl',
      schema: schema({
        id: t.long.orNull(),
        score: t.double.orNull(),
        day: t.date.orNull(),
        _corrupt_record: t.string.orNull(),
      }),
    });
    await nullable.open(context(await tmp('state')));
    const all = await nullable.getBatch(null, (await nullable.latestOffset(null, DEFAULT))!, { batchId: 0 });
    expect(all.rows).toContainEqual({ id: null, score: null, day: null, _corrupt_record: 'not json' });
    expect(all.rows).toContainEqual({ id: null, score: 2, day: null, _corrupt_record: null }); // valid now
    expect(all.malformedRows).toBe(0); // kept, not dropped
  });

  it('permissive without a corrupt-record column only nulls the bad fields', async () => {
    const dir = await tmp('in');
    await put(dir, 'a.jsonl', '{"id":1,"score":"x"}\n{"id":2,"score":3}\n', 100);
    const s = schema({ id: t.long, score: t.double.orNull() });
    const src = fileSource({ path: dir, format: 'jsonl', schema: s });
    await src.open(context(await tmp('state')));
    const b = await src.getBatch(null, (await src.latestOffset(null, DEFAULT))!, { batchId: 0 });
    expect(b.rows).toEqual([
      { id: 1, score: null },
      { id: 2, score: 3 },
    ]);
  });

  it('dropMalformed drops and counts bad records', async () => {
    const dir = await tmp('in');
    await put(dir, 'a.jsonl', lines, 100);
    const src = fileSource({ path: dir, format: 'jsonl', schema: withCorrupt, mode: 'dropMalformed' });
    await src.open(context(await tmp('state')));
    const b = await src.getBatch(null, (await src.latestOffset(null, DEFAULT))!, { batchId: 0 });
    expect(b.rows.map((r) => r.id)).toEqual([1, 4]);
    expect(b.malformedRows).toBe(3);
  });

  it('failFast throws MALFORMED_RECORD naming file, line and reason', async () => {
    const dir = await tmp('in');
    await put(dir, 'a.jsonl', lines, 100);
    const src = fileSource({ path: dir, format: 'jsonl', schema: withCorrupt, mode: 'failFast' });
    await src.open(context(await tmp('state')));
    const end = (await src.latestOffset(null, DEFAULT))!;
    const err = await src.getBatch(null, end, { batchId: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MillraceError);
    const me = err as MillraceError;
    expect(me.code).toBe('MALFORMED_RECORD');
    expect(me.domain).toBe('user');
    expect(me.message).toContain(path.join(dir, 'a.jsonl'));
    expect(me.message).toContain('line 2');
    expect(me.message).toContain('column "score": cannot read "high" as double');
    expect(me.context).toMatchObject({ file: path.join(dir, 'a.jsonl'), line: 2 });
  });

  it('writes malformed records to the dead-letter path, once per batch id', async () => {
    const dir = await tmp('in');
    const dead = path.join(await tmp('dead'), 'dl');
    await put(dir, 'a.jsonl', lines, 100);
    const src = fileSource({
      path: dir,
      format: 'jsonl',
      schema: withCorrupt,
      mode: 'dropMalformed',
      deadLetterPath: dead,
    });
    await src.open(context(await tmp('state')));
    const end = (await src.latestOffset(null, DEFAULT))!;
    await src.getBatch(null, end, { batchId: 7 });
    const b = await src.getBatch(null, end, { batchId: 7 }); // replay
    expect(b.malformedRows).toBe(3);
    expect(await readdir(dead)).toEqual(['batch-7.jsonl']);
    const recs = (await readFile(path.join(dead, 'batch-7.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(recs).toHaveLength(3);
    expect(recs[0]).toEqual({
      file: path.join(dir, 'a.jsonl'),
      line: 2,
      reason: 'column "score": cannot read "high" as double',
      raw: '{"id":2,"score":"high","day":"2024-01-01"}',
    });
    expect(recs[1]).toMatchObject({ line: 3, raw: 'not json' });
    expect(recs[1].reason).toMatch(/^not valid JSON/);
    expect(recs[2]).toMatchObject({
      line: 6,
      reason: 'column "id" is missing or null but the schema says it is not nullable',
    });
  });

  it('converts nested JSON values to the schema types', async () => {
    const dir = await tmp('in');
    const s = schema({
      tags: t.array(t.string),
      point: t.struct({ x: t.double, y: t.double }).orNull(),
      blob: t.binary.orNull(),
      any: t.json,
      text: t.string,
    });
    await put(
      dir,
      'a.jsonl',
      '{"tags":["a","b"],"point":{"x":1,"y":2.5},"blob":"AQID","any":{"k":[1]},"text":42}\n',
      100,
    );
    const src = fileSource({ path: dir, format: 'jsonl', schema: s });
    await src.open(context(await tmp('state')));
    const b = await src.getBatch(null, (await src.latestOffset(null, DEFAULT))!, { batchId: 0 });
    expect(b.rows).toEqual([
      {
        tags: ['a', 'b'],
        point: { x: 1, y: 2.5 },
        blob: new Uint8Array([1, 2, 3]),
        any: { k: [1] },
        text: '42',
      },
    ]);
  });
});

describe('fileSource: CSV', () => {
  const s = schema({
    id: t.long,
    name: t.string.orNull(),
    price: t.double.orNull(),
    ok: t.boolean.orNull(),
    at: t.timestamp.orNull(),
    _corrupt_record: t.string.orNull(),
  });

  it('reads a header by name and converts types; "" is an empty string, an empty field null', async () => {
    const dir = await tmp('in');
    const text =
      'ok,id,name,price,at\r\n' +
      'true,1,"Smith, J",9.5,2024-01-31 10:00:00\r\n' +
      'FALSE,2,"",,\r\n' +
      ',3,"two\nlines",1e3,2024-01-31T10:00:00.250+01:00\r\n';
    await put(dir, 'a.csv', text, 100);
    const src = fileSource({ path: dir, format: 'csv', schema: s, csv: { header: true } });
    await src.open(context(await tmp('state')));
    const b = await src.getBatch(null, (await src.latestOffset(null, DEFAULT))!, { batchId: 0 });
    expect(b.rows).toEqual([
      { id: 1, name: 'Smith, J', price: 9.5, ok: true, at: Date.UTC(2024, 0, 31, 10), _corrupt_record: null },
      { id: 2, name: '', price: null, ok: false, at: null, _corrupt_record: null },
      {
        id: 3,
        name: 'two\nlines',
        price: 1000,
        ok: null,
        at: Date.UTC(2024, 0, 31, 9, 0, 0, 250),
        _corrupt_record: null,
      },
    ]);
  });

  it('flags wrong field counts, bad values and broken quotes, and keeps reading', async () => {
    const dir = await tmp('in');
    const text = ['1;a;1.0;true;0', '2;b', '3;"bad"x;2;true;0', 'x;c;3;maybe;0', '5;e;5;false;0'].join('\n');
    await put(dir, 'a.csv', text, 100);
    const src = fileSource({ path: dir, format: 'csv', schema: s, csv: { delimiter: ';' } });
    await src.open(context(await tmp('state')));
    const b = await src.getBatch(null, (await src.latestOffset(null, DEFAULT))!, { batchId: 0 });
    // Rows 3 and 4 would leave the non-nullable id null: dropped (counted) instead of kept.
    expect(b.rows.map((r) => [r.id, r._corrupt_record])).toEqual([
      [1, null],
      [2, '2;b'],
      [5, null],
    ]);
    expect(b.malformedRows).toBe(2);
    expect(b.rows[1]).toMatchObject({ name: 'b', price: null });

    const ff = fileSource({ path: dir, format: 'csv', schema: s, csv: { delimiter: ';' }, mode: 'failFast' });
    await ff.open(context(await tmp('state')));
    const end = (await ff.latestOffset(null, DEFAULT))!;
    await expect(ff.getBatch(null, end, { batchId: 0 })).rejects.toThrow(
      /line 2: expected 5 fields but the record has 2/,
    );
  });
});

describe('fileSource: options', () => {
  const bad = (o: unknown) => () => fileSource(o as never);
  it('rejects bad options with clear errors', async () => {
    expect(bad({ format: 'jsonl', schema: events })).toThrow(/"path" must be the directory to read/);
    expect(bad({ path: '/x', format: 'xml', schema: events })).toThrow(
      /unknown format "xml"; use one of 'jsonl', 'csv'/,
    );
    expect(bad({ path: '/x', format: 'jsonl' })).toThrow(/"schema" is required/);
    expect(bad({ path: '/x', format: 'jsonl', schema: events, maxFilesPerTrigger: 0 })).toThrow(
      /"maxFilesPerTrigger" must be a whole number >= 1, got 0/,
    );
    expect(bad({ path: '/x', format: 'jsonl', schema: events, mode: 'strict' })).toThrow(
      /unknown mode "strict"/,
    );
    expect(bad({ path: '/x', format: 'jsonl', schema: events, csv: { header: true } })).toThrow(
      /apply only to format 'csv'/,
    );
    expect(bad({ path: '/x', format: 'jsonl', schema: schema({ _corrupt_record: t.long }) })).toThrow(
      /must be a nullable string/,
    );
    expect(bad({ path: '/x', format: 'jsonl', schema: events, deadLetterPath: '/x' })).toThrow(
      /must not be the input directory/,
    );
    try {
      bad({ path: '/x', format: 'jsonl', schema: events, maxFilesPerTrigger: -1 })();
    } catch (e) {
      expect(e).toBeInstanceOf(MillraceError);
      expect((e as MillraceError).code).toBe('INVALID_OPTION');
      expect((e as MillraceError).domain).toBe('user');
    }
    const missing = fileSource({ path: path.join(await tmp('in'), 'nope'), format: 'jsonl', schema: events });
    await expect(missing.open(context(await tmp('state')))).rejects.toThrow(
      /does not exist; create it or fix "path"/,
    );
  });
});
