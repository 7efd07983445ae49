/**
 * Recovery as a pure decision: what is on disk → what the next batch is.
 * No I/O here; `Checkpoint.readState()` gathers the inputs.
 *
 *   offsets log   commit log      decision
 *   (empty)       (empty)         fresh: batch 0 from the sources' start
 *   …, N          …, N            resume: batch N+1 starts at offsets/N
 *   …, N-1, N     …, N-1          replay: re-run batch N with exactly offsets/(N-1)..offsets/N
 *   N             (N-1 missing)   corrupt: more than one uncommitted batch is impossible
 */
import { userError } from '../errors/index.ts';
import type { Offset } from '../connectors/contracts.ts';
import type { CommitEntry, OffsetEntry } from './format.ts';

export interface CheckpointState {
  /** Highest batch id with an offsets entry, and that entry. */
  readonly lastOffsets: { readonly batchId: number; readonly entry: OffsetEntry } | null;
  /** The offsets entry just before it (the start of a batch to replay). */
  readonly previousOffsets: OffsetEntry | null;
  /** Highest committed batch id and its commit entry. */
  readonly lastCommit: { readonly batchId: number; readonly entry: CommitEntry } | null;
}

export type RecoveryDecision =
  | { readonly kind: 'fresh' }
  | {
      readonly kind: 'resume';
      readonly nextBatchId: number;
      readonly startOffsets: Readonly<Record<string, Offset>>;
      readonly watermarkMs: number;
      readonly watermarks: Readonly<Record<string, number>>;
      /** The watermark the last batch ran with (a no-data batch is due if watermarkMs is past it). */
      readonly lastBatchWatermarkMs: number;
      /** The multiple-watermark policy recorded with the last batch, if any. */
      readonly watermarkPolicy?: 'min' | 'max';
    }
  | {
      readonly kind: 'replay';
      readonly batchId: number;
      readonly startOffsets: Readonly<Record<string, Offset>> | null;
      readonly entry: OffsetEntry;
      /** The watermark batch N-1 ran with (the late-events watermark of chained operators). */
      readonly previousBatchWatermarkMs: number;
    };

export function decideRecovery(s: CheckpointState, checkpointDir: string): RecoveryDecision {
  const { lastOffsets, previousOffsets, lastCommit } = s;
  if (!lastOffsets) {
    if (lastCommit) {
      throw corrupt(checkpointDir, `commits/${lastCommit.batchId} exists but there is no offsets entry`);
    }
    return { kind: 'fresh' };
  }
  const n = lastOffsets.batchId;
  if (lastCommit && lastCommit.batchId > n) {
    throw corrupt(checkpointDir, `commits/${lastCommit.batchId} is newer than the newest offsets entry ${n}`);
  }
  if (lastCommit?.batchId === n) {
    return {
      kind: 'resume',
      nextBatchId: n + 1,
      startOffsets: lastOffsets.entry.offsets,
      watermarkMs: lastCommit.entry.nextBatchWatermarkMs,
      watermarks: lastCommit.entry.watermarks,
      lastBatchWatermarkMs: lastOffsets.entry.batchWatermarkMs,
      ...(lastOffsets.entry.watermarkPolicy ? { watermarkPolicy: lastOffsets.entry.watermarkPolicy } : {}),
    };
  }
  // Batch n was planned but not committed: it must be re-run with exactly its offsets.
  if (n > 0 && lastCommit?.batchId !== n - 1) {
    throw corrupt(
      checkpointDir,
      `offsets/${n} is uncommitted but batch ${n - 1} is not committed either (last commit: ${lastCommit?.batchId ?? 'none'})`,
    );
  }
  if (n > 0 && !previousOffsets) {
    throw corrupt(checkpointDir, `offsets/${n - 1} is missing, so batch ${n} cannot be replayed`);
  }
  return {
    kind: 'replay',
    batchId: n,
    startOffsets: n > 0 ? previousOffsets!.offsets : null,
    entry: lastOffsets.entry,
    previousBatchWatermarkMs: n > 0 ? previousOffsets!.batchWatermarkMs : 0,
  };
}

function corrupt(dir: string, what: string) {
  return userError(
    'CHECKPOINT_CORRUPT',
    `checkpoint ${dir} is inconsistent: ${what}. Restore it from a backup, or move it aside to start the query over`,
  );
}
