/**
 * The state store contract (docs/architecture.md). A store holds one stateful
 * operator's state for one partition, as versions:
 *
 *   batch N:  open(version = N)  ── state as committed after batch N-1
 *             get / put / delete / range   (changes are private until commit)
 *             commit()  → version N+1 is durable; returns N+1
 *             or abort() → nothing of this batch remains
 *
 * A replayed batch N opens version N again and commits N+1 again (overwriting).
 * `cleanup(minVersionToKeep)` deletes what only older versions need.
 *
 * Keys are strings (operators encode their grouping keys); values are any
 * value msgpackr can encode (plain objects, arrays, numbers, strings,
 * booleans, null, Uint8Array, Map, Set); -0 may come back as 0.
 *
 * Values are immutable once stored: `get` may return the stored object itself
 * (the memory store does), so an operator must not change what `get` returns.
 * To update a value in place, read it with `getForUpdate`, change it, and `put`
 * it back in the same batch: the store undoes the change if the batch does not
 * commit (the memory store by reloading the version from disk; LMDB's values
 * are copies anyway). This saves a deep copy of every touched value per batch.
 * One open store per operator/partition per provider: opening again supersedes
 * the earlier store. A provider is reusable after `close()` (a restarted query
 * opens it again); stores opened before `close()` are dead.
 */
export interface StateStoreMetrics {
  /** Keys in the store after this batch's changes. */
  readonly numKeys: number;
  /** Estimated memory (in-memory store) or on-disk size (LMDB) in bytes. */
  readonly memoryUsedBytes: number;
  /** Time the last commit took. */
  readonly commitTimeMs: number;
  /** Store-specific figures (snapshots written, deltas loaded, …). */
  readonly custom: Readonly<Record<string, number>>;
}

export interface StateStore {
  readonly operatorId: string;
  readonly partition: number;
  /** The version this store was opened at. */
  readonly version: number;
  get(key: string): unknown;
  /**
   * The value of `key` for changing in place; the caller must `put` it back in this batch.
   * If the batch aborts or fails, the change does not survive (see above).
   */
  getForUpdate(key: string): unknown;
  put(key: string, value: unknown): void;
  delete(key: string): void;
  /** Entries in key order (UTF-16 code unit order), optionally within [start, end) or with a prefix. */
  range(options?: {
    readonly prefix?: string;
    readonly start?: string;
    readonly end?: string;
  }): Iterable<[string, unknown]>;
  /** Make this batch's changes durable as version `version + 1`. */
  commit(): Promise<number>;
  /** Discard this batch's changes. */
  abort(): void;
  metrics(): StateStoreMetrics;
}

export interface StateStoreOpenOptions {
  /** The query's state directory (`<checkpoint>/state`). */
  readonly stateDir: string;
  readonly operatorId: string;
  readonly partition: number;
  /** The version to load; 0 = empty. */
  readonly version: number;
}

/**
 * How to make the same provider again in another thread (a worker opens its partitions' stores
 * with its own provider): the factory's name and its options, as plain data.
 */
export interface StateStoreRecipe {
  readonly factory: 'memoryStateStore' | 'lmdbStateStore';
  readonly options: Readonly<Record<string, unknown>>;
}

export interface StateStoreProvider {
  /** `memory` or `lmdb`: shown in progress and explain. */
  readonly kind: string;
  /** Present when the provider can be made again on a worker thread (the built-in ones). */
  readonly recipe?: StateStoreRecipe;
  open(options: StateStoreOpenOptions): Promise<StateStore>;
  /** Delete versions older than `minVersionToKeep` for one operator/partition. */
  cleanup(
    options: Omit<StateStoreOpenOptions, 'version'> & { readonly minVersionToKeep: number },
  ): Promise<void>;
  /** Release resources (open LMDB environments). */
  close(): Promise<void>;
}
