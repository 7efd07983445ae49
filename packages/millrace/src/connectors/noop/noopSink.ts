/** Discards rows, counting them (Spark's `noop` format); for benchmarks. */
import type { Sink, SinkWriteResult } from '../contracts.ts';
import type { Row } from '../../schema/index.ts';

export function noopSink(options: { name?: string } = {}): Sink & { readonly rowsSeen: number } {
  const name = options.name ?? 'noop';
  let rowsSeen = 0;
  return {
    name,
    guarantee: 'idempotent',
    get rowsSeen() {
      return rowsSeen;
    },
    describe: () => 'NoopSink',
    async open() {},
    async addBatch(rows: readonly Row[]): Promise<SinkWriteResult> {
      rowsSeen += rows.length;
      return { rowsWritten: rows.length };
    },
    async addBatchChunks(chunks: AsyncIterable<readonly Row[]>): Promise<SinkWriteResult> {
      let n = 0;
      for await (const c of chunks) n += c.length;
      rowsSeen += n;
      return { rowsWritten: n };
    },
    async close() {},
  };
}
