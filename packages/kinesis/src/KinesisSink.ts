/**
 * kinesisSink: writes each result row as one Kinesis record, with PutRecords.
 *
 *   row i of batch N ──► { PartitionKey: row[partitionKey],
 *                          Data: the row as JSON + "millraceId": "<query id>:<N>:<i>"
 *                                (or the bytes of the `value` column) }
 *
 * Requests carry at most 500 records and 5 MB. A PutRecords answer may accept some records and
 * refuse others (ProvisionedThroughputExceeded, InternalFailure): only the refused ones are sent
 * again, after a backoff, until all are in.
 *
 * Guarantee: at least once. Kinesis has no idempotent producer: a batch replayed after a crash
 * (or a request whose answer was lost) is written again. Readers that keep the last few thousand
 * `millraceId`s per partition key and drop a repeat get each row exactly once: the id is the same
 * on a replay because a replayed batch has the same rows in the same order.
 * Order: records of one partition key keep their order within a request unless one is refused and
 * sent again after later ones were accepted.
 */
import {
  DescribeStreamSummaryCommand,
  PutRecordsCommand,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import {
  MillraceError,
  externalError,
  userError,
  type Row,
  type Sink,
  type SinkBatchInfo,
  type SinkContext,
  type SinkWriteResult,
} from 'millrace';
import { KinesisCaller } from './caller.ts';
import { type KinesisConnectionOptions, Secrets, resolveTarget } from './connection.ts';
import { checkKnown, integerOption, optionError, streamNameOption } from './options.ts';
import { classify } from './retry.ts';

export interface KinesisSinkOptions extends KinesisConnectionOptions {
  readonly streamName: string;
  /** The column whose value (as text) is each record's partition key: which shard it goes to. */
  readonly partitionKey: string;
  /** A string or binary column sent as the record's data. Default: the whole row as JSON. */
  readonly value?: string;
  /**
   * The field added to each JSON record with its id `<query id>:<batch id>:<row>`, for readers
   * that de-duplicate; false: none. Default 'millraceId'. Not added when `value` is set.
   */
  readonly recordIdField?: string | false;
  /** Records per PutRecords request (1–500). Default 500. */
  readonly maxRecordsPerRequest?: number;
  readonly name?: string;
  /** Retries after transient failures (a request, or records refused with InternalFailure). Default 10. Throttling is always waited out. */
  readonly maxRetries?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

const KNOWN = new Set([
  'region',
  'endpoint',
  'credentials',
  'requestTimeoutMs',
  'streamName',
  'partitionKey',
  'value',
  'recordIdField',
  'maxRecordsPerRequest',
  'name',
  'maxRetries',
  'initialBackoffMs',
  'maxBackoffMs',
]);
const WHO = 'kinesisSink';
/** Kinesis' limits: a record's data and key at most 1 MiB, a request at most 5 MiB. */
const MAX_RECORD_BYTES = 1024 * 1024;
const MAX_REQUEST_BYTES = 5 * 1024 * 1024;
const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function kinesisSink(options: KinesisSinkOptions): KinesisSink {
  return new KinesisSink(options);
}

/** A row as JSON: binary as base64, bigint as a number, timestamps as epoch ms (as the engine holds them). */
function rowJson(row: Row, idField: string | false, id: string): string {
  const o = idField === false ? row : { ...row, [idField]: id };
  return JSON.stringify(o, (_k, v: unknown) =>
    v instanceof Uint8Array ? Buffer.from(v).toString('base64') : typeof v === 'bigint' ? Number(v) : v,
  );
}

export class KinesisSink implements Sink {
  readonly name: string;
  readonly guarantee = 'at-least-once' as const;
  readonly supportedOutputModes = ['append', 'update'] as const;

  private readonly streamName: string;
  private readonly partitionKey: string;
  private readonly value: string | undefined;
  private readonly idField: string | false;
  private readonly perRequest: number;
  private readonly retry: { maxRetries: number; initialBackoffMs: number; maxBackoffMs: number };
  private readonly caller: KinesisCaller;
  private ctx: SinkContext | undefined;

  constructor(options: KinesisSinkOptions) {
    if (options === null || typeof options !== 'object')
      throw optionError(
        WHO,
        "pass an options object, e.g. { streamName: 'results', partitionKey: 'userId' }",
      );
    const o = options as unknown as Record<string, unknown>;
    checkKnown(o, KNOWN, WHO);
    this.streamName = streamNameOption(options.streamName, WHO);
    const target = resolveTarget(options, WHO);
    if (typeof options.partitionKey !== 'string' || options.partitionKey === '')
      throw optionError(
        WHO,
        `"partitionKey" must name a column, got ${JSON.stringify(options.partitionKey)}`,
      );
    this.partitionKey = options.partitionKey;
    if (options.value !== undefined && (typeof options.value !== 'string' || options.value === ''))
      throw optionError(
        WHO,
        `"value" must name a string or binary column, got ${JSON.stringify(options.value)}`,
      );
    this.value = options.value;
    const idf = options.recordIdField ?? 'millraceId';
    if (idf !== false && (typeof idf !== 'string' || idf === ''))
      throw optionError(WHO, `"recordIdField" must be a field name or false, got ${JSON.stringify(idf)}`);
    this.idField = this.value === undefined ? idf : false;
    this.perRequest = integerOption(o, 'maxRecordsPerRequest', 500, 1, WHO, 500);
    this.retry = {
      maxRetries: integerOption(o, 'maxRetries', 10, 0, WHO),
      initialBackoffMs: integerOption(o, 'initialBackoffMs', 100, 0, WHO),
      maxBackoffMs: integerOption(o, 'maxBackoffMs', 5_000, 0, WHO),
    };
    const name = options.name ?? `kinesis-${this.streamName}`;
    if (typeof name !== 'string' || name.trim() === '')
      throw optionError(WHO, '"name" must be a non-empty string');
    this.name = name;
    this.caller = new KinesisCaller(
      WHO,
      name,
      'sink',
      this.streamName,
      target,
      new Secrets(target),
      this.retry,
    );
  }

  describe(): string {
    return this.caller.secrets.scrub(
      `KinesisSink[${this.caller.where}, stream ${this.streamName}, partitionKey ${this.partitionKey}]`,
    );
  }

  async open(ctx: SinkContext): Promise<void> {
    const names = ctx.schema.fields.map((f) => f.name);
    const column = (what: string, c: string) => {
      if (!names.includes(c))
        throw userError(
          'KINESIS_NO_SUCH_COLUMN',
          `kinesisSink "${this.name}": "${what}" names column "${c}", which the query's result does not have; its columns are: ${names.join(', ')}`,
          { sink: this.name },
        );
    };
    column('partitionKey', this.partitionKey);
    if (this.value !== undefined) {
      column('value', this.value);
      const kind = ctx.schema.fields.find((f) => f.name === this.value)!.type.kind;
      if (kind !== 'string' && kind !== 'binary')
        throw userError(
          'KINESIS_BAD_VALUE_COLUMN',
          `kinesisSink "${this.name}": "value" column "${this.value}" is ${kind}; it must be string or binary (leave "value" out to send rows as JSON)`,
          { sink: this.name },
        );
    }
    if (this.idField !== false && names.includes(this.idField))
      throw userError(
        'KINESIS_ID_FIELD_TAKEN',
        `kinesisSink "${this.name}": the result already has a column "${this.idField}"; set recordIdField to another name, or false`,
        { sink: this.name },
      );
    this.ctx = ctx;
    this.caller.log = ctx.log;
    this.caller.reportWaiting = ctx.reportWaiting;
    // Fail start() at once on a missing stream, bad credentials or an unreachable endpoint.
    await this.caller.run('checking the stream', undefined, (c) =>
      c.send(new DescribeStreamSummaryCommand({ StreamName: this.streamName })),
    );
  }

  /** Every row's record, checked before anything is sent: a bad row fails the batch with nothing written. */
  private entries(rows: readonly Row[], batchId: number): PutRecordsRequestEntry[] {
    const queryId = this.ctx!.queryId;
    return rows.map((row, i) => {
      const k = row[this.partitionKey];
      const key = k === null || k === undefined ? '' : String(k);
      if (key.length === 0 || key.length > 256)
        throw userError(
          'KINESIS_BAD_PARTITION_KEY',
          `kinesisSink "${this.name}": row ${i} of batch ${batchId} has partition key ${JSON.stringify(k)} in column "${this.partitionKey}"; ` +
            'Kinesis needs 1–256 characters. Filter or fill such rows (e.g. coalesce) before the sink; nothing of this batch was written',
          { sink: this.name, batch: batchId },
        );
      let data: Uint8Array;
      if (this.value === undefined)
        data = encoder.encode(rowJson(row, this.idField, `${queryId}:${batchId}:${i}`));
      else {
        const v = row[this.value];
        data = v instanceof Uint8Array ? v : encoder.encode(v === null || v === undefined ? '' : String(v));
      }
      if (data.length + Buffer.byteLength(key) > MAX_RECORD_BYTES)
        throw userError(
          'KINESIS_RECORD_TOO_LARGE',
          `kinesisSink "${this.name}": row ${i} of batch ${batchId} makes a record of ${data.length} bytes; Kinesis takes at most 1 MiB (data and partition key). Nothing of this batch was written`,
          { sink: this.name, batch: batchId },
        );
      return { Data: data, PartitionKey: key };
    });
  }

  async addBatch(rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult> {
    if (!this.ctx)
      throw new MillraceError('INTERNAL', `kinesisSink "${this.name}" used before open()`, {
        domain: 'internal',
      });
    const entries = this.entries(rows, info.batchId);
    const stats = { requests: 0, retriedRecords: 0 };
    const throttledBefore = this.caller.throttled;
    let i = 0;
    while (i < entries.length) {
      const chunk: PutRecordsRequestEntry[] = [];
      let bytes = 0;
      while (i < entries.length && chunk.length < this.perRequest) {
        const e = entries[i]!;
        const size = e.Data!.length + Buffer.byteLength(e.PartitionKey!);
        if (chunk.length > 0 && bytes + size > MAX_REQUEST_BYTES) break;
        chunk.push(e);
        bytes += size;
        i++;
      }
      await this.put(chunk, info.batchId, stats);
    }
    return {
      rowsWritten: rows.length,
      metrics: {
        recordsPut: rows.length,
        requests: stats.requests,
        retriedRecords: stats.retriedRecords,
        throttled: this.caller.throttled - throttledBefore,
      },
    };
  }

  /** One request's records, and again the ones Kinesis refused, until all are accepted. */
  private async put(
    chunk: PutRecordsRequestEntry[],
    batchId: number,
    stats: { requests: number; retriedRecords: number },
  ): Promise<void> {
    let pending = chunk;
    let transientRounds = 0;
    let throttledRounds = 0;
    let waited = false;
    while (pending.length > 0) {
      const send = pending;
      stats.requests++;
      const res = await this.caller.run(`putting ${send.length} records of batch ${batchId}`, batchId, (c) =>
        c.send(new PutRecordsCommand({ StreamName: this.streamName, Records: send })),
      );
      if (!res.FailedRecordCount) {
        // A throw below fails the query, which stops showing what it waited for.
        if (waited) this.ctx?.reportWaiting?.(null);
        return;
      }
      const refused = send.filter((_, k) => res.Records?.[k]?.ErrorCode);
      const codes = new Set(send.map((_, k) => res.Records?.[k]?.ErrorCode).filter((c): c is string => !!c));
      const kinds = [...codes].map((code) => classify({ name: code }));
      const message = [...codes].map((code) => {
        const k = send.findIndex((_, j) => res.Records?.[j]?.ErrorCode === code);
        return `${code}: ${res.Records?.[k]?.ErrorMessage ?? ''}`;
      });
      if (kinds.some((k) => k !== 'throttled' && k !== 'transient'))
        throw externalError(
          kinds.includes('auth') ? 'KINESIS_AUTH' : 'KINESIS_FAILED',
          this.caller.secrets.scrub(
            `kinesisSink "${this.name}": Kinesis refused ${refused.length} of ${send.length} records of batch ${batchId} in stream "${this.streamName}": ${message.join('; ')}. The batch is written again when the query restarts (at least once)`,
          ),
          { retryable: false, context: { sink: this.name, batch: batchId } },
        );
      const throttled = kinds.every((k) => k === 'throttled');
      if (throttled) throttledRounds++;
      else if (++transientRounds > this.retry.maxRetries)
        throw externalError(
          'KINESIS_UNAVAILABLE',
          `kinesisSink "${this.name}": ${refused.length} records of batch ${batchId} were still refused after ${this.retry.maxRetries} retries: ${message.join('; ')}. Restarting the query writes the batch again (at least once)`,
          { retryable: true, context: { sink: this.name, batch: batchId } },
        );
      const round = throttled ? throttledRounds : transientRounds;
      const delayMs = Math.min(
        this.retry.maxBackoffMs,
        this.retry.initialBackoffMs * 2 ** Math.min(round - 1, 20),
      );
      if (throttled) this.caller.throttled++;
      this.ctx?.log.warn('kinesis sink: records refused, sending them again', {
        sink: this.name,
        batch: batchId,
        refused: refused.length,
        of: send.length,
        errors: [...codes].join(', '),
        delayMs,
        waitingFor: `Kinesis write capacity of stream ${this.streamName}`,
      });
      this.ctx?.reportWaiting?.(`Kinesis write capacity of stream ${this.streamName}`);
      waited = true;
      stats.retriedRecords += refused.length;
      await sleep(delayMs);
      pending = refused;
    }
  }

  async close(): Promise<void> {
    this.caller.close();
  }
}
