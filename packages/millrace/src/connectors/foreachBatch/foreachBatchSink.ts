/**
 * Calls a user function with each batch (Spark's foreachBatch). At-least-once:
 * after a crash the last batch may be given again with the same batch id, so
 * the function should use the id to write idempotently.
 */
import type { Sink, SinkBatchInfo, SinkWriteResult } from '../contracts.ts';
import { userError } from '../../errors/index.ts';
import type { Row } from '../../schema/index.ts';

export type ForeachBatchFunction<R> = (
  rows: readonly R[],
  batchId: number,
  info: SinkBatchInfo,
) => void | Promise<void>;

export function foreachBatchSink<R = Row>(
  fn: ForeachBatchFunction<R>,
  options: { name?: string } = {},
): Sink {
  if (typeof fn !== 'function')
    throw userError('INVALID_SINK', 'foreachBatchSink: give a function (rows, batchId) => …');
  const name = options.name ?? 'foreachBatch';
  return {
    name,
    guarantee: 'at-least-once',
    describe: () => `ForeachBatchSink[${name}]`,
    async open() {},
    async addBatch(rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult> {
      await fn(rows as readonly R[], info.batchId, info);
      return { rowsWritten: rows.length };
    },
    async close() {},
  };
}
