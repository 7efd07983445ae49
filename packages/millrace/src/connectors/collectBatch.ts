/**
 * getBatch for a source that reads in chunks: the chunks gathered into one batch, with the
 * summary the chunks report once consumed (malformed rows, metrics). A source whose getBatchChunks
 * is the real reader implements getBatch with it, so both always read the same rows.
 */
import type { ChunkedBatch, SourceBatch } from './contracts.ts';

export async function collectBatch<R>(chunks: ChunkedBatch<R>): Promise<SourceBatch<R>> {
  const rows: R[] = [];
  for await (const c of chunks) for (const r of c) rows.push(r);
  return { rows, ...chunks.summary?.() };
}
