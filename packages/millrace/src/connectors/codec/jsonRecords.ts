/**
 * JSON records ⇄ rows of a schema, for message connectors (Kafka, the embedded
 * log, HTTP ingest): one message value = one JSON object = one row. The same
 * conversions as the file source's JSON lines (values.ts), with Spark's three
 * parse modes for bad records:
 *   permissive    keep the row: unreadable fields become null and the raw text
 *                 goes into the corrupt-record column (if the schema has one)
 *   dropMalformed drop the row; the caller counts it (and may dead-letter it)
 *   failFast      throw MALFORMED_RECORD naming where the record came from
 */
import { userError } from '../../errors/index.ts';
import type { Field, Schema } from '../../schema/index.ts';
import type { ParseMode } from '../file/parse.ts';
import { BadValue, fromJson, quote, toJson } from '../file/values.ts';
import { ownValue } from '../../util/own.ts';

export interface JsonRecordDecoderOptions {
  /** Default `permissive`, as Spark. */
  readonly mode?: ParseMode;
  /**
   * The string column that receives the raw text of a malformed record in
   * permissive mode. Used only when the schema has it. Default `_corrupt_record`.
   */
  readonly corruptColumn?: string;
  /** Source name for error context. */
  readonly source?: string;
}

/** Where a record came from, for messages: e.g. `topic "bids" partition 2 offset 17`. */
export type RecordLocation = () => string;

export interface DecodedRecord<R> {
  /** The row, or undefined when the record was dropped (dropMalformed). */
  readonly row: R | undefined;
  /** Set when the record was malformed (kept in permissive mode, dropped in dropMalformed). */
  readonly malformedReason?: string;
}

const MAX_RAW_IN_MESSAGE = 200;
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes message values into rows. Create one per source (it holds the
 * resolved field list); `decode` is called per record.
 */
export class JsonRecordDecoder<R> {
  readonly mode: ParseMode;
  private readonly fields: readonly Field[];
  private readonly corrupt: string | undefined;

  constructor(
    readonly schema: Schema<R>,
    options: JsonRecordDecoderOptions = {},
  ) {
    this.mode = options.mode ?? 'permissive';
    if (!['permissive', 'dropMalformed', 'failFast'].includes(this.mode)) {
      throw userError(
        'INVALID_OPTION',
        `mode must be 'permissive', 'dropMalformed' or 'failFast', got ${JSON.stringify(this.mode)}`,
        { source: options.source },
      );
    }
    const corruptName = options.corruptColumn ?? '_corrupt_record';
    const corruptField = schema.fields.find((f) => f.name === corruptName);
    if (corruptField && corruptField.type.kind !== 'string') {
      throw userError(
        'INVALID_OPTION',
        `the corrupt-record column "${corruptName}" must be a string column, it is ${corruptField.type.kind}`,
        { source: options.source },
      );
    }
    this.corrupt = corruptField ? corruptName : undefined;
    this.fields = schema.fields.filter((f) => f.name !== this.corrupt);
  }

  /** Decode one value (bytes as received, or text). `where` is only called to build messages. */
  decode(value: Uint8Array | string | null, where: RecordLocation): DecodedRecord<R> {
    const reasons: string[] = [];
    const values: Record<string, unknown> = {};
    let text = '';
    if (value === null) {
      reasons.push('the message has no value (null)');
    } else {
      try {
        text = typeof value === 'string' ? value : decoder.decode(value);
      } catch {
        reasons.push('the value is not valid UTF-8');
      }
    }
    if (reasons.length === 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        reasons.push(`not valid JSON (${(e as Error).message})`);
      }
      if (reasons.length === 0) {
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
          reasons.push(`expected a JSON object, got ${quote(parsed)}`);
        } else {
          const obj = parsed as Record<string, unknown>;
          for (const f of this.fields) {
            let v: unknown;
            try {
              v = fromJson(ownValue(obj, f.name), f.type);
            } catch (e) {
              if (!(e instanceof BadValue)) throw e;
              reasons.push(`column "${f.name}": ${e.message}`);
              v = null;
            }
            if (v === null && !f.nullable && reasons.length === 0) {
              reasons.push(`column "${f.name}" is missing or null but the schema says it is not nullable`);
            }
            values[f.name] = v;
          }
        }
      }
    }
    if (reasons.length === 0) return { row: this.build(values, null) };
    const reason = reasons.join('; ');
    if (this.mode === 'failFast') {
      const shown = text.length > MAX_RAW_IN_MESSAGE ? `${text.slice(0, MAX_RAW_IN_MESSAGE)}...` : text;
      throw userError(
        'MALFORMED_RECORD',
        `malformed record at ${where()}: ${reason}. The record is ${JSON.stringify(shown)}. ` +
          `Fix the producer, or set mode 'permissive' (keep the row, raw text in a corrupt-record column) or 'dropMalformed' (skip it)`,
        {},
      );
    }
    if (this.mode === 'dropMalformed') return { row: undefined, malformedReason: reason };
    return { row: this.build(values, text), malformedReason: reason };
  }

  private build(values: Record<string, unknown>, corrupt: string | null): R {
    const row: Record<string, unknown> = {};
    for (const f of this.schema.fields) {
      row[f.name] = f.name === this.corrupt ? corrupt : (ownValue(values, f.name) ?? null);
    }
    return row as R;
  }
}

/**
 * Encodes rows as JSON object text (timestamps ISO-8601, dates YYYY-MM-DD,
 * binary base64, null fields left out — what the decoder reads back).
 */
export class JsonRecordEncoder {
  private readonly fields: readonly Field[];
  constructor(schema: Schema<unknown>) {
    this.fields = schema.fields;
  }

  encode(row: Record<string, unknown>): string {
    const out: Record<string, unknown> = {};
    for (const f of this.fields) {
      const v = toJson(row[f.name], f.type);
      if (v !== null) out[f.name] = v;
    }
    return JSON.stringify(out);
  }
}
