/**
 * logSink: writes a query's output to a topic of the embedded log, exactly once.
 *
 *   batch N ──► rows → records ──► ONE LMDB transaction:
 *                                    marker "<topic>\0<queryId>/<sink>" ≥ N ?  → write nothing
 *                                    else append the records, marker := N
 *
 * The records and the marker commit together, so after a crash either both
 * are there or neither: a replayed batch N whose first run committed is a
 * no-op, and one whose first run did not is written now. Readers of the topic
 * never see a partial batch. (Kafka's transactional producer gives the same
 * guarantee with a transaction per batch; here the marker is the transaction's
 * record of which batch it was.) The query id survives restarts in the
 * checkpoint, so a new checkpoint starts a new marker.
 *
 * Formats: 'value' (default) writes the `value` column (string or binary,
 * nullable) with an optional key column; 'json' writes each whole row as a
 * JSON object (JsonRecordEncoder: what the log source's json format reads back).
 */
import * as path from 'node:path';
import {
  JsonRecordEncoder,
  type Row,
  type Schema,
  type Sink,
  type SinkBatchInfo,
  type SinkContext,
  type SinkWriteResult,
} from 'millrace';
import { check, internalError, optionError, quote, userError } from '../errors.ts';
import {
  Log,
  openLog,
  validateTopicName,
  type AppendRecord,
  type LogOptions,
  type TopicConfig,
} from '../log/Log.ts';

export interface LogSinkOptions {
  /** Unique within a query; part of the exactly-once marker. Default `log-<topic>`. */
  readonly name?: string;
  /** The log's directory (the sink opens and closes it), or… */
  readonly dir?: string;
  /** …an open Log (shared; the sink does not close it). */
  readonly log?: Log;
  /** With `dir`: options for opening the log. */
  readonly logOptions?: Omit<LogOptions, 'dir'>;
  readonly topic: string;
  /** If the topic does not exist when the query starts, create it with this configuration (default: the log's topic defaults). */
  readonly topicConfig?: TopicConfig;
  /** 'value' (default): the value column is the record; 'json': the whole row as a JSON object. */
  readonly format?: 'value' | 'json';
  /** Column holding the record value in 'value' format (default `value`). */
  readonly valueColumn?: string;
  /** Column holding the record key (string or binary). Default: `key` in 'value' format if the output has it; none in 'json'. */
  readonly keyColumn?: string;
}

const OPTIONS = [
  'name',
  'dir',
  'log',
  'logOptions',
  'topic',
  'topicConfig',
  'format',
  'valueColumn',
  'keyColumn',
];

export function logSink(options: LogSinkOptions): LogSink {
  return new LogSink(options);
}

export class LogSink implements Sink {
  readonly name: string;
  readonly guarantee = 'transactional' as const;

  private readonly topic: string;
  private readonly dirOption: string | undefined;
  private readonly logOptions: Omit<LogOptions, 'dir'> | undefined;
  private readonly topicConfig: TopicConfig | undefined;
  private readonly format: 'value' | 'json';
  private readonly valueColumnOption: string | undefined;
  private readonly keyColumnOption: string | undefined;

  private log: Log | undefined;
  private ownsLog = false;
  private owner: string | undefined;
  private toRecord: ((row: Row) => AppendRecord) | undefined;

  constructor(options: LogSinkOptions) {
    const where = 'logSink';
    const o = check.object(
      where,
      options,
      '{ dir | log, topic, format?, keyColumn? }',
    ) as unknown as LogSinkOptions;
    check.known(where, o as unknown as Record<string, unknown>, OPTIONS);
    if ((o.dir === undefined) === (o.log === undefined)) {
      throw optionError(where, 'give exactly one of "dir" (the log directory) or "log" (an open Log)');
    }
    if (o.dir !== undefined) this.dirOption = path.resolve(check.string(where, 'dir', o.dir));
    if (o.log !== undefined && !(o.log instanceof Log)) {
      throw optionError(where, `"log" must be a Log from openLog(), got ${quote(o.log)}`);
    }
    if (o.logOptions !== undefined) {
      if (o.dir === undefined)
        throw optionError(
          where,
          '"logOptions" applies only with "dir"; the Log passed as "log" is already open',
        );
      this.logOptions = check.object(`${where} logOptions`, o.logOptions, '{ fsync?, … }') as Omit<
        LogOptions,
        'dir'
      >;
    }
    this.log = o.log;
    this.topic = validateTopicName(o.topic, where);
    this.topicConfig = o.topicConfig;
    const format = o.format ?? 'value';
    if (format !== 'value' && format !== 'json') {
      throw optionError(where, `"format" must be 'value' or 'json', got ${quote(format)}`);
    }
    this.format = format;
    if (o.valueColumn !== undefined) {
      check.string(where, 'valueColumn', o.valueColumn);
      if (format === 'json')
        throw optionError(where, '"valueColumn" applies only to format \'value\'; json writes the whole row');
    }
    this.valueColumnOption = o.valueColumn;
    if (o.keyColumn !== undefined) check.string(where, 'keyColumn', o.keyColumn);
    this.keyColumnOption = o.keyColumn;
    this.name = o.name === undefined ? `log-${this.topic}` : check.string(where, 'name', o.name);
  }

  describe(): string {
    return `LogSink[${this.dirOption ?? this.log?.dir ?? '?'}, topic=${this.topic}, ${this.format}]`;
  }

  async open(ctx: SinkContext): Promise<void> {
    this.toRecord = this.compile(ctx.schema);
    if (this.dirOption !== undefined) {
      this.log = await openLog({ ...this.logOptions, dir: this.dirOption });
      this.ownsLog = true;
    } else if (this.log!.isClosed) {
      throw userError(
        'LOG_CLOSED',
        `logSink ${this.name}: the Log passed as "log" is closed; open it before starting the query`,
        {
          sink: this.name,
        },
      );
    }
    const log = this.log!;
    if (!log.topic(this.topic)) {
      if (!log.autoCreateTopics && this.topicConfig === undefined) {
        throw userError(
          'TOPIC_NOT_FOUND',
          `logSink ${this.name}: topic "${this.topic}" does not exist in ${log.dir} and the log does not create topics automatically; ` +
            `create it first, or pass "topicConfig" so the sink creates it`,
          { sink: this.name },
        );
      }
      await log.createTopic(this.topic, this.topicConfig, { ifNotExists: true });
    }
    this.owner = `${ctx.queryId}/${this.name}`;
  }

  /** Row → record, checked against the output schema once. */
  private compile(schema: Schema): (row: Row) => AppendRecord {
    const where = `logSink ${this.name}`;
    const keyColumn =
      this.keyColumnOption ?? (this.format === 'value' && schema.has('key') ? 'key' : undefined);
    if (keyColumn !== undefined) {
      const f = schema.field(keyColumn);
      if (!f) {
        throw userError(
          'UNKNOWN_COLUMN',
          `${where}: key column "${keyColumn}" is not in the output; it has: ${schema.names.join(', ')}`,
          {
            sink: this.name,
          },
        );
      }
      if (f.type.kind !== 'string' && f.type.kind !== 'binary') {
        throw userError(
          'INVALID_COLUMN_TYPE',
          `${where}: the key column "${keyColumn}" must be string or binary, it is ${f.type.kind}; cast it (e.g. .cast('string'))`,
          { sink: this.name },
        );
      }
    }
    const keyOf =
      keyColumn === undefined
        ? () => null
        : (row: Row) => (row[keyColumn] as string | Uint8Array | null) ?? null;
    if (this.format === 'json') {
      const encoder = new JsonRecordEncoder(schema);
      return (row) => ({ key: keyOf(row), value: encoder.encode(row) });
    }
    const valueColumn = this.valueColumnOption ?? 'value';
    const vf = schema.field(valueColumn);
    if (!vf) {
      throw userError(
        'UNKNOWN_COLUMN',
        `${where}: the output has no column "${valueColumn}" to write as the record value (it has: ${schema.names.join(', ')}); ` +
          `select a string or binary column as "${valueColumn}", set "valueColumn", or use format 'json' to write whole rows`,
        { sink: this.name },
      );
    }
    if (vf.type.kind !== 'string' && vf.type.kind !== 'binary') {
      throw userError(
        'INVALID_COLUMN_TYPE',
        `${where}: the value column "${valueColumn}" must be string or binary, it is ${vf.type.kind}; cast it, or use format 'json'`,
        { sink: this.name },
      );
    }
    return (row) => ({ key: keyOf(row), value: (row[valueColumn] as string | Uint8Array | null) ?? null });
  }

  async addBatch(rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult> {
    const toRecord = this.toRecord;
    if (!toRecord || !this.log || !this.owner)
      throw internalError(`logSink ${this.name} used before open()`, { sink: this.name });
    const records = rows.map(toRecord);
    return this.write(records, info);
  }

  async addBatchChunks(chunks: AsyncIterable<readonly Row[]>, info: SinkBatchInfo): Promise<SinkWriteResult> {
    const toRecord = this.toRecord;
    if (!toRecord || !this.log || !this.owner)
      throw internalError(`logSink ${this.name} used before open()`, { sink: this.name });
    // Records are small next to rows; the batch must be one transaction, so it is gathered first.
    const records: AppendRecord[] = [];
    for await (const chunk of chunks) for (const r of chunk) records.push(toRecord(r));
    return this.write(records, info);
  }

  private async write(records: AppendRecord[], info: SinkBatchInfo): Promise<SinkWriteResult> {
    const r = await this.log!.append(this.topic, records, {
      marker: { owner: this.owner!, batchId: info.batchId },
    });
    if (r.duplicate) return { rowsWritten: 0, metrics: { skippedReplay: 1 } };
    return { rowsWritten: r.count, metrics: { recordsWritten: r.count } };
  }

  async close(): Promise<void> {
    const log = this.log;
    if (this.ownsLog && log) {
      this.log = undefined;
      this.ownsLog = false;
      await log.close();
    }
    this.toRecord = undefined;
    this.owner = undefined;
  }
}
