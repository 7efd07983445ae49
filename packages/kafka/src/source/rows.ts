/**
 * Kafka records → rows. Three formats:
 *
 *   'bytes'  (default) Spark's schema: key, value (binary), topic, partition, offset,
 *            timestamp, timestampType [, headers]
 *   'string' the same with key and value decoded as UTF-8 text
 *   { json } the value parsed as one JSON object into the given schema's columns (Spark's
 *            from_json, fused into the read), with permissive / dropMalformed / failFast for bad
 *            records, optionally followed by metadata columns _topic, _partition, _offset,
 *            _timestamp, _key [, _headers]
 */
import type { Message } from '@confluentinc/kafka-javascript';
import { type Field, JsonRecordDecoder, type ParseMode, Schema, type Simplify, schema, t } from 'millrace';
import { optionError } from '../client/errors.ts';

export interface KafkaHeader {
  readonly key: string;
  readonly value: Uint8Array | null;
}

/** A record as Spark's Kafka source gives it (format 'bytes'). */
export type KafkaRow = {
  key: Uint8Array | null;
  value: Uint8Array | null;
  topic: string;
  partition: number;
  offset: number;
  /** Epoch milliseconds (Millrace timestamps). */
  timestamp: number;
  /** 0 = CreateTime; -1 = the record has no timestamp (see README: LogAppendTime is not told apart). */
  timestampType: number;
};

/** Format 'string': key and value as UTF-8 text. */
export type KafkaStringRow = Simplify<
  Omit<KafkaRow, 'key' | 'value'> & { key: string | null; value: string | null }
>;

/** The `headers` column (includeHeaders): null when the record has none, as Spark. */
export type KafkaHeadersColumn = { headers: KafkaHeader[] | null };

/** Metadata columns added after the JSON columns with `includeMetadata: true`. */
export type KafkaMetadataColumns = {
  _topic: string;
  _partition: number;
  _offset: number;
  _timestamp: number;
  /** The record key as UTF-8 text. */
  _key: string | null;
};

export interface JsonFormat<R> {
  /** The columns of the JSON object in each record value. */
  readonly json: Schema<R>;
  /** Bad records: 'permissive' (default, as Spark), 'dropMalformed' or 'failFast'. */
  readonly mode?: ParseMode;
  /** Permissive mode: the string column (in `json`) that receives the raw text of a bad record. Default `_corrupt_record`. */
  readonly corruptColumn?: string;
  /** Add _topic, _partition, _offset, _timestamp, _key after the JSON columns. */
  readonly includeMetadata?: boolean;
}

export type KafkaFormat = 'bytes' | 'string' | JsonFormat<any>;

/** The row type of a source with format F and includeHeaders H. */
export type KafkaSourceRow<F, H> =
  F extends JsonFormat<infer R>
    ? Simplify<
        R &
          (F extends { includeMetadata: true } ? KafkaMetadataColumns : unknown) &
          (H extends true ? { _headers: KafkaHeader[] | null } : unknown)
      >
    : Simplify<
        (F extends 'string' ? KafkaStringRow : KafkaRow) & (H extends true ? KafkaHeadersColumn : unknown)
      >;

const headersSpec = t.array(t.struct({ key: t.string, value: t.binary.orNull() })).orNull();

export const kafkaBytesSchema = schema({
  key: t.binary.orNull(),
  value: t.binary.orNull(),
  topic: t.string,
  partition: t.int,
  offset: t.long,
  timestamp: t.timestamp,
  timestampType: t.int,
});

export const kafkaStringSchema = schema({
  key: t.string.orNull(),
  value: t.string.orNull(),
  topic: t.string,
  partition: t.int,
  offset: t.long,
  timestamp: t.timestamp,
  timestampType: t.int,
});

const metadataSchema = schema({
  _topic: t.string,
  _partition: t.int,
  _offset: t.long,
  _timestamp: t.timestamp,
  _key: t.string.orNull(),
});

const headerField = (name: string): Field => ({ name, type: headersSpec.dataType, nullable: true });

/** Turns records into rows; `decode` appends the row (if any) to `out` and says whether the record was malformed. */
export interface RowDecoder<R> {
  readonly schema: Schema<R>;
  readonly mode: ParseMode | null;
  decode(m: Message, out: R[]): boolean;
}

function headersOf(m: Message): KafkaHeader[] | null {
  const hs = m.headers;
  if (!hs || hs.length === 0) return null;
  const out: KafkaHeader[] = [];
  for (const h of hs) {
    for (const k of Object.keys(h)) {
      const v = h[k];
      out.push({
        key: k,
        value: v === undefined || v === null ? null : typeof v === 'string' ? Buffer.from(v) : v,
      });
    }
  }
  return out;
}

const timestampOf = (m: Message): number => (typeof m.timestamp === 'number' ? m.timestamp : -1);
const keyBytes = (m: Message): Uint8Array | null =>
  m.key === null || m.key === undefined ? null : typeof m.key === 'string' ? Buffer.from(m.key) : m.key;
const keyText = (m: Message): string | null =>
  m.key === null || m.key === undefined ? null : typeof m.key === 'string' ? m.key : m.key.toString('utf8');

function withHeaders(base: Schema<any>, includeHeaders: boolean, name: string): Schema<any> {
  return includeHeaders ? new Schema([...base.fields, headerField(name)]) : base;
}

/** Spark's Kafka row (key, value, topic, partition, offset, timestamp[, headers]) with key and value converted. */
function metadataDecoder(
  base: Schema<any>,
  includeHeaders: boolean,
  key: (m: Message) => unknown,
  value: (m: Message) => unknown,
): RowDecoder<any> {
  return {
    schema: withHeaders(base, includeHeaders, 'headers'),
    mode: null,
    decode: (m, out) => {
      const ts = timestampOf(m);
      const row: Record<string, unknown> = {
        key: key(m),
        value: value(m),
        topic: m.topic,
        partition: m.partition,
        offset: m.offset,
        timestamp: ts,
        timestampType: ts >= 0 ? 0 : -1,
      };
      if (includeHeaders) row.headers = headersOf(m);
      out.push(row);
      return false;
    },
  };
}

export function bytesDecoder(includeHeaders: boolean): RowDecoder<any> {
  return metadataDecoder(kafkaBytesSchema, includeHeaders, keyBytes, (m) => m.value);
}

export function stringDecoder(includeHeaders: boolean): RowDecoder<any> {
  return metadataDecoder(kafkaStringSchema, includeHeaders, keyText, (m) =>
    m.value === null ? null : m.value.toString('utf8'),
  );
}

export function jsonDecoder(
  where: string,
  source: string,
  format: JsonFormat<any>,
  includeHeaders: boolean,
): RowDecoder<any> {
  if (!(format.json instanceof Schema)) {
    throw optionError(
      where,
      '"format.json" must be a schema, e.g. { json: schema({ id: t.long, name: t.string }) }',
    );
  }
  if (format.includeMetadata !== undefined && typeof format.includeMetadata !== 'boolean') {
    throw optionError(
      where,
      `"format.includeMetadata" must be true or false, got ${JSON.stringify(format.includeMetadata)}`,
    );
  }
  const meta = format.includeMetadata === true;
  const added = [
    ...(meta ? metadataSchema.fields : []),
    ...(includeHeaders ? [headerField('_headers')] : []),
  ];
  for (const f of added) {
    if (format.json.has(f.name)) {
      throw optionError(
        where,
        `the JSON schema has a column "${f.name}", which the ${f.name === '_headers' ? 'includeHeaders' : 'includeMetadata'} option adds too; rename it`,
      );
    }
  }
  if (
    format.corruptColumn !== undefined &&
    (typeof format.corruptColumn !== 'string' || format.corruptColumn === '')
  ) {
    throw optionError(
      where,
      `"format.corruptColumn" must be a column name, got ${JSON.stringify(format.corruptColumn)}`,
    );
  }
  const corruptName = format.corruptColumn ?? '_corrupt_record';
  const corruptField = format.json.field(corruptName);
  if (corruptField && !corruptField.nullable) {
    throw optionError(
      where,
      `the corrupt-record column "${corruptName}" must be nullable: declare it t.string.orNull()`,
    );
  }
  let decoder: JsonRecordDecoder<any>;
  try {
    decoder = new JsonRecordDecoder(format.json, { mode: format.mode, corruptColumn: corruptName, source });
  } catch (e) {
    throw optionError(where, `"format": ${(e as Error).message}`);
  }
  const full = added.length === 0 ? format.json : new Schema([...format.json.fields, ...added]);
  // One location function for all records (it is called only to build error messages).
  let current: Message | undefined;
  const location = () =>
    `topic "${current!.topic}" partition ${current!.partition} offset ${current!.offset}`;
  return {
    schema: full,
    mode: decoder.mode,
    decode(m, out) {
      current = m;
      const d = decoder.decode(m.value, location);
      const row = d.row as Record<string, unknown> | undefined;
      if (row !== undefined) {
        if (meta) {
          row._topic = m.topic;
          row._partition = m.partition;
          row._offset = m.offset;
          row._timestamp = timestampOf(m);
          row._key = keyText(m);
        }
        if (includeHeaders) row._headers = headersOf(m);
        out.push(row);
      }
      return d.malformedReason !== undefined;
    },
  };
}
