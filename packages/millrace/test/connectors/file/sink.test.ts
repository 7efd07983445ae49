import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parquetMetadata } from 'hyparquet';
import { afterEach, describe, expect, it } from 'vitest';
import type { OutputMode, SinkContext } from '../../../src/connectors/contracts.ts';
import {
  fileSink,
  fileSource,
  readFileSinkManifest,
  readFileSinkOutput,
} from '../../../src/connectors/file/index.ts';
import { MillraceError } from '../../../src/errors/index.ts';
import { type Row, type Schema, schema, t } from '../../../src/schema/index.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';

const dirs: string[] = [];

async function tmp(prefix: string): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), `millrace-filesink-${prefix}-`));
  dirs.push(d);
  return d;
}

async function context(s: Schema<any>, outputMode: OutputMode = 'append'): Promise<SinkContext> {
  return {
    queryId: 'q1',
    queryName: 'q',
    stateDir: await tmp('state'),
    clock: new ManualClock(0),
    log: silentLogger,
    schema: s as Schema,
    outputMode,
  };
}

afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** Every file under dir, relative, '/'-separated, sorted. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path.join(d, e.name), r);
      else out.push(r);
    }
  };
  await walk(dir, '');
  return out.sort();
}

const all = schema({
  id: t.long,
  name: t.string.orNull(),
  score: t.double.orNull(),
  ok: t.boolean.orNull(),
  at: t.timestamp.orNull(),
  day: t.date.orNull(),
  blob: t.binary.orNull(),
  tags: t.array(t.string).orNull(),
  point: t.struct({ x: t.double, y: t.double.orNull() }).orNull(),
  extra: t.json,
});

const rows: Row[] = [
  {
    id: 1,
    name: 'plain',
    score: 1.5,
    ok: true,
    at: Date.UTC(2024, 0, 31, 10, 0, 0, 123),
    day: 19753,
    blob: new Uint8Array([0, 1, 255]),
    tags: ['a', 'b,c'],
    point: { x: 1, y: null },
    extra: { k: [1, 'two'] },
  },
  {
    id: -2,
    name: 'comma, "quote"\nnewline',
    score: -0.25,
    ok: false,
    at: 0,
    day: -1,
    blob: new Uint8Array([]),
    tags: [],
    point: { x: 0, y: 2 },
    extra: 'text',
  },
  {
    id: 3,
    name: '',
    score: null,
    ok: null,
    at: null,
    day: null,
    blob: null,
    tags: null,
    point: null,
    extra: null,
  },
];

describe('fileSink: formats round trip through readFileSinkOutput', () => {
  for (const format of ['jsonl', 'csv', 'parquet'] as const) {
    it(format, async () => {
      const out = path.join(await tmp('out'), 'table');
      const sink = fileSink({ path: out, format, ...(format === 'csv' ? { csv: { header: true } } : {}) });
      expect(sink.guarantee).toBe('idempotent');
      expect(sink.supportedOutputModes).toEqual(['append']);
      await sink.open(await context(all));
      const res = await sink.addBatch(rows, { batchId: 0, outputMode: 'append' });
      expect(res).toMatchObject({ rowsWritten: 3, metrics: { filesWritten: 1 } });
      await sink.addBatch([rows[0]!], { batchId: 1, outputMode: 'append' });
      await sink.close();
      expect(await readFileSinkOutput(out)).toEqual([...rows, rows[0]]);
      expect(await tree(out)).toEqual([
        '_millrace_manifest/0',
        '_millrace_manifest/1',
        `part-0000000000-00000.${format}`,
        `part-0000000001-00000.${format}`,
      ]);
    });
  }

  it('writes Spark-style text: ISO timestamps, YYYY-MM-DD dates, nulls left out of JSON', async () => {
    const out = await tmp('out');
    const s = schema({ at: t.timestamp, day: t.date, n: t.long.orNull() });
    const sink = fileSink({ path: out, format: 'jsonl' });
    await sink.open(await context(s));
    await sink.addBatch([{ at: Date.UTC(2024, 0, 31, 10), day: 19753, n: null }], {
      batchId: 0,
      outputMode: 'append',
    });
    expect(await readFile(path.join(out, 'part-0000000000-00000.jsonl'), 'utf8')).toBe(
      '{"at":"2024-01-31T10:00:00.000Z","day":"2024-01-31"}\n',
    );
    const manifest = await readFile(path.join(out, '_millrace_manifest', '0'), 'utf8');
    expect(manifest.split('\n')[0]).toBe('v1');
    expect(JSON.parse(manifest.split('\n')[1]!)).toMatchObject({
      batchId: 0,
      format: 'jsonl',
      files: [{ path: 'part-0000000000-00000.jsonl', rows: 1 }],
    });
  });

  it('writes parquet with typed columns (TIMESTAMP_MILLIS, DATE, INT64)', async () => {
    const out = await tmp('out');
    const s = schema({ at: t.timestamp, day: t.date, n: t.long });
    const sink = fileSink({ path: out, format: 'parquet' });
    await sink.open(await context(s));
    await sink.addBatch([{ at: 1000, day: 1, n: 2 ** 40 }], { batchId: 0, outputMode: 'append' });
    const buf = await readFile(path.join(out, 'part-0000000000-00000.parquet'));
    const meta = parquetMetadata(
      buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer,
    );
    const cols = Object.fromEntries(meta.schema.slice(1).map((e) => [e.name, [e.type, e.converted_type]]));
    expect(cols).toEqual({
      at: ['INT64', 'TIMESTAMP_MILLIS'],
      day: ['INT32', 'DATE'],
      n: ['INT64', undefined],
    });
    expect(await readFileSinkOutput(out)).toEqual([{ at: 1000, day: 1, n: 2 ** 40 }]);
  });

  it('a file source reads the jsonl and csv output back', async () => {
    const s = schema({
      id: t.long,
      name: t.string.orNull(),
      at: t.timestamp.orNull(),
      tags: t.array(t.string).orNull(),
    });
    const data = [
      { id: 1, name: 'a, "b"', at: Date.UTC(2024, 5, 1), tags: ['x'] },
      { id: 2, name: null, at: null, tags: null },
    ];
    for (const format of ['jsonl', 'csv'] as const) {
      const out = await tmp('out');
      const sink = fileSink({ path: out, format });
      await sink.open(await context(s));
      await sink.addBatch(data, { batchId: 0, outputMode: 'append' });
      const src = fileSource({ path: out, format, schema: s, mode: 'failFast' });
      await src.open({
        queryId: 'q',
        queryName: 'q',
        stateDir: await tmp('state'),
        clock: new ManualClock(0),
        log: silentLogger,
      });
      const end = await src.latestOffset(null, { kind: 'default' });
      expect((await src.getBatch(null, end!, { batchId: 0 })).rows).toEqual(data);
    }
  });
});

describe('fileSink: partitioning', () => {
  const s = schema({ day: t.date.orNull(), region: t.string.orNull(), v: t.long, at: t.timestamp.orNull() });

  it('writes Hive-style directories without the partition columns in the files', async () => {
    const out = await tmp('out');
    const sink = fileSink({ path: out, format: 'jsonl', partitionBy: ['day', 'region'] });
    expect(sink.describe()).toBe(`FileSink[${out}, jsonl, partitionBy=day,region]`);
    await sink.open(await context(s));
    const data = [
      { day: 19753, region: 'eu', v: 1, at: null },
      { day: 19753, region: 'us/west:1', v: 2, at: null },
      { day: 19753, region: 'eu', v: 3, at: null },
      { day: null, region: '', v: 4, at: null },
    ];
    await sink.addBatch(data, { batchId: 5, outputMode: 'append' });
    expect(await tree(out)).toEqual([
      '_millrace_manifest/5',
      'day=2024-01-31/region=eu/part-0000000005-00000.jsonl',
      'day=2024-01-31/region=us%2Fwest%3A1/part-0000000005-00001.jsonl',
      'day=__HIVE_DEFAULT_PARTITION__/region=__HIVE_DEFAULT_PARTITION__/part-0000000005-00002.jsonl',
    ]);
    expect(
      await readFile(path.join(out, 'day=2024-01-31/region=eu/part-0000000005-00000.jsonl'), 'utf8'),
    ).toBe('{"v":1}\n{"v":3}\n');
    const back = await readFileSinkOutput(out);
    expect(back).toEqual([
      { day: 19753, region: 'eu', v: 1, at: null },
      { day: 19753, region: 'eu', v: 3, at: null },
      { day: 19753, region: 'us/west:1', v: 2, at: null },
      { day: null, region: null, v: 4, at: null }, // empty string partition → null, as Spark
    ]);
  });

  it('formats timestamp partition values as Spark does', async () => {
    const out = await tmp('out');
    const sink = fileSink({ path: out, format: 'parquet', partitionBy: ['at'] });
    await sink.open(await context(s));
    const at = Date.UTC(2024, 0, 31, 10, 5, 0, 500);
    await sink.addBatch([{ day: 1, region: 'x', v: 1, at }], { batchId: 0, outputMode: 'append' });
    expect((await tree(out)).filter((f) => !f.startsWith('_'))).toEqual([
      'at=2024-01-31 10%3A05%3A00.500/part-0000000000-00000.parquet',
    ]);
    expect(await readFileSinkOutput(out)).toEqual([{ day: 1, region: 'x', v: 1, at }]);
  });

  it('rejects bad partition columns and output modes', async () => {
    const out = await tmp('out');
    await expect(
      fileSink({ path: out, format: 'jsonl', partitionBy: ['nope'] }).open(await context(s)),
    ).rejects.toThrow(/partition column "nope" is not in the output; it has: day, region, v, at/);
    await expect(
      fileSink({ path: out, format: 'jsonl', partitionBy: ['day', 'region', 'v', 'at'] }).open(
        await context(s),
      ),
    ).rejects.toThrow(/cannot use all columns/);
    await expect(
      fileSink({ path: out, format: 'jsonl', partitionBy: ['tags'] }).open(
        await context(schema({ tags: t.array(t.string), v: t.long })),
      ),
    ).rejects.toThrow(/cannot partition by "tags" of type array/);
    await expect(fileSink({ path: out, format: 'jsonl' }).open(await context(s, 'complete'))).rejects.toThrow(
      /supports only output mode 'append', got 'complete'/,
    );
    expect(() => fileSink({ path: out, format: 'xml' as never })).toThrow(
      /unknown format "xml"; use one of 'jsonl', 'csv', 'parquet'/,
    );
    expect(() => fileSink({ path: '', format: 'jsonl' })).toThrow(/"path" must be the output directory/);
    expect(() => fileSink({ path: out, format: 'jsonl', csv: { header: true } })).toThrow(
      /apply only to format 'csv'/,
    );
    expect(() => fileSink({ path: out, format: 'jsonl', partitionBy: ['a', 'a'] })).toThrow(
      /names column "a" twice/,
    );
  });
});

describe('fileSink: exactly-once through the manifest', () => {
  const s = schema({ id: t.long });

  it('skips a replayed batch id', async () => {
    const out = await tmp('out');
    const sink = fileSink({ path: out, format: 'jsonl' });
    await sink.open(await context(s));
    expect(await sink.addBatch([{ id: 1 }, { id: 2 }], { batchId: 0, outputMode: 'append' })).toMatchObject({
      rowsWritten: 2,
    });
    expect(await sink.addBatch([{ id: 1 }, { id: 2 }], { batchId: 0, outputMode: 'append' })).toMatchObject({
      rowsWritten: 0,
    });
    // …also after a restart.
    const again = fileSink({ path: out, format: 'jsonl' });
    await again.open(await context(s));
    expect(await again.addBatch([{ id: 1 }, { id: 2 }], { batchId: 0, outputMode: 'append' })).toMatchObject({
      rowsWritten: 0,
    });
    expect(await readFileSinkOutput(out)).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('an empty batch writes no data file but commits a manifest entry', async () => {
    const out = await tmp('out');
    const sink = fileSink({ path: out, format: 'parquet' });
    await sink.open(await context(s));
    expect(await sink.addBatch([], { batchId: 0, outputMode: 'append' })).toMatchObject({ rowsWritten: 0 });
    expect(await tree(out)).toEqual(['_millrace_manifest/0']);
    expect((await readFileSinkManifest(out))[0]).toMatchObject({ batchId: 0, files: [] });
    expect(await readFileSinkOutput(out)).toEqual([]);
  });

  it('ignores leftovers of a crashed batch when reading and removes them on open', async () => {
    const out = await tmp('out');
    const sink = fileSink({ path: out, format: 'jsonl', partitionBy: ['p'] });
    const ps = schema({ p: t.string, id: t.long });
    await sink.open(await context(ps));
    await sink.addBatch([{ p: 'a', id: 1 }], { batchId: 0, outputMode: 'append' });
    // Batch 1 crashed: a temp file and a renamed data file, but no manifest entry.
    await writeFile(path.join(out, 'p=a', '.part-0000000001-00000.jsonl.tmp'), '{"id":9');
    await mkdir(path.join(out, 'p=b'));
    await writeFile(path.join(out, 'p=b', 'part-0000000001-00000.jsonl'), '{"id":8}\n');
    await writeFile(path.join(out, '_millrace_manifest', '.1.123.456.tmp'), 'v1\n{');
    expect(await readFileSinkOutput(out)).toEqual([{ p: 'a', id: 1 }]);

    const restarted = fileSink({ path: out, format: 'jsonl', partitionBy: ['p'] });
    await restarted.open(await context(ps));
    expect(await tree(out)).toEqual(['_millrace_manifest/0', 'p=a/part-0000000000-00000.jsonl']);
    await restarted.addBatch([{ p: 'c', id: 2 }], { batchId: 1, outputMode: 'append' });
    expect(await readFileSinkOutput(out)).toEqual([
      { p: 'a', id: 1 },
      { p: 'c', id: 2 },
    ]);
  });

  it('reports values that do not match the schema as user errors', async () => {
    const out = await tmp('out');
    const sink = fileSink({ path: out, format: 'parquet' });
    await sink.open(await context(s));
    const err = await sink
      .addBatch([{ id: 'seven' }], { batchId: 0, outputMode: 'append' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MillraceError);
    expect((err as MillraceError).code).toBe('SINK_BAD_VALUE');
    expect((err as MillraceError).message).toContain(
      'column "id": value "seven" does not match the column type long',
    );
  });
});
