/** Discards rows, counting them (Spark's `noop` format); for benchmarks. */
import type { Sink, SinkTaskWriter, SinkWriteResult } from '../contracts.ts';
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
    // On worker threads each task discards its own rows: nothing crosses to the driver.
    tasks: {
      writer: { module: import.meta.url, export: 'noopTaskWriter', options: null },
      async commitTasks(reports) {
        const n = reports.reduce((s, r) => s + r.rows, 0);
        rowsSeen += n;
        return { rowsWritten: n };
      },
    },
    async close() {},
  };
}

/** A worker thread's writer for noopSink: counts its task's rows. */
export function noopTaskWriter(): SinkTaskWriter {
  return {
    async write(chunks, info) {
      let rows = 0;
      for await (const c of chunks) rows += c.length;
      return { task: info.task, rows, message: null };
    },
    async close() {},
  };
}
