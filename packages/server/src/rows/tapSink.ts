/**
 * A transparent wrapper around a query's sink that hands each written batch's
 * rows to the RowBus (for alert rules over a query). Everything else — name,
 * guarantee, output modes, describe(), open/close — is the wrapped sink's, so
 * the checkpoint and the sink's own files are unchanged. Rows are only copied
 * when someone watches this query, and only after the sink wrote them.
 */
import type { Row, Sink, SinkBatchInfo, SinkContext, SinkWriteResult } from 'millrace';
import type { RowBus } from './RowBus.ts';

export function tapSink(sink: Sink, bus: RowBus, onError: (e: unknown) => void): Sink {
  let query = { queryId: '', queryName: '' };
  const publish = (rows: readonly Row[], info: SinkBatchInfo) =>
    bus.publish(
      { ...query, sinkName: sink.name, batchId: info.batchId, outputMode: info.outputMode, rows },
      onError,
    );
  const tapped: Sink = {
    name: sink.name,
    guarantee: sink.guarantee,
    ...(sink.supportedOutputModes ? { supportedOutputModes: sink.supportedOutputModes } : {}),
    describe: () => sink.describe(),
    open: (ctx: SinkContext) => {
      query = { queryId: ctx.queryId, queryName: ctx.queryName };
      return sink.open(ctx);
    },
    close: () => sink.close(),
    addBatch: async (rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult | void> => {
      const result = await sink.addBatch(rows, info);
      if (bus.wants(query.queryName, sink.name)) publish(rows, info);
      return result;
    },
  };
  if (sink.addBatchChunks) {
    const chunked = sink.addBatchChunks.bind(sink);
    tapped.addBatchChunks = async (chunks, info) => {
      if (!bus.wants(query.queryName, sink.name)) return chunked(chunks, info);
      const seen: Row[] = [];
      async function* tee() {
        for await (const c of chunks) {
          for (const r of c) seen.push(r);
          yield c;
        }
      }
      const result = await chunked(tee(), info);
      publish(seen, info);
      return result;
    };
  }
  return tapped;
}
