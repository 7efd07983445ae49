/**
 * State stores (DESIGN.md §3): the versioned per-operator/partition contract
 * and its two implementations — in memory with delta/snapshot files, and
 * LMDB for state larger than memory.
 */
export type {
  StateStore,
  StateStoreMetrics,
  StateStoreOpenOptions,
  StateStoreProvider,
} from './StateStore.ts';
export { memoryStateStore, type MemoryStateStoreOptions } from './memory/MemoryStateStoreProvider.ts';
export { lmdbStateStore, type LmdbStateStoreOptions } from './lmdb/LmdbStateStoreProvider.ts';
