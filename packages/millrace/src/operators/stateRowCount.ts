/**
 * A count of an operator's state rows kept in the store itself (one entry), so it is versioned,
 * restored and replayed with the state it counts. Operators whose rows are not one store entry
 * each (sessions inside a key's entry; keyed state beside its timer and TTL entries) report it as
 * numRowsTotal.
 */
import type { StateStore } from '../state/StateStore.ts';

export class StateRowCount {
  private count: number;
  private readonly initial: number | undefined;

  /**
   * `key`: the counter's store key (outside every range the operator scans).
   * `recount`: counts the rows from scratch — for state written before the counter existed.
   */
  constructor(
    private readonly store: StateStore,
    private readonly key: string,
    recount: () => number,
  ) {
    this.initial = store.get(key) as number | undefined;
    this.count = this.initial ?? (store.version === 0 ? 0 : recount());
  }

  add(n: number): void {
    this.count += n;
  }

  get value(): number {
    return this.count;
  }

  /** Put the count back if it changed (or was recounted); returns it. */
  save(): number {
    if (this.count !== this.initial) this.store.put(this.key, this.count);
    return this.count;
  }
}
