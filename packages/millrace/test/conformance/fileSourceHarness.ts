/**
 * The fileSource harness shared by fileSource.<format>.test.ts: each append is
 * one file, written under a hidden name and renamed into the watched
 * directory (as a producer should), with increasing mtimes so the reading
 * order is defined. Outage: the directory goes away (renamed) and comes back.
 */
import { readFile, readdir, rename, utimes, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import {
  type FileSourceFormat,
  type ParseMode,
  type Row,
  type Schema,
  fileSource,
  schema,
  t,
} from 'millrace';
import type { BadRecordVariant, InputRecord, SourceHarness } from 'millrace/testing/conformance';

const T0 = Date.UTC(2025, 0, 1);
const CORRUPT = '_corrupt_record';

const strict = schema({
  id: t.long,
  name: t.string,
  score: t.double.orNull(),
  at: t.timestamp,
}) as Schema<Row>;
/** Permissive mode fills unreadable fields with null, so its columns must be nullable. */
const permissive = schema({
  id: t.long.orNull(),
  name: t.string.orNull(),
  score: t.double.orNull(),
  at: t.timestamp.orNull(),
  [CORRUPT]: t.string.orNull(),
}) as Schema<Row>;

function record(i: number): Row {
  return { id: i, name: `name ${i}, "quoted" ✓`, score: i % 3 === 0 ? null : i * 0.5, at: T0 + i * 1000 };
}

const csvField = (v: unknown): string =>
  v === null ? '' : typeof v === 'string' ? `"${v.replace(/"/g, '""')}"` : String(v);

function encode(format: FileSourceFormat, records: readonly InputRecord[]): string {
  const lines: string[] = format === 'csv' ? ['id,name,score,at'] : [];
  let bad = 0;
  for (const r of records) {
    if (r === 'malformed') {
      // Different kinds of damage, none of which a nullable schema would accept.
      const k = bad++ % 3;
      if (format === 'jsonl')
        lines.push(['{"id": 1, "name": ', '{"id":"seven","name":"x","at":0}', '[1,2,3]'][k]!);
      else lines.push(['1,"only two fields"', 'seven,"x",,2025-01-01T00:00:00Z', '2,"x",1.5,not-a-time'][k]!);
      continue;
    }
    const row = record(r);
    const at = new Date(row.at as number).toISOString();
    lines.push(
      format === 'jsonl'
        ? JSON.stringify({ ...row, at })
        : [row.id, row.name, row.score, at].map(csvField).join(','),
    );
  }
  return lines.join('\n') + '\n';
}

function modeOf(v: BadRecordVariant<Row> | undefined): ParseMode {
  if (v?.expect === 'failFast') return 'failFast';
  if (v?.expect === 'dropped' || v?.expect === 'deadLetter') return 'dropMalformed';
  return 'permissive';
}

export function fileSourceHarness(format: FileSourceFormat): SourceHarness<Row> {
  return {
    order: 'total',
    badRecords: {
      variants: [
        { name: 'dropMalformed', expect: 'dropped' },
        { name: 'dropMalformed + deadLetterPath', expect: 'deadLetter' },
        { name: 'failFast', expect: 'failFast', code: 'MALFORMED_RECORD' },
        { name: 'permissive', expect: 'kept', isMalformed: (row) => row[CORRUPT] != null },
      ],
    },
    outage: { behaviour: 'fails', code: 'SOURCE_UNAVAILABLE' },
    async create(ctx) {
      const dir = await ctx.tempDir('in');
      const deadDir = path.join(await ctx.tempDir('dead'), 'letters');
      const v = ctx.badRecords;
      const kept = v?.expect === 'kept';
      let files = 0;
      return {
        source: () =>
          fileSource({
            name: 'files',
            path: dir,
            format,
            schema: kept ? permissive : strict,
            mode: modeOf(v),
            ...(v?.expect === 'deadLetter' ? { deadLetterPath: deadDir } : {}),
            ...(format === 'csv' ? { csv: { header: true } } : {}),
          }),
        async append(records) {
          const name = `part-${String(++files).padStart(6, '0')}.${format}`;
          const tmp = path.join(dir, `.${name}.tmp`);
          await writeFile(tmp, encode(format, records));
          const mtime = T0 / 1000 + files;
          await utimes(tmp, mtime, mtime);
          await rename(tmp, path.join(dir, name));
        },
        index: (row) => row.id as number,
        expectedRow: (i) => (kept ? { ...record(i), [CORRUPT]: null } : record(i)),
        async deadLetters() {
          const names = await readdir(deadDir).catch(() => []);
          const lines: unknown[] = [];
          for (const n of names) {
            const text = await readFile(path.join(deadDir, n), 'utf8');
            for (const l of text.split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l));
          }
          return lines;
        },
        stopExternal: () => rename(dir, `${dir}.away`),
        startExternal: () => rename(`${dir}.away`, dir),
      };
    },
  };
}
