/** The changes of each version in the memory-snapshot crash test (child and parent share them). */
import type { MemoryStateStoreOptions } from '../../src/state/index.ts';

/** A snapshot of the ~2,000 keys takes ~20 commits (one frame of 100 per commit), over shard splits. */
export const CRASH_STORE_OPTIONS: MemoryStateStoreOptions = {
  snapshotInterval: 5,
  snapshotMinIntervalMs: 0,
  snapshotStepMs: 0,
  snapshotPace: 0,
  snapshotChunkEntries: 100,
  maxShardSize: 256,
};

/** Version v's puts (value) and deletes (undefined), in order. */
export function changesOf(v: number): [string, [number, number] | undefined][] {
  const out: [string, [number, number] | undefined][] = [];
  for (let i = 0; i < 40; i++) {
    const k = `k${(v * 7919 + i * 104_729) % 3000}`;
    out.push([k, (v + i) % 5 === 0 ? undefined : [v, i]]);
  }
  return out;
}

/** The state at version `v`. */
export function modelAt(v: number): Map<string, [number, number]> {
  const m = new Map<string, [number, number]>();
  for (let u = 1; u <= v; u++) {
    for (const [k, val] of changesOf(u)) {
      if (val === undefined) m.delete(k);
      else m.set(k, val);
    }
  }
  return m;
}
