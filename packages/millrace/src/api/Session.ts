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
}

export class Session {
  readonly clock: Clock;
  readonly log: Logger;
  readonly streams: StreamingQueryManager;

  constructor(options: SessionOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
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
