/**
 * A Session holds what queries share: the clock, the logger and the query
 * manager. No global state: two sessions in one process are independent.
 */
import type { Source, TableSource } from '../connectors/contracts.ts';
import { userError } from '../errors/index.ts';
import { sourceNode } from '../plan/logical.ts';
import { StreamingQueryManager } from '../execution/QueryManager.ts';
import { type Clock, systemClock } from '../util/clock.ts';
import { type Logger, silentLogger } from '../util/logger.ts';
import { Stream } from './Stream.ts';
import type { Row } from '../schema/index.ts';
import { TempViews, UserFunctions, sqlToStream } from '../sql/index.ts';

export interface SessionOptions {
  /** Default: the system clock. Tests pass a ManualClock. */
  readonly clock?: Clock;
  /** Default: silent. `jsonLogger('info')` writes structured logs to stderr. */
  readonly log?: Logger;
  /**
   * State partitions of a new checkpoint when the query does not set `partitions` (Spark's
   * `spark.sql.shuffle.partitions`). Default: the `MILLRACE_SHUFFLE_PARTITIONS` environment
   * variable, else 1. A checkpoint keeps the number it was created with.
   */
  readonly shufflePartitions?: number;
}

/** Most state partitions a query may have (each is a store opened and committed every batch). */
export const MAX_PARTITIONS = 1024;

/** A partition count from an option or the environment, or a user error that says what is allowed. */
export function checkPartitions(v: unknown, what: string): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_PARTITIONS) {
    throw userError(
      'INVALID_OPTIONS',
      `${what} must be an integer from 1 to ${MAX_PARTITIONS}, got ${JSON.stringify(v)}`,
    );
  }
  return n;
}

export class Session {
  readonly clock: Clock;
  readonly log: Logger;
  readonly streams: StreamingQueryManager;
  readonly shufflePartitions: number;
  /** The names SQL can read: `stream.createOrReplaceTempView(name)`, tables, `CREATE TEMPORARY VIEW`. */
  readonly tempViews: TempViews = new TempViews();
  /** Functions for SQL (Spark's `spark.udf`): `session.udf.register('countC', udf('countC', t.long, fn))`. */
  readonly udf: UserFunctions = new UserFunctions();

  constructor(options: SessionOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
    const env = process.env.MILLRACE_SHUFFLE_PARTITIONS;
    this.shufflePartitions =
      options.shufflePartitions !== undefined
        ? checkPartitions(options.shufflePartitions, 'createSession: shufflePartitions')
        : env !== undefined && env !== ''
          ? checkPartitions(env, 'the MILLRACE_SHUFFLE_PARTITIONS environment variable')
          : 1;
    this.streams = new StreamingQueryManager(this.log);
  }

  /** A Stream over a source: the start of every query. */
  readStream<R>(source: Source<R>): Stream<R> {
    const missing = (['name', 'schema', 'latestOffset', 'getBatch', 'open'] as const).filter(
      (k) => !(source as any)?.[k],
    );
    if (missing.length > 0) {
      throw userError(
        'INVALID_SOURCE',
        `readStream: the source is missing ${missing.join(', ')}; pass a source such as rateSource() or fileSource()`,
      );
    }
    return new Stream<R>(this, sourceNode(source));
  }

  /**
   * A stream from Spark SQL text over this session's temporary views: the same plan the typed API
   * builds (docs/guide/sql.md). Several statements may be separated by `;`: CREATE TEMPORARY VIEW
   * registers a view; the result is the last statement's stream. Errors are MillraceErrors with
   * code SQL_PARSE, SQL_ANALYSIS or SQL_UNSUPPORTED and the line and column in the message.
   */
  sql(text: string): Stream<Row> {
    return sqlToStream(this, this.tempViews, text, this.udf);
  }

  /** Name a stream, or a static table (joinable only), for SQL; replaces a view of that name. */
  createOrReplaceTempView(name: string, view: Stream<any> | TableSource<any>): void {
    if (view instanceof Stream) {
      if (view.session !== this) {
        throw userError(
          'INVALID_ARGUMENT',
          `createOrReplaceTempView("${name}"): the stream belongs to another session`,
        );
      }
      this.tempViews.set(name, { kind: 'stream', stream: view });
    } else if (
      view &&
      typeof view === 'object' &&
      'schema' in view &&
      typeof (view as TableSource<any>).name === 'string'
    ) {
      this.tempViews.set(name, { kind: 'table', table: view });
    } else {
      throw userError(
        'INVALID_ARGUMENT',
        `createOrReplaceTempView("${name}"): give a Stream or a table (staticTable(), fileTable(), …)`,
      );
    }
  }
}

export function createSession(options: SessionOptions = {}): Session {
  return new Session(options);
}
