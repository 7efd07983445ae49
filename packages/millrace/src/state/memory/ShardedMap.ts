/**
 * A string-keyed map with no size ceiling below the machine's memory.
 *
 * V8 refuses to grow one `Map` past 2^24 entries ("Map maximum size exceeded"), so one operator
 * partition's state used to stop at 16.7M keys. This map is one `Map` while it is small (no hashing,
 * the common case costs nothing extra) and splits a shard in two when it reaches `maxShardSize`
 * (extendible hashing: a directory of 2^depth slots indexed by the key's hash bits; a split moves
 * only the entries of the shard that filled up, so the pause is bounded by one shard's size however
 * large the state grows).
 *
 *   depth 0:  [ shard A ]                         one Map, no hash computed
 *   depth 1:  slot 0 → A   slot 1 → B             A split: keys with hash bit 0 set moved to B
 *   depth 2:  00 → A  01 → B  10 → C  11 → B      A split again (B still holds both its slots)
 *
 * A split copies the shard's entries into two new Maps (deleting half of a large Map in place was
 * ~10× slower: V8 shrinks and rehashes it as it empties). The old Map is left as it was, no longer
 * updated; `onSplit` listeners (an incremental snapshot iterating the shards) hear of each split.
 */

/**
 * Far below V8's 2^24 limit: a split copies one shard, and a Map's own growth rehashes it, so the
 * pause of either is bounded by this size (~0.3 s at 2^20 on a busy 2-core machine).
 */
export const DEFAULT_MAX_SHARD_SIZE = 1 << 20;

interface Shard<V> {
  map: Map<string, V>;
  /** The number of low hash bits all keys of this shard share. */
  depth: number;
  /** Split when the Map reaches this size. */
  readonly limit: number;
}

export class ShardedMap<V> {
  /** 2^depth slots; several slots may share a shard. */
  private directory: Shard<V>[];
  private depth = 0;
  private only: Map<string, V>;
  private total = 0;
  /** Splits so far. */
  splits = 0;
  private created = 0;
  /** Told of each split: `from` is replaced by `low` and `high`, which hold its entries between them. */
  readonly onSplit = new Set<(from: Map<string, V>, low: Map<string, V>, high: Map<string, V>) => void>();

  constructor(readonly maxShardSize: number = DEFAULT_MAX_SHARD_SIZE) {
    this.only = new Map();
    this.directory = [{ map: this.only, depth: 0, limit: maxShardSize }];
  }

  get size(): number {
    return this.total;
  }

  /** The distinct shards' Maps (snapshot iteration visits each once). */
  shards(): Map<string, V>[] {
    const seen = new Set<Map<string, V>>();
    for (const s of this.directory) seen.add(s.map);
    return [...seen];
  }

  private shardOf(key: string): Shard<V> {
    return this.directory[hashKey(key) & ((1 << this.depth) - 1)]!;
  }

  get(key: string): V | undefined {
    return this.depth === 0 ? this.only.get(key) : this.shardOf(key).map.get(key);
  }

  has(key: string): boolean {
    return this.depth === 0 ? this.only.has(key) : this.shardOf(key).map.has(key);
  }

  /** Set a value; returns true when the key was new. */
  set(key: string, value: V): boolean {
    const shard = this.depth === 0 ? this.directory[0]! : this.shardOf(key);
    const m = shard.map;
    const before = m.size;
    m.set(key, value);
    if (m.size === before) return false;
    this.total++;
    if (m.size >= shard.limit) this.split(shard);
    return true;
  }

  delete(key: string): boolean {
    const m = this.depth === 0 ? this.only : this.shardOf(key).map;
    if (!m.delete(key)) return false;
    this.total--;
    return true;
  }

  *keys(): IterableIterator<string> {
    for (const m of this.shards()) yield* m.keys();
  }

  *entries(): IterableIterator<[string, V]> {
    for (const m of this.shards()) yield* m.entries();
  }

  /**
   * A new shard's size limit, spread over [max/2, max]: shards at one depth hold about as many keys
   * each (the hash spreads them), so with one limit they would all split in the same batch (8
   * copies of 1M entries at 8M keys: a 48 s batch on a loaded machine); spread, the splits are too.
   */
  private nextLimit(): number {
    const r = (++this.created * 0.6180339887498949) % 1;
    return Math.max(2, Math.floor(this.maxShardSize * (0.5 + 0.5 * r)));
  }

  /** Split a shard by its next hash bit into two new Maps (doubling the directory if needed). */
  private split(shard: Shard<V>): void {
    if (shard.depth === this.depth) {
      if (this.depth >= 30) return; // 2^30 shards: a Map past its limit will say so itself
      this.directory = this.directory.concat(this.directory);
      this.depth++;
    }
    const bit = 1 << shard.depth;
    const from = shard.map;
    const low = new Map<string, V>();
    const high = new Map<string, V>();
    for (const [k, v] of from) {
      if ((hashKey(k) & bit) === 0) low.set(k, v);
      else high.set(k, v);
    }
    const kept: Shard<V> = { map: low, depth: shard.depth + 1, limit: this.nextLimit() };
    const moved: Shard<V> = { map: high, depth: shard.depth + 1, limit: this.nextLimit() };
    for (let i = 0; i < this.directory.length; i++) {
      if (this.directory[i] === shard) this.directory[i] = (i & bit) !== 0 ? moved : kept;
    }
    this.splits++;
    for (const listener of this.onSplit) listener(from, low, high);
  }
}

/** FNV-1a over the UTF-16 code units, with a final mix so the low bits depend on every unit. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}
