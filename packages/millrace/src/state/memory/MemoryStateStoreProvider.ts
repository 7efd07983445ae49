/**
 * The in-memory state store, after Spark's HDFSBackedStateStore: the whole
 * state of one operator/partition is a map (./ShardedMap.ts: one JS Map while
 * small, split into shards past `maxShardSize` keys, as V8 caps a Map at 2^24).
 * A batch changes the map directly and logs its puts and deletes in order;
 * commit writes that log as the delta file of the new version. Every
 * `snapshotInterval` versions an incremental snapshot starts and advances by a
 * time-bounded step per commit (./SnapshotTask.ts), so no batch pays for
 * encoding the whole state. Loading version V reads the newest snapshot usable
 * for V and replays the deltas after its base. See ./files.ts and
 * ./snapshotFile.ts for the file formats.
 *
 * Why a log: with state of 10⁵–10⁶ keys, every lookup in the Map is a few cache
 * misses, and they were most of a windowed aggregation's time. A put or delete
 * now costs one Map operation and an array push. (An overlay of the batch's
 * changes, applied to the Map at commit, cost a get in two Maps and a put in
 * three.)
 *
 * The provider keeps each partition's loaded Map between batches, so opening
 * V right after committing V reads nothing. A batch that does not commit
 * (abort, failure, a newer open) must leave the Map as it was: a batch that
 * only added keys removes them again; any other drops the provider's cached
 * Map, and the next open reloads the version from disk (aborts are rare).
 *
 * Values are held by reference: `get` returns the stored object itself. Treat
 * values as immutable — to change one, `put` a new value, or take it with
 * `getForUpdate`, change it in place and `put` it back (saving a copy of every
 * touched value every batch). A value changed in place and not committed is
 * undone by the reload.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { getHeapStatistics } from 'node:v8';
import type { Packr } from 'msgpackr';
import { MillraceError, externalError, userError, type ErrorContext } from '../../errors/index.ts';
import { ensureDir, fsyncDir, writeFileAtomic } from '../../util/fs.ts';
import type {
  StateStoreRecipe,
  StateStore,
  StateStoreMetrics,
  StateStoreOpenOptions,
  StateStoreProvider,
} from '../StateStore.ts';
import {
  RangeBounds,
  checkVersion,
  estimateEntryBytes,
  checkKey,
  invalidValue,
  lowerBound,
  partitionDir,
  stateCorrupt,
  storeContext,
  OverlayStore,
  type RangeOptions,
} from '../common.ts';
import {
  createPackr,
  encodeDelta,
  fileName,
  listDir,
  readStateFile,
  type DirListing,
  type SnapshotRef,
} from './files.ts';
import { DEFAULT_MAX_SHARD_SIZE, ShardedMap } from './ShardedMap.ts';
import { SnapshotTask } from './SnapshotTask.ts';
import { readSnapshotFile } from './snapshotFile.ts';

export interface MemoryStateStoreOptions {
  /** Write a full snapshot (besides the delta) every this many versions. Default 10. */
  readonly snapshotInterval?: number;
  /**
   * …but at most once per this many ms per operator/partition (default 10,000). Like Spark's
   * maintenance interval, this bounds snapshot work by time; recovery then replays the deltas
   * since the last snapshot's start. 0: every `snapshotInterval` versions exactly.
   */
  readonly snapshotMinIntervalMs?: number;
  /**
   * The time a commit may spend encoding its step of a snapshot in progress (default 100 ms).
   * A snapshot of a large state spreads over many commits instead of stalling one batch.
   */
  readonly snapshotStepMs?: number;
  /**
   * …and at least this many entries per key the batch wrote (default 1), so a snapshot keeps pace
   * with the deltas: it finishes within about numKeys / (pace × keys written per batch) batches,
   * and a restart replays about that many deltas at most. Each entry costs about what the delta's
   * own entry costs to encode: pace 1 doubles a commit's encoding, 2 triples it (measured: at 1M
   * keys, 2 cut the events/s by half on a loaded machine). 0: the time budget alone.
   */
  readonly snapshotPace?: number;
  /** Entries per snapshot frame (default 16,384): what writing and loading hold in memory at once. */
  readonly snapshotChunkEntries?: number;
  /** Keys per map shard before it splits (default 2^22; lower only to test splitting). */
  readonly maxShardSize?: number;
  /**
   * Refuse a commit whose state (this thread's stores, estimated) would pass this fraction of the
   * V8 heap limit (default 0.8): a clear error before the process runs out of memory.
   */
  readonly maxHeapFraction?: number;
}

interface Settings {
  readonly snapshotInterval: number;
  readonly snapshotMinIntervalMs: number;
  readonly snapshotStepMs: number;
  readonly snapshotPace: number;
  readonly snapshotChunkEntries: number;
  readonly maxShardSize: number;
  readonly maxHeapFraction: number;
}

/** Encoded snapshot bytes not yet written past which a commit waits for the disk (bounded memory). */
const MAX_UNWRITTEN_SNAPSHOT_BYTES = 64 << 20;

/** Leftover temp files of this process younger than this are left alone (a write may be in flight). */
const TEMP_FILE_GRACE_MS = 10 * 60_000;

/** Sorted keys of a partition's Map, kept up to date lazily for range(). */
interface SortedIndex {
  readonly keys: readonly string[];
  /** Keys added to the Map since `keys` was built (may hold duplicates or keys removed since). */
  readonly added: string[];
  removedAny: boolean;
}

interface Partition {
  readonly dir: string;
  readonly operatorId: string;
  readonly partition: number;
  /** The version `map` holds. */
  version: number;
  readonly map: ShardedMap<unknown>;
  /** Highest version with a file on disk, as far as this provider knows. */
  latestOnDisk: number;
  dirReady: boolean;
  avgEntryBytes: number;
  sorted: SortedIndex | undefined;
  /** The store currently using `map` (at most one). */
  owner: MemoryStateStore | undefined;
  /** When this process last started a snapshot of the partition (-Infinity: not yet). */
  lastSnapshotAtMs: number;
  /** The snapshot being written a step per commit. */
  snapshot: SnapshotTask | undefined;
}

interface LoadStats {
  readonly cacheHit: number;
  readonly snapshotLoaded: number;
  readonly deltasLoaded: number;
  readonly loadTimeMs: number;
}

export function memoryStateStore(options: MemoryStateStoreOptions = {}): StateStoreProvider {
  const settings: Settings = {
    snapshotInterval: option(
      options.snapshotInterval,
      10,
      'snapshotInterval',
      'a snapshot every N versions',
      1,
      true,
    ),
    snapshotMinIntervalMs: option(
      options.snapshotMinIntervalMs,
      10_000,
      'snapshotMinIntervalMs',
      'milliseconds',
      0,
    ),
    snapshotStepMs: option(options.snapshotStepMs, 100, 'snapshotStepMs', 'milliseconds', 0),
    snapshotPace: option(options.snapshotPace, 1, 'snapshotPace', 'entries per key written', 0),
    snapshotChunkEntries: option(
      options.snapshotChunkEntries,
      16_384,
      'snapshotChunkEntries',
      'entries per frame',
      1,
      true,
    ),
    maxShardSize: option(
      options.maxShardSize,
      DEFAULT_MAX_SHARD_SIZE,
      'maxShardSize',
      'keys per shard',
      2,
      true,
    ),
    maxHeapFraction: option(
      options.maxHeapFraction,
      0.8,
      'maxHeapFraction',
      'a fraction of the heap limit',
      0,
    ),
  };
  return new MemoryStateStoreProvider(settings, { factory: 'memoryStateStore', options: { ...options } });
}

function option(
  value: number | undefined,
  fallback: number,
  name: string,
  unit: string,
  min: number,
  integer = false,
): number {
  if (value === undefined) return fallback;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < min ||
    (integer && !Number.isSafeInteger(value))
  ) {
    throw userError(
      'INVALID_OPTION',
      `memoryStateStore: ${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min} (${unit}), got ${String(value)}`,
    );
  }
  return value;
}

class MemoryStateStoreProvider implements StateStoreProvider {
  readonly kind = 'memory';
  readonly packr: Packr = createPackr();
  private readonly parts = new Map<string, Partition>();
  /** Bumped by close(): a provider is reusable after close (a restarted query opens it again). */
  private generation = 0;
  /** Snapshots being made durable and renamed in the background, per partition directory. */
  private readonly finishing = new Map<string, Promise<void>>();
  /** Temp files of snapshots in progress (cleanup leaves them alone). */
  private readonly activeTemps = new Set<string>();
  /** Snapshots that failed to be written (the deltas still hold everything). */
  snapshotFailures = 0;

  constructor(
    readonly settings: Settings,
    readonly recipe: StateStoreRecipe,
  ) {}

  async open(options: StateStoreOpenOptions): Promise<StateStore> {
    const dir = path.resolve(partitionDir(options, 'memoryStateStore.open'));
    const { operatorId, partition, version } = options;
    const ctx = storeContext(operatorId, partition);
    checkVersion(version, 'state store version', ctx);
    const generation = this.generation;
    const t0 = performance.now();
    let part = this.parts.get(dir);
    if (part?.owner !== undefined) part.owner.supersede();
    let cacheHit = 1;
    let snapshotLoaded = 0;
    let deltasLoaded = 0;
    if (part === undefined || part.version !== version) {
      cacheHit = 0;
      const loaded = await this.load(dir, version, ctx);
      this.checkNotClosed(generation, ctx);
      snapshotLoaded = loaded.snapshotLoaded;
      deltasLoaded = loaded.deltasLoaded;
      part = {
        dir,
        operatorId,
        partition,
        version,
        map: loaded.map,
        latestOnDisk: loaded.latestOnDisk,
        dirReady: false,
        avgEntryBytes: sampleAvgEntryBytes(loaded.map.entries(), 64),
        sorted: undefined,
        owner: undefined,
        lastSnapshotAtMs: -Infinity,
        snapshot: undefined,
      };
      const other = this.parts.get(dir);
      if (other?.owner !== undefined) other.owner.supersede();
      if (other !== undefined) this.abandonSnapshot(other);
      this.parts.set(dir, part);
    }
    const stats: LoadStats = { cacheHit, snapshotLoaded, deltasLoaded, loadTimeMs: performance.now() - t0 };
    const store = new MemoryStateStore(this, part, version, stats);
    part.owner = store;
    return store;
  }

  async cleanup(
    options: Omit<StateStoreOpenOptions, 'version'> & { readonly minVersionToKeep: number },
  ): Promise<void> {
    const dir = path.resolve(partitionDir(options, 'memoryStateStore.cleanup'));
    const min = options.minVersionToKeep;
    checkVersion(min, 'minVersionToKeep', storeContext(options.operatorId, options.partition));
    const listing = await listDir(dir);
    // Every version ≥ min loads from the newest snapshot ≤ it (or from version 0).
    // Versions ≥ min need: the newest snapshot ≤ min, everything after it.
    const base = usableSnapshot(listing, min)?.base ?? 0;
    const doomed: string[] = [];
    if (base > 0) {
      for (const v of listing.deltas) if (v <= base) doomed.push(fileName(v, 'delta'));
      for (const s of listing.snapshots) if (s.base < base) doomed.push(s.name);
    }
    const now = Date.now();
    for (const t of listing.temps) {
      if (this.activeTemps.has(path.join(dir, t))) continue;
      const m = /\.(\d+)\.(\d+)\.tmp$/.exec(t);
      if (m === null || Number(m[1]) !== process.pid || now - Number(m[2]) > TEMP_FILE_GRACE_MS)
        doomed.push(t);
    }
    if (doomed.length === 0) return;
    await Promise.all(doomed.map((f) => fsp.rm(path.join(dir, f), { force: true })));
    await fsyncDir(dir);
  }

  async close(): Promise<void> {
    this.generation++;
    for (const part of this.parts.values()) {
      part.owner?.markClosed();
      this.abandonSnapshot(part);
    }
    this.parts.clear();
    // A restarted query must not see a snapshot renamed into place after it listed the directory.
    await Promise.all(this.finishing.values());
  }

  // -------------------------------------------------------------------------

  /** A close() while an open() was loading makes that open fail (its result would be orphaned). */
  private checkNotClosed(generation: number, ctx: ErrorContext): void {
    if (generation !== this.generation) {
      throw new MillraceError(
        'STATE_STORE_NOT_OPEN',
        'memoryStateStore: the provider was closed while this store was being opened',
        {
          domain: 'internal',
          context: ctx,
        },
      );
    }
  }

  /** Version `version` from disk: newest snapshot ≤ version + the deltas after it. */
  private async load(
    dir: string,
    version: number,
    ctx: ErrorContext,
  ): Promise<{
    map: ShardedMap<unknown>;
    latestOnDisk: number;
    snapshotLoaded: number;
    deltasLoaded: number;
  }> {
    await this.finishing.get(dir);
    const listing = await listDir(dir);
    const map = new ShardedMap<unknown>(this.settings.maxShardSize);
    if (version === 0) return { map, latestOnDisk: listing.latest, snapshotLoaded: 0, deltasLoaded: 0 };
    const what = `state version ${version} of operator ${String(ctx.operator)} partition ${String(ctx.partition)}`;
    if (version > listing.latest) {
      throw stateCorrupt(
        `${what} is not in ${dir}: ` +
          (listing.latest === 0
            ? 'the directory holds no state versions'
            : `the newest version there is ${listing.latest}`),
        { ...ctx, file: dir },
      );
    }
    const snapshot = usableSnapshot(listing, version);
    const snap = snapshot?.base ?? 0;
    for (let v = snap + 1; v <= version; v++) {
      if (!listing.deltas.has(v)) throw missingFile(what, dir, listing, version, snap, v, ctx);
    }
    if (snapshot !== undefined) await this.loadSnapshot(dir, snapshot, map, ctx);
    for (let v = snap + 1; v <= version; v++) {
      const ops = await readStateFile(this.packr, dir, v, 'delta', ctx);
      for (let i = 0; i < ops.length; i += 2) {
        const val = ops[i + 1];
        if (val === undefined) map.delete(ops[i] as string);
        else map.set(ops[i] as string, val);
      }
    }
    return {
      map,
      latestOnDisk: listing.latest,
      snapshotLoaded: snap > 0 ? 1 : 0,
      deltasLoaded: version - snap,
    };
  }

  /** Fill `map` from a snapshot file, a frame at a time. */
  private async loadSnapshot(
    dir: string,
    snapshot: SnapshotRef,
    map: ShardedMap<unknown>,
    ctx: ErrorContext,
  ): Promise<void> {
    const file = path.join(dir, snapshot.name);
    const format = await readSnapshotFile(this.packr, file, snapshot.base, snapshot.upTo, ctx, (flat) => {
      for (let i = 0; i < flat.length; i += 2) map.set(flat[i] as string, flat[i + 1]);
    });
    if (format === 'v2') {
      for (const [k, v] of await readStateFile(this.packr, dir, snapshot.base, 'snapshot', ctx))
        map.set(k, v);
    }
  }

  /** Write version `next` of `store`'s partition (its Map holds the batch's changes; `ops` logs them). */
  async writeVersion(store: MemoryStateStore, part: Partition, ops: ChangeLog): Promise<WriteStats> {
    const next = store.version + 1;
    const numKeys = part.map.size;
    const log = ops.delta(part.map);
    const { puts, deletes } = ops;
    let delta: Buffer;
    try {
      delta = encodeDelta(this.packr, next, log);
    } catch (e) {
      throw userError(
        'STATE_VALUE_INVALID',
        `a state value of operator ${part.operatorId} partition ${part.partition} cannot be stored: ${(e as Error).message}; ` +
          `state values must be plain data (objects, arrays, numbers, strings, booleans, null, Uint8Array, Map, Set, Date)`,
        storeContext(part.operatorId, part.partition),
      );
    }
    if (!part.dirReady) {
      await ensureDir(part.dir);
      part.dirReady = true;
    }
    // A replay (or a retry after a failed commit): versions ≥ next from the
    // abandoned timeline must go before the new `next` is written, or loading
    // `next` could pick up their snapshot, and later versions would mix both.
    if (part.latestOnDisk >= next) {
      // …including a snapshot still being finished: it may hold the abandoned timeline's values.
      this.abandonSnapshot(part);
      await this.finishing.get(part.dir);
      await removeFrom(part.dir, next);
    }
    await writeFileAtomic(path.join(part.dir, fileName(next, 'delta')), delta);
    part.latestOnDisk = next;
    let bytesWritten = delta.length;
    let snapshotsWritten = 0;
    const applied = part.owner === store;
    if (applied) {
      part.version = next;
      // Version `next` is durable and the Map is it: nothing of the batch is to be undone any more.
      store.applied();
      if (puts > 0) {
        const s = sampleAvgEntryBytes(pairs(log, 16), 16);
        part.avgEntryBytes = part.avgEntryBytes === 0 ? s : 0.75 * part.avgEntryBytes + 0.25 * s;
      }
      const step = await this.advanceSnapshot(part, next, log.length / 2);
      bytesWritten += step.bytes;
      snapshotsWritten = step.finished;
    }
    return {
      applied,
      numKeys,
      bytesWritten,
      snapshotsWritten,
      keysWritten: puts,
      keysDeleted: deletes,
    };
  }

  /**
   * Start or continue the partition's snapshot, now that its map is committed version `version`
   * (synchronously up to the first await: no batch can change the map meanwhile). A snapshot that
   * started and ended in this step is durable when the commit returns; a longer one is finished in
   * the background. Returns the bytes encoded and whether a snapshot was completed.
   */
  private async advanceSnapshot(
    part: Partition,
    version: number,
    keysWritten: number,
  ): Promise<{ bytes: number; finished: number }> {
    let task = part.snapshot;
    const s = this.settings;
    if (task === undefined) {
      const due =
        version % s.snapshotInterval === 0 && Date.now() - part.lastSnapshotAtMs >= s.snapshotMinIntervalMs;
      if (!due || this.finishing.has(part.dir)) return { bytes: 0, finished: 0 };
      part.lastSnapshotAtMs = Date.now();
      task = new SnapshotTask(this.packr, part.dir, version, part.map, s.snapshotChunkEntries);
      part.snapshot = task;
      this.activeTemps.add(task.writer.tempPath);
    }
    const before = task.writer.bytes;
    const done = task.step(performance.now() + s.snapshotStepMs, Math.ceil(s.snapshotPace * keysWritten));
    const bytes = task.writer.bytes - before;
    if (!done) {
      if (task.writer.unwritten > MAX_UNWRITTEN_SNAPSHOT_BYTES) await this.drainOrDrop(part, task);
      return { bytes, finished: 0 };
    }
    part.snapshot = undefined;
    const finishing: Promise<void> = task.writer
      .finish(version)
      .then(() => undefined)
      .catch(async () => {
        this.snapshotFailures++;
        await task.writer.abandon();
      })
      .finally(() => {
        this.activeTemps.delete(task.writer.tempPath);
        if (this.finishing.get(part.dir) === finishing) this.finishing.delete(part.dir);
      });
    this.finishing.set(part.dir, finishing);
    if (task.steps === 1) await finishing;
    return { bytes, finished: 1 };
  }

  /** Wait for a snapshot's encoded frames to reach the disk; a write error drops the snapshot. */
  private async drainOrDrop(part: Partition, task: SnapshotTask): Promise<void> {
    try {
      await task.writer.drain();
    } catch {
      this.snapshotFailures++;
      if (part.snapshot === task) this.abandonSnapshot(part);
    }
  }

  /** Stop the partition's snapshot in progress (its temp file is removed in the background). */
  abandonSnapshot(part: Partition): void {
    const task = part.snapshot;
    if (task === undefined) return;
    part.snapshot = undefined;
    task.detach();
    void task.writer.abandon().finally(() => this.activeTemps.delete(task.writer.tempPath));
  }

  /**
   * Refuse a commit when the state this thread holds (estimated) passes `maxHeapFraction` of the V8
   * heap limit: past it the process would die of an out-of-memory error mid-batch, or a later batch
   * would; refused here, the checkpoint stays at the last good version.
   */
  checkStateSize(part: Partition): void {
    let total = 0;
    for (const p of this.parts.values()) total += p.map.size * p.avgEntryBytes;
    const limit = getHeapStatistics().heap_size_limit;
    if (total <= this.settings.maxHeapFraction * limit) return;
    const gib = (b: number): string => `${(b / 2 ** 30).toFixed(2)} GiB`;
    throw userError(
      'STATE_TOO_LARGE',
      `the in-memory state of this thread (~${gib(total)}, operator ${part.operatorId} partition ${part.partition} ` +
        `holding ${part.map.size} keys) passes ${Math.round(this.settings.maxHeapFraction * 100)}% of the heap limit ` +
        `(${gib(limit)}); the batch was not committed. Use lmdbStateStore() for state this large, raise the ` +
        `number of state partitions and workers so each thread holds less, or give Node more heap ` +
        `(--max-old-space-size)`,
      storeContext(part.operatorId, part.partition, { keys: part.map.size }),
    );
  }

  /** Drop a partition's cached Map (it may hold uncommitted in-place changes): the next open reloads it. */
  forget(part: Partition): void {
    if (this.parts.get(part.dir) === part) this.parts.delete(part.dir);
    part.version = -1;
    this.abandonSnapshot(part);
  }

  /** Drop a partition's sorted index (rebuilt by the next range). */
  dropIndex(part: Partition): void {
    part.sorted = undefined;
  }

  /** The sorted keys of the partition's Map (built or brought up to date on demand). */
  sortedKeys(part: Partition): readonly string[] {
    const idx = part.sorted;
    if (idx === undefined) {
      const keys = [...part.map.keys()].sort();
      part.sorted = { keys, added: [], removedAny: false };
      return keys;
    }
    if (idx.added.length === 0 && !idx.removedAny) return idx.keys;
    const map = part.map;
    const base = idx.removedAny ? idx.keys.filter((k) => map.has(k)) : idx.keys;
    const add = idx.added.filter((k) => map.has(k)).sort();
    const keys = mergeSorted(base, add);
    part.sorted = { keys, added: [], removedAny: false };
    return keys;
  }
}

interface WriteStats {
  /** Whether the cached Map is now the new version (false if the store was superseded meanwhile). */
  readonly applied: boolean;
  /** Keys in the new version. */
  readonly numKeys: number;
  readonly bytesWritten: number;
  readonly snapshotsWritten: number;
  readonly keysWritten: number;
  readonly keysDeleted: number;
}

/** The first `max` puts of a delta log, as [key, value]. */
function* pairs(log: readonly unknown[], max: number): IterableIterator<[string, unknown]> {
  let n = 0;
  for (let i = 0; i < log.length && n < max; i += 2) {
    if (log[i + 1] !== undefined) {
      n++;
      yield [log[i] as string, log[i + 1]];
    }
  }
}

/**
 * A batch's puts and deletes, in order: key, value (undefined: deleted), key, value… — as a
 * delta file holds them, replayed in order on load.
 */
class ChangeLog {
  entries: unknown[] = [];
  puts = 0;
  deletes = 0;
  /** Puts that replaced a value (of the version, or of an earlier put of the batch). */
  replaced = 0;

  put(key: string, value: unknown, replaced: boolean): void {
    this.entries.push(key, value);
    this.puts++;
    if (replaced) this.replaced++;
  }

  delete(key: string): void {
    this.entries.push(key, undefined);
    this.deletes++;
  }

  /**
   * The entries to write. A key put again in the batch has an entry per put: when that is common
   * (an operator putting a key per row), the entries the Map no longer holds are left out.
   */
  delta(map: { get(key: string): unknown }): unknown[] {
    const all = this.entries;
    if (this.replaced <= this.puts / 4) return all;
    const kept: unknown[] = [];
    let puts = 0;
    for (let i = 0; i < all.length; i += 2) {
      const k = all[i] as string;
      const v = all[i + 1];
      if (v === undefined || Object.is(map.get(k), v)) {
        kept.push(k, v);
        if (v !== undefined) puts++;
      }
    }
    this.puts = puts;
    return kept;
  }

  clear(): void {
    this.entries = [];
    this.puts = this.deletes = this.replaced = 0;
  }
}

function mergeSorted(a: readonly string[], b: readonly string[]): string[] {
  if (b.length === 0) return a as string[];
  const out: string[] = new Array<string>(a.length + b.length);
  let i = 0;
  let j = 0;
  let n = 0;
  let last: string | undefined;
  while (i < a.length || j < b.length) {
    const k = j >= b.length || (i < a.length && a[i]! <= b[j]!) ? a[i++]! : b[j++]!;
    if (k !== last) out[n++] = last = k;
  }
  out.length = n;
  return out;
}

function sampleAvgEntryBytes(entries: IterableIterator<[string, unknown]>, max: number): number {
  let total = 0;
  let n = 0;
  for (const [k, v] of entries) {
    total += estimateEntryBytes(k, v);
    if (++n >= max) break;
  }
  return n === 0 ? 0 : total / n;
}

/** The snapshot to load version `version` from: the newest (by base) complete by then. */
function usableSnapshot(listing: DirListing, version: number): SnapshotRef | undefined {
  let best: SnapshotRef | undefined;
  for (const s of listing.snapshots)
    if (s.upTo <= version && (best === undefined || s.base >= best.base)) best = s;
  return best;
}

/**
 * Delete the files of versions ≥ from: deltas after it (its own is about to be overwritten) and
 * every snapshot that includes version `from` or later.
 */
async function removeFrom(dir: string, from: number): Promise<void> {
  const listing = await listDir(dir);
  const doomed: string[] = [];
  for (const v of listing.deltas) if (v > from) doomed.push(fileName(v, 'delta'));
  for (const s of listing.snapshots) if (s.upTo >= from) doomed.push(s.name);
  if (doomed.length === 0) return;
  await Promise.all(doomed.map((f) => fsp.rm(path.join(dir, f), { force: true })));
  await fsyncDir(dir);
}

function missingFile(
  what: string,
  dir: string,
  listing: DirListing,
  version: number,
  snap: number,
  missing: number,
  ctx: ErrorContext,
): MillraceError {
  const file = path.join(dir, fileName(missing, 'delta'));
  let oldest = Infinity;
  for (const v of listing.deltas) oldest = Math.min(oldest, v);
  for (const s of listing.snapshots) oldest = Math.min(oldest, s.upTo);
  if (snap === 0 && oldest > version) {
    const kept = listing.snapshots.length > 0 ? listing.snapshots[0]!.upTo : oldest;
    return stateCorrupt(
      `${what} is no longer available in ${dir}: older versions were removed by cleanup ` +
        `(the oldest version that can be loaded is ${kept}; ${file} is missing)`,
      { ...ctx, file },
    );
  }
  return stateCorrupt(
    `state file ${file} is missing: ${what} is loaded from ` +
      (snap > 0 ? `snapshot ${snap} and ` : '') +
      `deltas ${snap + 1}..${version}`,
    { ...ctx, file },
  );
}

class MemoryStateStore extends OverlayStore implements StateStore {
  /** This batch's puts and deletes (the Map holds their result; the base class's overlay stays empty). */
  private readonly log = new ChangeLog();
  /** Whether the batch changed the Map other than by adding keys (or handed out a value to change in place). */
  private changedMore = false;
  private commitTimeMs = 0;
  private written: WriteStats | undefined;
  private final: { numKeys: number; memoryUsedBytes: number } | undefined;

  constructor(
    private readonly provider: MemoryStateStoreProvider,
    private readonly part: Partition,
    version: number,
    private readonly loadStats: LoadStats,
  ) {
    super(part.operatorId, part.partition, version, part);
  }

  get(key: string): unknown {
    this.ensureOpen();
    return this.part.map.get(key);
  }

  getForUpdate(key: string): unknown {
    this.ensureOpen();
    const v = this.part.map.get(key);
    if (v !== undefined) this.changedMore = true;
    return v;
  }

  /** The Map became the committed version: nothing of the batch is to be undone any more. */
  applied(): void {
    this.log.clear();
    this.changedMore = false;
  }

  /** Undo the batch: remove the keys it added, or drop the Map (the next open reloads it). */
  protected override discarded(): void {
    const part = this.part;
    if (this.changedMore) {
      this.provider.forget(part);
    } else if (this.log.puts > 0) {
      const map = part.map;
      const entries = this.log.entries;
      for (let i = 0; i < entries.length; i += 2) map.delete(entries[i] as string);
      this.provider.dropIndex(part);
    }
    this.log.clear();
  }

  put(key: string, value: unknown): void {
    this.ensureOpen();
    checkKey(key, this.operatorId, this.partition);
    if (value === undefined) throw invalidValue(key, this.operatorId, this.partition);
    const part = this.part;
    const map = part.map;
    const n = map.size;
    map.set(key, value);
    const added = map.size !== n;
    this.log.put(key, value, !added);
    if (!added) {
      this.changedMore = true;
    } else {
      const idx = part.sorted;
      if (idx !== undefined) {
        idx.added.push(key);
        // Past this, re-sorting from scratch is as cheap as merging (and `added` stays bounded).
        if (idx.added.length > map.size / 4 + 1024) this.provider.dropIndex(part);
      }
    }
  }

  delete(key: string): void {
    this.ensureOpen();
    const part = this.part;
    if (!part.map.delete(key)) return;
    this.log.delete(key);
    this.changedMore = true;
    if (part.sorted !== undefined) part.sorted.removedAny = true;
  }

  range(options?: RangeOptions): Iterable<[string, unknown]> {
    this.ensureOpen();
    const bounds = new RangeBounds(options);
    if (bounds.empty) return [];
    return this.iterate(bounds, this.provider.sortedKeys(this.part));
  }

  /** Keys put during the iteration are not visited; keys deleted before their turn are skipped. */
  private *iterate(bounds: RangeBounds, keys: readonly string[]): Generator<[string, unknown]> {
    const map = this.part.map;
    for (let i = lowerBound(keys, bounds.lower); i < keys.length; i++) {
      const k = keys[i]!;
      if (bounds.past(k)) break;
      this.ensureOpen();
      const v = map.get(k);
      if (v !== undefined) yield [k, v];
    }
  }

  async commit(): Promise<number> {
    this.ensureOpen();
    this.status = 'committing';
    const t0 = performance.now();
    const next = this.version + 1;
    try {
      this.provider.checkStateSize(this.part);
      this.written = await this.provider.writeVersion(this, this.part, this.log);
    } catch (e) {
      this.leave('failed');
      if (e instanceof MillraceError) throw e;
      throw commitFailure(e, next, this.operatorId, this.partition, this.part.dir, this.part.map.size);
    }
    this.commitTimeMs = performance.now() - t0;
    const numKeys = this.written.numKeys;
    this.final = { numKeys, memoryUsedBytes: Math.round(numKeys * this.part.avgEntryBytes) };
    // A store superseded during its commit still committed (the files are written).
    this.leave('committed');
    return next;
  }

  metrics(): StateStoreMetrics {
    const numKeys = this.final?.numKeys ?? this.currentNumKeys();
    const w = this.written;
    return {
      numKeys,
      memoryUsedBytes: this.final?.memoryUsedBytes ?? Math.round(numKeys * this.part.avgEntryBytes),
      commitTimeMs: this.commitTimeMs,
      custom: {
        cacheHit: this.loadStats.cacheHit,
        snapshotLoaded: this.loadStats.snapshotLoaded,
        deltasLoaded: this.loadStats.deltasLoaded,
        loadTimeMs: this.loadStats.loadTimeMs,
        snapshotsWritten: w?.snapshotsWritten ?? 0,
        // A snapshot being written over several commits (1), and snapshots that failed to be
        // written since the provider started (the deltas keep the state; restarts replay more).
        snapshotInProgress: this.part.snapshot === undefined ? 0 : 1,
        snapshotFailures: this.provider.snapshotFailures,
        bytesWritten: w?.bytesWritten ?? 0,
        keysWritten: w?.keysWritten ?? 0,
        keysDeleted: w?.keysDeleted ?? 0,
      },
    };
  }

  /** Keys after this batch's changes (while open; after an abort, of the Map then: the version, unless it was dropped). */
  private currentNumKeys(): number {
    return this.part.map.size;
  }
}

/**
 * Why a commit failed, with what to do: the disk (space, permissions), or a JS engine limit (a
 * value or state too large to encode), which retrying or freeing disk space cannot fix.
 */
export function commitFailure(
  e: unknown,
  version: number,
  operatorId: string,
  partition: number,
  dir: string,
  keys: number,
): MillraceError {
  const what = `could not write state version ${version} of operator ${operatorId} partition ${partition} to ${dir}`;
  const message = e instanceof Error ? e.message : String(e);
  const context = storeContext(operatorId, partition, { file: dir });
  if (
    e instanceof RangeError ||
    /maximum size|Invalid (array|string) length|allocation failed/i.test(message)
  ) {
    return new MillraceError(
      'STATE_TOO_LARGE',
      `${what}: ${message} (a JavaScript engine limit, with ${keys} keys in the partition). ` +
        `Retrying fails the same way; the checkpoint stays at version ${version - 1}. Use lmdbStateStore() for ` +
        `state this large or raise the number of state partitions so each holds fewer keys`,
      { domain: 'user', cause: e, context },
    );
  }
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const advice =
    code === 'ENOSPC' || code === 'EDQUOT'
      ? 'free disk space on that file system'
      : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
        ? 'make the directory writable by this process'
        : 'check that the disk has space and the directory is writable';
  return externalError('STATE_COMMIT_FAILED', `${what}: ${message}; ${advice}`, { cause: e, context });
}
