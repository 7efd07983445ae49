/**
 * A streaming exchange: rows flow to their partition's operator chunk by chunk, while the input is
 * still being read, and the partitions' operators run side by side (interleaved on one thread, or
 * each worker's on its own). No partition's rows wait whole in memory for the others':
 *
 *   input chunks ──► split by partitionOf ──► queue[0] ──► operator[0] ──┐
 *                    (bounded queues: the       queue[1] ──► operator[1] ──┼──► output (as produced)
 *                     reader waits for the      …                          │
 *                     slowest consumer)         queue[P-1] ► operator[P-1] ┘
 *
 * Why: a barrier (read everything, split, then run each partition) kept a whole batch's rows alive
 * until its partition ran; they outlived the young generation, and promoting them cost more than the
 * query (Nexmark q11 inline with 2 partitions: +55% CPU, 2.5× the memory).
 *
 * Within a partition, rows keep the order of the input that produced them. With rows coming from
 * several workers, the order between workers' rows is the order they arrive in (as in Spark's
 * shuffle): results that depend on row order within a batch (first/last, which duplicate a
 * dropDuplicates keeps when duplicates differ in other columns) may differ between runs.
 */
import type { Row } from '../schema/index.ts';
import type { Partitioning } from '../plan/partitioning.ts';
import type { Chunks } from './runPlan.ts';

/** Chunks a consumer has not taken yet, at most `capacity` before `push` waits. */
export class ChunkQueue implements AsyncIterable<readonly Row[]> {
  private readonly items: (readonly Row[])[] = [];
  private head = 0;
  private ended = false;
  private error: { readonly e: unknown } | undefined;
  private wakeReader: (() => void) | undefined;
  private wakeWriter: (() => void) | undefined;

  constructor(private readonly capacity = 4) {}

  /** Add a chunk, waiting while the queue is full. Rejects once the queue failed. */
  async push(rows: readonly Row[]): Promise<void> {
    while (this.items.length - this.head >= this.capacity && !this.error) {
      await new Promise<void>((resolve) => (this.wakeWriter = resolve));
    }
    if (this.error) throw this.error.e;
    this.add(rows);
  }

  /** Add a chunk now, whatever the queue holds (what arrives from another thread cannot wait). */
  add(rows: readonly Row[]): void {
    this.items.push(rows);
    this.notifyReader();
  }

  end(): void {
    this.ended = true;
    this.notifyReader();
  }

  fail(e: unknown): void {
    this.error ??= { e };
    this.notifyReader();
    const w = this.wakeWriter;
    this.wakeWriter = undefined;
    w?.();
  }

  private notifyReader(): void {
    const w = this.wakeReader;
    this.wakeReader = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<readonly Row[]> {
    while (true) {
      if (this.error) throw this.error.e;
      if (this.head < this.items.length) {
        const rows = this.items[this.head]!;
        this.items[this.head++] = undefined as never;
        if (this.head > 1024 && this.head * 2 > this.items.length) {
          this.items.splice(0, this.head);
          this.head = 0;
        }
        const w = this.wakeWriter;
        this.wakeWriter = undefined;
        w?.();
        yield rows;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wakeReader = resolve));
    }
  }
}

/**
 * A chunk's rows by partition: `parts[p]` (undefined where none). `parts` is reused between chunks
 * by its caller; a single partitioning puts the chunk itself in 0.
 */
export function splitChunk(
  chunk: readonly Row[],
  partitioning: Partitioning,
  parts: (Row[] | undefined)[],
): void {
  parts.fill(undefined);
  if (partitioning.kind === 'single') {
    if (chunk.length > 0) parts[0] = chunk as Row[];
    return;
  }
  const { partitionOf } = partitioning;
  for (let i = 0; i < chunk.length; i++) {
    const row = chunk[i]!;
    const p = partitionOf(row);
    const rows = parts[p];
    if (rows === undefined) parts[p] = [row];
    else rows.push(row);
  }
}

/**
 * Read `input` into one queue per partition (`queues[p]`, undefined where no task here runs p):
 * `remote` takes the rows of partitions run elsewhere. The queues end when the input does; a
 * failure fails them all.
 */
export async function pump(
  input: Chunks,
  partitioning: Partitioning,
  queues: readonly (ChunkQueue | undefined)[],
  remote?: { add(partition: number, rows: Row[]): void; flush(): Promise<void> | void },
): Promise<void> {
  try {
    const parts: (Row[] | undefined)[] = new Array(partitioning.numPartitions);
    for await (const chunk of input) {
      splitChunk(chunk, partitioning, parts);
      for (let p = 0; p < parts.length; p++) {
        const rows = parts[p];
        if (rows === undefined) continue;
        const q = queues[p];
        if (q) await q.push(rows);
        else remote?.add(p, rows);
      }
      await remote?.flush();
    }
  } catch (e) {
    for (const q of queues) q?.fail(e);
    throw e;
  }
}

/**
 * The outputs of the partitions' operators, as they come, the operators running side by side.
 * `start` begins feeding their inputs (the pumps) once every operator is waiting for input; a
 * failure anywhere fails the whole (and `stop` is called so the feeding ends).
 */
export async function* concurrently(
  runs: readonly Chunks[],
  start: () => Promise<void>,
  stop: (e: unknown) => void,
): Chunks {
  const out = new ChunkQueue(Infinity);
  let active = runs.length + 1;
  const done = () => {
    if (--active === 0) out.end();
  };
  const failed = (e: unknown) => {
    out.fail(e);
    stop(e);
  };
  for (const run of runs) {
    void (async () => {
      try {
        for await (const c of run) out.add(c);
        done();
      } catch (e) {
        failed(e);
      }
    })();
  }
  start().then(done, failed);
  yield* out;
}
