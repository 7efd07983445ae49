/**
 * Row formats of the log source: what one record becomes.
 *
 *   'bytes'   { key, value: binary | null, topic, partition, offset, timestamp }   (Spark's Kafka rows)
 *   'string'  the same with key and value as text
 *   { json: schema, mode?, corruptColumn?, metadata? }
 *             the value parsed as a JSON object into the schema's columns
 *             (JsonRecordDecoder: Spark's permissive / dropMalformed / failFast),
 *             then the metadata columns asked for
 *
 * Each format compiles to one `RowBuilder` that reads straight from the stored
 * record bytes (RecordView), so no intermediate record object is made.
 */
import { JsonRecordDecoder, Schema, schema, t, type Field, type ParseMode } from 'millrace';
import { optionError, quote } from '../errors.ts';
import type { RecordView } from '../log/recordFormat.ts';

export interface LogMetadata {
  readonly key: string | null;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly headers: Record<string, string> | null;
}

export type MetadataColumn = keyof LogMetadata;
const METADATA_COLUMNS: readonly MetadataColumn[] = [
  'key',
  'topic',
  'partition',
  'offset',
  'timestamp',
  'headers',
];

export interface LogJsonFormat<R, M extends MetadataColumn = never> {
  /** The columns to read from each value (a JSON object). */
  readonly json: Schema<R>;
  /** Bad records: 'permissive' (default: keep, nulls + raw text in the corrupt column), 'dropMalformed', 'failFast'. */
  readonly mode?: ParseMode;
  /** String column that receives the raw text of a malformed record in permissive mode (if the schema has it). Default `_corrupt_record`. */
  readonly corruptColumn?: string;
  /** Record metadata to add after the schema's columns (key as text), in the order key, topic, partition, offset, timestamp, headers. */
  readonly metadata?: readonly M[];
}

export type LogSourceFormat = 'bytes' | 'string' | LogJsonFormat<any, MetadataColumn>;

export interface LogBytesRow {
  key: Uint8Array | null;
  value: Uint8Array | null;
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
}

export interface LogStringRow {
  key: string | null;
  value: string | null;
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
}

/** Builds the row of one record; `undefined` = dropped (dropMalformed). */
export interface RowBuilder {
  readonly schema: Schema<any>;
  build(view: RecordView, topic: string, partition: number, offset: number): unknown;
  /** Malformed records seen (kept or dropped) and dropped, since the last `take`. */
  takeCounts(): { malformed: number; dropped: number };
}

const bytesSchema = schema({
  key: t.binary.orNull(),
  value: t.binary.orNull(),
  topic: t.string,
  partition: t.int,
  offset: t.long,
  timestamp: t.timestamp,
});
const stringSchema = schema({
  key: t.string.orNull(),
  value: t.string.orNull(),
  topic: t.string,
  partition: t.int,
  offset: t.long,
  timestamp: t.timestamp,
});
const headersField: Field = { name: 'headers', type: { kind: 'json' }, nullable: true };

const METADATA_FIELDS: Record<MetadataColumn, Field> = {
  key: { name: 'key', type: { kind: 'string' }, nullable: true },
  topic: { name: 'topic', type: { kind: 'string' }, nullable: false },
  partition: { name: 'partition', type: { kind: 'long' }, nullable: false },
  offset: { name: 'offset', type: { kind: 'long' }, nullable: false },
  timestamp: { name: 'timestamp', type: { kind: 'timestamp' }, nullable: false },
  headers: headersField,
};

const noCounts = () => ({ malformed: 0, dropped: 0 });

export function rowBuilder(format: unknown, includeHeaders: boolean, sourceName: string): RowBuilder {
  const where = `logSource ${sourceName}`;
  if (format === 'bytes' || format === undefined) {
    return {
      schema: includeHeaders ? new Schema([...bytesSchema.fields, headersField]) : bytesSchema,
      build: includeHeaders
        ? (v, topic, partition, offset) => ({
            key: v.keyBytes(),
            value: v.valueBytes(),
            topic,
            partition,
            offset,
            timestamp: v.timestamp,
            headers: v.headers(),
          })
        : (v, topic, partition, offset) => ({
            key: v.keyBytes(),
            value: v.valueBytes(),
            topic,
            partition,
            offset,
            timestamp: v.timestamp,
          }),
      takeCounts: noCounts,
    };
  }
  if (format === 'string') {
    return {
      schema: includeHeaders ? new Schema([...stringSchema.fields, headersField]) : stringSchema,
      build: includeHeaders
        ? (v, topic, partition, offset) => ({
            key: v.keyAsText(),
            value: v.valueAsText(),
            topic,
            partition,
            offset,
            timestamp: v.timestamp,
            headers: v.headers(),
          })
        : (v, topic, partition, offset) => ({
            key: v.keyAsText(),
            value: v.valueAsText(),
            topic,
            partition,
            offset,
            timestamp: v.timestamp,
          }),
      takeCounts: noCounts,
    };
  }
  if (format === null || typeof format !== 'object' || !('json' in format)) {
    throw optionError(
      where,
      `"format" must be 'bytes', 'string' or { json: schema, mode?, corruptColumn?, metadata? }, got ${quote(format)}`,
      { source: sourceName },
    );
  }
  const f = format as LogJsonFormat<Record<string, unknown>, MetadataColumn>;
  for (const k of Object.keys(f)) {
    if (!['json', 'mode', 'corruptColumn', 'metadata'].includes(k)) {
      throw optionError(where, `unknown "format" option "${k}"; use json, mode, corruptColumn, metadata`, {
        source: sourceName,
      });
    }
  }
  if (!(f.json instanceof Schema)) {
    throw optionError(where, `"format.json" must be a schema (schema({ … })), got ${quote(f.json)}`, {
      source: sourceName,
    });
  }
  if (includeHeaders) {
    throw optionError(
      where,
      `"includeHeaders" is for 'bytes' and 'string'; with json, add 'headers' to format.metadata`,
      {
        source: sourceName,
      },
    );
  }
  const meta = f.metadata ?? [];
  if (!Array.isArray(meta) || meta.some((m) => !METADATA_COLUMNS.includes(m))) {
    throw optionError(
      where,
      `"format.metadata" must list columns from ${METADATA_COLUMNS.join(', ')}, got ${quote(meta)}`,
      {
        source: sourceName,
      },
    );
  }
  for (const m of meta) {
    if (f.json.has(m)) {
      throw optionError(
        where,
        `metadata column "${m}" clashes with the schema's column "${m}"; leave it out of format.metadata or rename the schema column`,
        { source: sourceName },
      );
    }
  }
  const decoder = new JsonRecordDecoder(f.json, {
    mode: f.mode,
    corruptColumn: f.corruptColumn,
    source: sourceName,
  });
  // Metadata columns always come in METADATA_COLUMNS order, the order build() adds them in.
  const metaCols = METADATA_COLUMNS.filter((m) => meta.includes(m));
  const out = new Schema([...f.json.fields, ...metaCols.map((m) => METADATA_FIELDS[m])]);
  const wantKey = meta.includes('key');
  const wantTopic = meta.includes('topic');
  const wantPartition = meta.includes('partition');
  const wantOffset = meta.includes('offset');
  const wantTimestamp = meta.includes('timestamp');
  const wantHeaders = meta.includes('headers');
  let malformed = 0;
  let dropped = 0;
  return {
    schema: out,
    build(v, topic, partition, offset) {
      const raw = v.valueText ? v.valueAsText() : v.valueBytes();
      const d = decoder.decode(raw, () => `topic "${topic}" partition ${partition} offset ${offset}`);
      if (d.malformedReason !== undefined) malformed++;
      const row = d.row as Record<string, unknown> | undefined;
      if (row === undefined) {
        dropped++;
        return undefined;
      }
      if (wantKey) row.key = v.keyAsText();
      if (wantTopic) row.topic = topic;
      if (wantPartition) row.partition = partition;
      if (wantOffset) row.offset = offset;
      if (wantTimestamp) row.timestamp = v.timestamp;
      if (wantHeaders) row.headers = v.headers();
      return row;
    },
    takeCounts() {
      const c = { malformed, dropped };
      malformed = dropped = 0;
      return c;
    },
  };
}
