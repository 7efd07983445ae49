/**
 * A Session holds what queries share: the clock, the logger and the query
 * manager. No global state: two sessions in one process are independent.
 */
import type { Source } from '../connectors/contracts.ts';
import { userError } from '../errors/index.ts';
import { sourceNode } from '../plan/logical.ts';
import { StreamingQueryManager } from '../execution/QueryManager.ts';
import { type Clock, systemClock } from '../util/clock.ts';
import { type Logger, silentLogger } from '../util/logger.ts';
import { Stream } from './Stream.ts';

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
}

export function createSession(options: SessionOptions = {}): Session {
  return new Session(options);
}
