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
 * split replaces a Map by two and leaves the old one as it was (a committed version ≥ base, so
 * iterating it would still be correct, but would keep its memory until the snapshot ends): if the
 * old Map is not fully visited, the two new ones take its place in the list (entries already
 * visited are written again; the later frame's value, as new or newer, wins on load).
 */
import type { Packr } from 'msgpackr';
import type { ShardedMap } from './ShardedMap.ts';
import { SnapshotFileWriter } from './snapshotFile.ts';

/** Stands in for a visited shard's Map after a split replaced it. */
const VISITED = new Map<string, unknown>();

export class SnapshotTask {
  readonly writer: SnapshotFileWriter;
  private readonly shards: Map<string, unknown>[];
  private shard = 0;
  private iter: Iterator<[string, unknown]> | undefined;
  private readonly listener: (
    from: Map<string, unknown>,
    low: Map<string, unknown>,
    high: Map<string, unknown>,
  ) => void;
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
    this.listener = (from, low, high) => {
      const i = this.shards.indexOf(from);
      if (i < 0) return;
      // Visited: shards before `shard`, except the current one (shard - 1) while `iter` is set.
      const current = this.iter !== undefined && i === this.shard - 1;
      if (i < this.shard && !current) {
        this.shards[i] = VISITED; // let the old Map go
        return;
      }
      this.shards.splice(i, 1, low, high);
      if (current) {
        this.iter = undefined;
        this.shard = i;
      }
    };
    map.onSplit.add(this.listener);
  }

  /** Stop listening to the map (the task is finished or abandoned). */
  detach(): void {
    this.map.onSplit.delete(this.listener);
  }

  /**
   * Encode frames until `deadline` (performance.now()) has passed and at least `minEntries` are
   * encoded, or every entry is; true at the end.
   */
  step(deadline: number, minEntries = 0): boolean {
    this.steps++;
    const chunk = this.chunkEntries;
    let encoded = 0;
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
      encoded += flat.length / 2;
      if (done) {
        this.detach();
        return true;
      }
      if (encoded >= minEntries && performance.now() >= deadline) return false;
    }
  }
}
