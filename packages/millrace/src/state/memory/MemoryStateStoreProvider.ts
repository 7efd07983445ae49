/**
 * The in-memory state store, after Spark's HDFSBackedStateStore: the whole
 * state of one operator/partition is a JS Map. A batch changes the Map directly
 * and logs its puts and deletes in order; commit writes that log as the delta
 * file of the new version (plus a full snapshot every `snapshotInterval`
 * versions). Loading version V reads the newest snapshot ≤ V and replays the
 * deltas after it. See ./files.ts for the file format.
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
  encodeSnapshot,
  fileName,
  listDir,
  readStateFile,
  type DirListing,
} from './files.ts';

export interface MemoryStateStoreOptions {
  /** Write a full snapshot (besides the delta) every this many versions. Default 10. */
  readonly snapshotInterval?: number;
  /**
   * …but at most once per this many ms per operator/partition (default 10,000). A snapshot
   * encodes the whole state inside a batch's commit; at tens of batches a second, a snapshot
   * every 10 versions was the p99 batch time. Like Spark's maintenance interval, this bounds
   * snapshot work by time; recovery then replays at most this long's worth of deltas. 0: every
   * `snapshotInterval` versions exactly.
   */
  readonly snapshotMinIntervalMs?: number;
}

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
  readonly map: Map<string, unknown>;
  /** Highest version with a file on disk, as far as this provider knows. */
  latestOnDisk: number;
  dirReady: boolean;
  avgEntryBytes: number;
  sorted: SortedIndex | undefined;
  /** The store currently using `map` (at most one). */
  owner: MemoryStateStore | undefined;
  /** When this process last wrote a snapshot of the partition (-Infinity: not yet). */
  lastSnapshotAtMs: number;
}

interface LoadStats {
  readonly cacheHit: number;
  readonly snapshotLoaded: number;
  readonly deltasLoaded: number;
  readonly loadTimeMs: number;
}

export function memoryStateStore(options: MemoryStateStoreOptions = {}): StateStoreProvider {
  const interval = options.snapshotInterval ?? 10;
  if (!Number.isSafeInteger(interval) || interval < 1) {
    throw userError(
      'INVALID_OPTION',
      `memoryStateStore: snapshotInterval must be a positive integer (a snapshot every N versions), got ${String(interval)}`,
    );
  }
  const minIntervalMs = options.snapshotMinIntervalMs ?? 10_000;
  if (typeof minIntervalMs !== 'number' || !Number.isFinite(minIntervalMs) || minIntervalMs < 0) {
    throw userError(
      'INVALID_OPTION',
      `memoryStateStore: snapshotMinIntervalMs must be a number of milliseconds ≥ 0, got ${String(minIntervalMs)}`,
    );
  }
  return new MemoryStateStoreProvider(interval, minIntervalMs, {
    factory: 'memoryStateStore',
    options: { ...options },
  });
}

class MemoryStateStoreProvider implements StateStoreProvider {
  readonly kind = 'memory';
  readonly packr: Packr = createPackr();
  private readonly parts = new Map<string, Partition>();
  /** Bumped by close(): a provider is reusable after close (a restarted query opens it again). */
  private generation = 0;

  constructor(
    readonly snapshotInterval: number,
    readonly snapshotMinIntervalMs: number,
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
      };
      const other = this.parts.get(dir);
      if (other?.owner !== undefined) other.owner.supersede();
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
    let base = 0;
    for (const s of listing.snapshots) if (s <= min) base = s;
    const doomed: string[] = [];
    if (base > 0) {
      for (const v of listing.deltas) if (v <= base) doomed.push(fileName(v, 'delta'));
      for (const v of listing.snapshots) if (v < base) doomed.push(fileName(v, 'snapshot'));
    }
    const now = Date.now();
    for (const t of listing.temps) {
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
    for (const part of this.parts.values()) part.owner?.markClosed();
    this.parts.clear();
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
    map: Map<string, unknown>;
    latestOnDisk: number;
    snapshotLoaded: number;
    deltasLoaded: number;
  }> {
    const listing = await listDir(dir);
    if (version === 0)
      return { map: new Map(), latestOnDisk: listing.latest, snapshotLoaded: 0, deltasLoaded: 0 };
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
    let snap = 0;
    for (const s of listing.snapshots) if (s <= version) snap = s;
    for (let v = snap + 1; v <= version; v++) {
      if (!listing.deltas.has(v)) throw missingFile(what, dir, listing, version, snap, v, ctx);
    }
    const map =
      snap > 0 ? await readStateFile(this.packr, dir, snap, 'snapshot', ctx) : new Map<string, unknown>();
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
    if (part.latestOnDisk >= next) await removeFrom(part.dir, next);
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
      if (
        next % this.snapshotInterval === 0 &&
        Date.now() - part.lastSnapshotAtMs >= this.snapshotMinIntervalMs
      ) {
        part.lastSnapshotAtMs = Date.now();
        const snapshot = encodeSnapshot(this.packr, next, part.map);
        await writeFileAtomic(path.join(part.dir, fileName(next, 'snapshot')), snapshot);
        bytesWritten += snapshot.length;
        snapshotsWritten = 1;
      }
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

  /** Drop a partition's cached Map (it may hold uncommitted in-place changes): the next open reloads it. */
  forget(part: Partition): void {
    if (this.parts.get(part.dir) === part) this.parts.delete(part.dir);
    part.version = -1;
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
  delta(map: ReadonlyMap<string, unknown>): unknown[] {
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

/** Delete the files of versions ≥ from (the snapshot of `from` too; its delta is about to be overwritten). */
async function removeFrom(dir: string, from: number): Promise<void> {
  const listing = await listDir(dir);
  const doomed: string[] = [];
  for (const v of listing.deltas) if (v > from) doomed.push(fileName(v, 'delta'));
  for (const v of listing.snapshots) if (v >= from) doomed.push(fileName(v, 'snapshot'));
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
  for (const v of listing.snapshots) oldest = Math.min(oldest, v);
  if (snap === 0 && oldest > version) {
    const kept = listing.snapshots.length > 0 ? listing.snapshots[0]! : oldest;
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
      this.written = await this.provider.writeVersion(this, this.part, this.log);
    } catch (e) {
      this.leave('failed');
      if (e instanceof MillraceError) throw e;
      throw externalError(
        'STATE_COMMIT_FAILED',
        `could not write state version ${next} of operator ${this.operatorId} partition ${this.partition} ` +
          `to ${this.part.dir}: ${(e as Error).message}; check that the disk has space and the directory is writable`,
        { cause: e, context: storeContext(this.operatorId, this.partition, { file: this.part.dir }) },
      );
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
