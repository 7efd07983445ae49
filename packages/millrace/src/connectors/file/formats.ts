/**
 * Encoding and decoding the data files of the file sink: JSON lines, CSV and
 * parquet. Partition columns are not in the files (they are in the path).
 */
import { parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer, type ColumnSource, type SchemaElement } from 'hyparquet-writer';
import type { DataType, Field } from '../../schema/index.ts';
import { csvLine, readCsv } from './csv.ts';
import { BadValue, fromCsvField, fromJson, quote, toCsvText, toJson } from './values.ts';
import { ownValue } from '../../util/own.ts';

export type SinkFormat = 'jsonl' | 'csv' | 'parquet';

export const EXTENSIONS: Record<SinkFormat, string> = { jsonl: 'jsonl', csv: 'csv', parquet: 'parquet' };

/** Run `fn` for column `f`, turning a BadValue into one naming the column. */
function inColumn<T>(f: Field, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof BadValue) throw new BadValue(`column "${f.name}": ${e.message}`);
    throw e;
  }
}

export function encodeRows(
  rows: readonly Record<string, unknown>[],
  fields: readonly Field[],
  format: SinkFormat,
  csvHeader: boolean,
): Uint8Array {
  switch (format) {
    case 'jsonl': {
      let out = '';
      for (const r of rows) {
        const o: Record<string, unknown> = {};
        for (const f of fields) {
          const v = inColumn(f, () => toJson(r[f.name], f.type));
          if (v !== null) o[f.name] = v; // Spark's ignoreNullFields
        }
        out += JSON.stringify(o) + '\n';
      }
      return new TextEncoder().encode(out);
    }
    case 'csv': {
      let out = csvHeader ? csvLine(fields.map((f) => f.name)) : '';
      for (const r of rows)
        out += csvLine(fields.map((f) => inColumn(f, () => toCsvText(r[f.name], f.type))));
      return new TextEncoder().encode(out);
    }
    case 'parquet':
      return encodeParquet(rows, fields);
  }
}

function parquetElement(f: Field): SchemaElement {
  const base = { name: f.name, repetition_type: 'OPTIONAL' as const };
  switch (f.type.kind) {
    case 'string':
      return { ...base, type: 'BYTE_ARRAY', converted_type: 'UTF8' };
    case 'long':
      return { ...base, type: 'INT64' };
    case 'double':
      return { ...base, type: 'DOUBLE' };
    case 'boolean':
      return { ...base, type: 'BOOLEAN' };
    case 'timestamp':
      return { ...base, type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' };
    case 'date':
      return { ...base, type: 'INT32', converted_type: 'DATE' };
    case 'binary':
      return { ...base, type: 'BYTE_ARRAY' };
    default:
      // array, struct, json, null: JSON text (see the report on nested types).
      return { ...base, type: 'BYTE_ARRAY', converted_type: 'JSON' };
  }
}

function wrong(v: unknown, t: DataType): never {
  throw new BadValue(`value ${quote(v)} does not match the column type ${t.kind}`);
}

function toParquetValue(v: unknown, t: DataType): unknown {
  if (v === null || v === undefined) return null;
  switch (t.kind) {
    case 'string':
      return typeof v === 'string' ? v : wrong(v, t);
    case 'long':
      if (typeof v === 'bigint') return v;
      return typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : wrong(v, t);
    case 'double':
      return typeof v === 'number' ? v : wrong(v, t);
    case 'boolean':
      return typeof v === 'boolean' ? v : wrong(v, t);
    case 'timestamp': {
      const ms = v instanceof Date ? v.getTime() : v;
      return typeof ms === 'number' && Number.isFinite(ms) ? BigInt(Math.trunc(ms)) : wrong(v, t);
    }
    case 'date':
      return typeof v === 'number' && Number.isInteger(v) ? v : wrong(v, t);
    case 'binary':
      return v instanceof Uint8Array ? v : wrong(v, t);
    default:
      return toJson(v, t);
  }
}

function encodeParquet(rows: readonly Record<string, unknown>[], fields: readonly Field[]): Uint8Array {
  const columnData: ColumnSource[] = fields.map((f) => ({
    name: f.name,
    data: inColumn(f, () => rows.map((r) => toParquetValue(r[f.name], f.type))),
  }));
  const schema: SchemaElement[] = [
    { name: 'root', num_children: fields.length },
    ...fields.map(parquetElement),
  ];
  return new Uint8Array(parquetWriteBuffer({ columnData, schema }));
}

// ---------------------------------------------------------------------------
// Decoding (readFileSinkOutput)

export async function decodeRows(
  bytes: Uint8Array,
  fields: readonly Field[],
  format: SinkFormat,
  csvHeader: boolean,
): Promise<Record<string, unknown>[]> {
  switch (format) {
    case 'jsonl': {
      const text = new TextDecoder().decode(bytes);
      const out: Record<string, unknown>[] = [];
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        const o = JSON.parse(line) as Record<string, unknown>;
        const r: Record<string, unknown> = {};
        for (const f of fields) r[f.name] = inColumn(f, () => fromJson(ownValue(o, f.name), f.type));
        out.push(r);
      }
      return out;
    }
    case 'csv': {
      const items = readCsv(new TextDecoder().decode(bytes), ',');
      const out: Record<string, unknown>[] = [];
      for (const item of items.slice(csvHeader ? 1 : 0)) {
        if (!item.ok) throw new BadValue(`line ${item.line}: ${item.reason}`);
        const r: Record<string, unknown> = {};
        fields.forEach((f, i) => {
          const cell = item.fields[i];
          r[f.name] =
            cell === undefined ? null : inColumn(f, () => fromCsvField(cell.text, cell.quoted, f.type));
        });
        out.push(r);
      }
      return out;
    }
    case 'parquet': {
      const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
      const objs = await parquetReadObjects({
        file,
        utf8: false,
        parsers: {
          timestampFromMilliseconds: (ms: bigint) => Number(ms),
          dateFromDays: (days: number) => days,
        },
      });
      return objs.map((o) => {
        const r: Record<string, unknown> = {};
        for (const f of fields) r[f.name] = fromParquetValue(ownValue(o, f.name), f.type);
        return r;
      });
    }
  }
}

function fromParquetValue(v: unknown, t: DataType): unknown {
  if (v === null || v === undefined) return null;
  switch (t.kind) {
    case 'long':
    case 'timestamp':
    case 'date':
      return typeof v === 'bigint' ? Number(v) : v;
    case 'string':
    case 'double':
    case 'boolean':
      return v;
    case 'binary':
      return v instanceof Uint8Array ? Uint8Array.from(v) : v;
    default:
      return fromJson(v, t);
  }
}
