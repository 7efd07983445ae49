/**
 * What one write-ahead-log record becomes in a query, for a message source:
 *
 *   'string'  { value: text, …every metadata column of the connector }
 *   'bytes'   { value: binary, …every metadata column }
 *   { json: schema, mode?, corruptColumn?, metadata? }
 *             the payload parsed as one JSON object into the schema's columns
 *             (the engine's JsonRecordDecoder: Spark's permissive /
 *             dropMalformed / failFast), then the metadata columns asked for
 *
 * The metadata columns (routing key, MQTT topic, …) are the connector's; each
 * reads its value from the stored record (its key, headers, offset, time).
 */
import type { LogRecord } from '../log/recordFormat.ts';
import { JsonRecordDecoder, Schema, type Field, type ParseMode } from 'millrace';
import { optionError, quote } from '../errors.ts';

export interface MetadataColumn {
  readonly field: Field;
  get(record: LogRecord): unknown;
}

export interface JsonFormat<R, M extends string = never> {
  /** The columns to read from each payload (a JSON object). */
  readonly json: Schema<R>;
  /** Bad records: 'permissive' (default), 'dropMalformed' or 'failFast'. */
  readonly mode?: ParseMode;
  /** String column that receives the raw text of a malformed record in permissive mode. Default `_corrupt_record`. */
  readonly corruptColumn?: string;
  /** Metadata columns to add after the schema's columns. */
  readonly metadata?: readonly M[];
}

/** Builds the row of one record; `undefined` = dropped (dropMalformed). */
export interface RowBuilder {
  readonly schema: Schema<any>;
  readonly mode: ParseMode | undefined;
  build(record: LogRecord): unknown;
  /** Malformed records seen (kept or dropped) and dropped since the last call. */
  takeCounts(): { malformed: number; dropped: number };
}

const decoder = new TextDecoder();

function asBytes(v: LogRecord['value']): Uint8Array {
  if (v === null) return new Uint8Array(0);
  return typeof v === 'string' ? new TextEncoder().encode(v) : v;
}

function asText(v: LogRecord['value']): string {
  if (v === null) return '';
  return typeof v === 'string' ? v : decoder.decode(v);
}

export function rowBuilder(
  format: unknown,
  columns: Readonly<Record<string, MetadataColumn>>,
  where: string,
): RowBuilder {
  const names = Object.keys(columns);
  const noCounts = () => ({ malformed: 0, dropped: 0 });
  if (format === 'string' || format === 'bytes' || format === undefined) {
    const text = format !== 'bytes';
    const fields: Field[] = [
      { name: 'value', type: { kind: text ? 'string' : 'binary' }, nullable: false },
      ...names.map((n) => columns[n]!.field),
    ];
    return {
      schema: new Schema(fields),
      mode: undefined,
      build(r) {
        const row: Record<string, unknown> = { value: text ? asText(r.value) : asBytes(r.value) };
        for (const n of names) row[n] = columns[n]!.get(r);
        return row;
      },
      takeCounts: noCounts,
    };
  }
  if (format === null || typeof format !== 'object' || !('json' in format)) {
    throw optionError(
      where,
      `"format" must be 'string', 'bytes' or { json: schema, mode?, corruptColumn?, metadata? }, got ${quote(format)}`,
    );
  }
  const f = format as JsonFormat<Record<string, unknown>, string>;
  for (const k of Object.keys(f)) {
    if (!['json', 'mode', 'corruptColumn', 'metadata'].includes(k)) {
      throw optionError(where, `unknown "format" option "${k}"; use json, mode, corruptColumn, metadata`);
    }
  }
  if (!(f.json instanceof Schema)) {
    throw optionError(where, `"format.json" must be a schema (schema({ … })), got ${quote(f.json)}`);
  }
  const meta = f.metadata ?? [];
  if (!Array.isArray(meta) || meta.some((m) => !names.includes(m))) {
    throw optionError(
      where,
      `"format.metadata" must list columns from ${names.join(', ')}, got ${quote(meta)}`,
    );
  }
  for (const m of meta) {
    if (f.json.has(m)) {
      throw optionError(
        where,
        `metadata column "${m}" clashes with the schema's column "${m}"; leave it out of format.metadata or rename the schema column`,
      );
    }
  }
  const json = new JsonRecordDecoder(f.json, { mode: f.mode, corruptColumn: f.corruptColumn, source: where });
  const wanted = names.filter((n) => meta.includes(n));
  let malformed = 0;
  let dropped = 0;
  return {
    schema: new Schema([...f.json.fields, ...wanted.map((n) => columns[n]!.field)]),
    mode: json.mode,
    build(r) {
      const d = json.decode(r.value, () => `write-ahead log offset ${r.offset}`);
      if (d.malformedReason !== undefined) malformed++;
      const row = d.row as Record<string, unknown> | undefined;
      if (row === undefined) {
        dropped++;
        return undefined;
      }
      for (const n of wanted) row[n] = columns[n]!.get(r);
      return row;
    },
    takeCounts() {
      const c = { malformed, dropped };
      malformed = dropped = 0;
      return c;
    },
  };
}
