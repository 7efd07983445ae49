/**
 * Output rows → Kafka records, checked against the query's output schema once, at open().
 *
 *   columns (Spark's Kafka sink): value (string | binary, required), key (string | binary),
 *            topic (string; the `topic` option overrides it, as Spark), partition (int),
 *            headers (array<struct<key: string, value: binary | string>>)
 *   { json: true }: the whole row as one JSON object (JsonRecordEncoder), key from `keyColumn`
 */
import { type Field, JsonRecordEncoder, type Row, type Schema, typeToString } from 'millrace';
import { optionError } from '../client/errors.ts';

export interface OutRecord {
  readonly topic: string;
  /** null: the producer's partitioner picks (by key hash when there is a key). */
  readonly partition: number | null;
  readonly value: Buffer | null;
  readonly key: Buffer | string | null;
  readonly headers: { [key: string]: Buffer }[] | undefined;
}

export type JsonSinkFormat = { readonly json: true; readonly keyColumn?: string };
export type SinkFormat = 'columns' | JsonSinkFormat;

export type RecordBuilder = (row: Row) => OutRecord;

const COLUMNS = ['key', 'value', 'topic', 'partition', 'headers'] as const;

const toBuffer = (v: unknown): Buffer | null =>
  v === null || v === undefined
    ? null
    : typeof v === 'string'
      ? Buffer.from(v, 'utf8')
      : v instanceof Uint8Array
        ? Buffer.from(v.buffer, v.byteOffset, v.byteLength)
        : Buffer.from(String(v), 'utf8');

function isStringOrBinary(f: Field): boolean {
  return f.type.kind === 'string' || f.type.kind === 'binary';
}

function checkHeaders(where: string, f: Field): void {
  const ok =
    f.type.kind === 'array' &&
    f.type.element.kind === 'struct' &&
    f.type.element.fields.some((x) => x.name === 'key' && x.type.kind === 'string') &&
    f.type.element.fields.some((x) => x.name === 'value' && isStringOrBinary(x));
  if (!ok) {
    throw optionError(
      where,
      `the "headers" column must be array<struct<key: string, value: binary or string>>, it is ${typeToString(f.type)}`,
    );
  }
}

function headerList(v: unknown): { [key: string]: Buffer }[] | undefined {
  if (!Array.isArray(v) || v.length === 0) return undefined;
  const out: { [key: string]: Buffer }[] = [];
  for (const h of v as { key: string; value: unknown }[]) {
    if (h === null || typeof h !== 'object') continue;
    out.push({ [h.key]: toBuffer(h.value) ?? Buffer.alloc(0) });
  }
  return out;
}

/** Check the output schema and return the row → record function. */
export function recordBuilder(
  where: string,
  schema: Schema,
  format: SinkFormat,
  defaultTopic: string | undefined,
  onIgnored: (columns: string[]) => void = () => undefined,
): RecordBuilder {
  if (format !== 'columns') {
    if (defaultTopic === undefined) {
      throw optionError(where, 'format { json: true } needs the "topic" option: the topic to write to');
    }
    const keyColumn = format.keyColumn;
    if (keyColumn !== undefined && !schema.has(keyColumn)) {
      throw optionError(
        where,
        `"format.keyColumn" is "${keyColumn}", but the output has no such column; it has: ${schema.names.join(', ')}`,
      );
    }
    const encoder = new JsonRecordEncoder(schema);
    const topic = defaultTopic;
    return (row) => {
      const k = keyColumn === undefined ? null : row[keyColumn];
      return {
        topic,
        partition: null,
        value: Buffer.from(encoder.encode(row), 'utf8'),
        key: k === null || k === undefined ? null : k instanceof Uint8Array ? toBuffer(k) : String(k),
        headers: undefined,
      };
    };
  }

  // As Spark: other columns (e.g. offset, timestamp of rows read from Kafka) are not written.
  const ignored = schema.names.filter((n) => !(COLUMNS as readonly string[]).includes(n));
  if (ignored.length > 0) onIgnored(ignored);
  const value = schema.field('value');
  if (!value) {
    throw optionError(
      where,
      `the output needs a "value" column (string or binary); it has: ${schema.names.join(', ')}. ` +
        `Select or compute one (e.g. { key: $.word, value: $.count.cast('string') }), or use format: { json: true } to write whole rows as JSON`,
    );
  }
  if (!isStringOrBinary(value)) {
    throw optionError(
      where,
      `the "value" column must be string or binary, it is ${typeToString(value.type)}; cast it, e.g. .withColumn('value', ($) => $.value.cast('string'))`,
    );
  }
  const key = schema.field('key');
  if (key && !isStringOrBinary(key)) {
    throw optionError(
      where,
      `the "key" column must be string or binary, it is ${typeToString(key.type)}; cast it to string`,
    );
  }
  const topicCol = schema.field('topic');
  if (topicCol && topicCol.type.kind !== 'string') {
    throw optionError(where, `the "topic" column must be a string, it is ${typeToString(topicCol.type)}`);
  }
  if (!topicCol && defaultTopic === undefined) {
    throw optionError(
      where,
      'say where to write: set the "topic" option, or give the output a "topic" column',
    );
  }
  const partitionCol = schema.field('partition');
  if (partitionCol && partitionCol.type.kind !== 'long') {
    throw optionError(
      where,
      `the "partition" column must be an integer, it is ${typeToString(partitionCol.type)}`,
    );
  }
  const headersCol = schema.field('headers');
  if (headersCol) checkHeaders(where, headersCol);
  const hasKey = key !== undefined;
  const hasPartition = partitionCol !== undefined;
  const hasHeaders = headersCol !== undefined;
  // As Spark: the topic option, when set, overrides the topic column.
  const fixedTopic = defaultTopic;
  return (row) => {
    let topic = fixedTopic;
    if (topic === undefined) {
      const t = row.topic;
      if (typeof t !== 'string' || t === '') {
        throw optionError(
          where,
          `a row has no topic (the "topic" column is ${JSON.stringify(t)}); set the "topic" option as a default or fill the column`,
        );
      }
      topic = t;
    }
    const p = hasPartition ? row.partition : null;
    const k = hasKey ? row.key : null;
    return {
      topic,
      partition: p === null || p === undefined ? null : (p as number),
      value: toBuffer(row.value),
      key: k === null || k === undefined ? null : typeof k === 'string' ? k : toBuffer(k),
      headers: hasHeaders ? headerList(row.headers) : undefined,
    };
  };
}
