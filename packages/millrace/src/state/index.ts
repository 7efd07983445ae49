/**
 * State stores (docs/architecture.md): the versioned per-operator/partition contract
 * and its two implementations — in memory with delta/snapshot files, and
 * LMDB for state larger than memory.
 */
export type {
  StateStore,
  StateStoreMetrics,
  StateStoreOpenOptions,
  StateStoreProvider,
  StateStoreRecipe,
} from './StateStore.ts';
export { memoryStateStore, type MemoryStateStoreOptions } from './memory/MemoryStateStoreProvider.ts';
export { lmdbStateStore, type LmdbStateStoreOptions } from './lmdb/LmdbStateStoreProvider.ts';

import type { StateStoreProvider, StateStoreRecipe } from './StateStore.ts';
import { memoryStateStore } from './memory/MemoryStateStoreProvider.ts';
import { lmdbStateStore } from './lmdb/LmdbStateStoreProvider.ts';

/** The provider a recipe describes (a worker thread's own, like the driver's). */
export function stateStoreFromRecipe(recipe: StateStoreRecipe): StateStoreProvider {
  return recipe.factory === 'lmdbStateStore'
    ? lmdbStateStore(recipe.options)
    : memoryStateStore(recipe.options);
}
