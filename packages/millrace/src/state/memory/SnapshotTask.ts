/**
 * An incremental snapshot of one partition's state, written a bounded slice per commit instead of
 * all at once inside one batch (Spark's maintenance task, Flink's asynchronous snapshots).
 *
 *   commit N   (delta N written)  start: base = N, a live iterator over the shards
 *              step: encode frames until the time budget runs out
 *   commit N+1 (delta N+1)        step …
 *   commit W   (delta W)          step reaches the end → trailer, fsync, rename to `N-W.snapshot`
 *                                 (in the background; the batch does not wait for it)
 *
 * Steps run only inside a commit, right after the Map became the committed version and before any
 * await, so every value encoded is committed (never a batch's in-place change that may still be
 * undone). Between steps, batches change the Map: each key is captured at some version in [N, W],
 * and replaying deltas N+1.. over the file gives the exact state (see snapshotFile.ts). A Map
 * iterator stays valid across changes (it sees keys added later and skips deleted ones). A shard
 * split moves entries out of a Map: when that Map is not yet fully visited, the new shard joins the
 * list (an entry visited twice is written twice; the later frame holds the later value and wins).
 */
import type { Packr } from 'msgpackr';
import type { ShardedMap } from './ShardedMap.ts';
import { SnapshotFileWriter } from './snapshotFile.ts';

export class SnapshotTask {
  readonly writer: SnapshotFileWriter;
  private readonly shards: Map<string, unknown>[];
  private shard = 0;
  private iter: Iterator<[string, unknown]> | undefined;
  private readonly listener: (from: Map<string, unknown>, to: Map<string, unknown>) => void;
  /** Commits that ran a step of this task. */
  steps = 0;

  constructor(
    packr: Packr,
    dir: string,
    readonly base: number,
    private readonly map: ShardedMap<unknown>,
    private readonly chunkEntries: number,
  ) {
    this.writer = new SnapshotFileWriter(packr, dir, base);
    this.shards = map.shards();
    this.listener = (from, to) => {
      // Shards before `shard - 1` are fully visited; the current one (shard - 1, while `iter` is set) is not.
      const visitedUpTo = this.iter === undefined ? this.shard : this.shard - 1;
      if (this.shards.indexOf(from) >= visitedUpTo) this.shards.push(to);
    };
    map.onSplit.add(this.listener);
  }

  /** Stop listening to the map (the task is finished or abandoned). */
  detach(): void {
    this.map.onSplit.delete(this.listener);
  }

  /** Encode frames until `deadline` (performance.now()) passes or every entry is encoded; true at the end. */
  step(deadline: number): boolean {
    this.steps++;
    const chunk = this.chunkEntries;
    for (;;) {
      const flat: unknown[] = [];
      let done = false;
      while (flat.length < 2 * chunk) {
        if (this.iter === undefined) {
          if (this.shard >= this.shards.length) {
            done = true;
            break;
          }
          this.iter = this.shards[this.shard++]!.entries();
        }
        const r = this.iter.next();
        if (r.done === true) {
          this.iter = undefined;
          continue;
        }
        flat.push(r.value[0], r.value[1]);
      }
      if (flat.length > 0) this.writer.appendEntries(flat);
      if (done) {
        this.detach();
        return true;
      }
      if (performance.now() >= deadline) return false;
    }
  }
}
