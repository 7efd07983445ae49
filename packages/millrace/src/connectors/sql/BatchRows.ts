import type { Row } from '../../schema/index.ts';

/** An error of the engine's chunk iterator (the plan, or a stop): passed through, never retried. */
export class UpstreamError {
  constructor(readonly inner: unknown) {}
}

/** The rows of a batch, replayable for retries: chunks already read are kept until the batch commits. */
export class BatchRows {
  private readonly kept: (readonly Row[])[] = [];
  private done = false;

  constructor(private readonly iterator: AsyncIterator<readonly Row[]> | null) {
    if (iterator === null) this.done = true;
  }

  static of(rows: readonly Row[]): BatchRows {
    const b = new BatchRows(null);
    b.kept.push(rows);
    return b;
  }

  /** Every chunk from the start: the kept ones, then more from the engine. */
  async *all(): AsyncGenerator<readonly Row[]> {
    for (let i = 0; ; i++) {
      if (i < this.kept.length) {
        yield this.kept[i]!;
        continue;
      }
      const next = await this.pull();
      if (next === null) return;
      this.kept.push(next);
      yield next;
    }
  }

  /** Consume what the engine has not handed over yet (its stateful operators update as chunks are read). */
  async drain(): Promise<void> {
    while ((await this.pull()) !== null) {
      // discard: a skipped replay writes nothing
    }
  }

  private async pull(): Promise<readonly Row[] | null> {
    if (this.done) return null;
    let r: IteratorResult<readonly Row[]>;
    try {
      r = await this.iterator!.next();
    } catch (e) {
      throw new UpstreamError(e);
    }
    if (r.done) {
      this.done = true;
      return null;
    }
    return r.value;
  }
}
