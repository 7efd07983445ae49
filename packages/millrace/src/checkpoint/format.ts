/**
 * Checkpoint file formats. Every file starts with a version line, then JSON
 * lines. Unknown versions fail loudly instead of being misread.
 *
 *   metadata     v1 | {"id","name","createdAt"}
 *   offsets/N    v1 | {"batchWatermarkMs","batchTimestampMs","watermarks":{slot:ms}} | {"<source name>": offset, …}
 *   commits/N    v1 | {"nextBatchWatermarkMs","watermarks":{slot:ms}}
 *   layout       v1 | {"numPartitions"} | [{"id","kind","keySchema","valueSchema"}, …]   (layout.ts)
 */
import { userError } from '../errors/index.ts';
import type { Offset } from '../connectors/contracts.ts';

export const VERSION_LINE = 'v1';

export interface QueryMetadata {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
}

export interface OffsetEntry {
  /** The watermark batch N runs with (computed after batch N-1). */
  readonly batchWatermarkMs: number;
  /** Batch N's timestamp; a replay reuses it so processing-time results repeat. */
  readonly batchTimestampMs: number;
  /** Per watermark slot (one per withWatermark in the plan): for inspection; a restart does not read them. */
  readonly watermarks: Readonly<Record<string, number>>;
  /**
   * How several watermarks combine, as the query was first run (Spark keeps it in the offset log's
   * conf, and a restart keeps it). Absent in entries written before it was recorded: 'min'.
   */
  readonly watermarkPolicy?: 'min' | 'max';
  /** End offset of batch N per source name. */
  readonly offsets: Readonly<Record<string, Offset>>;
}

export interface CommitEntry {
  readonly nextBatchWatermarkMs: number;
  readonly watermarks: Readonly<Record<string, number>>;
}

export function encode(lines: readonly unknown[]): string {
  return [VERSION_LINE, ...lines.map((l) => JSON.stringify(l))].join('\n') + '\n';
}

export function decode(text: string, file: string, expectedLines: number): unknown[] {
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines[0] !== VERSION_LINE) {
    throw userError(
      'CHECKPOINT_UNSUPPORTED_VERSION',
      `checkpoint file ${file} starts with "${(lines[0] ?? '').slice(0, 20)}", expected "${VERSION_LINE}"; ` +
        `it was written by an incompatible Millrace version or is not a checkpoint file`,
    );
  }
  if (lines.length !== expectedLines + 1) {
    throw userError(
      'CHECKPOINT_CORRUPT',
      `checkpoint file ${file} has ${lines.length - 1} data lines, expected ${expectedLines}; ` +
        `move the checkpoint directory aside to start over, or restore it from a backup`,
    );
  }
  try {
    return lines.slice(1).map((l) => JSON.parse(l));
  } catch (e) {
    throw userError(
      'CHECKPOINT_CORRUPT',
      `checkpoint file ${file} is not valid JSON: ${(e as Error).message}`,
    );
  }
}

export function encodeOffsets(e: OffsetEntry): string {
  return encode([
    {
      batchWatermarkMs: e.batchWatermarkMs,
      batchTimestampMs: e.batchTimestampMs,
      watermarks: e.watermarks,
      ...(e.watermarkPolicy ? { watermarkPolicy: e.watermarkPolicy } : {}),
    },
    e.offsets,
  ]);
}

export function decodeOffsets(text: string, file: string): OffsetEntry {
  const [meta, offsets] = decode(text, file, 2) as [Omit<OffsetEntry, 'offsets'>, Record<string, Offset>];
  return { ...meta, offsets };
}

export function encodeCommit(e: CommitEntry): string {
  return encode([e]);
}

export function decodeCommit(text: string, file: string): CommitEntry {
  return decode(text, file, 1)[0] as CommitEntry;
}

export function encodeMetadata(m: QueryMetadata): string {
  return encode([m]);
}

export function decodeMetadata(text: string, file: string): QueryMetadata {
  return decode(text, file, 1)[0] as QueryMetadata;
}
