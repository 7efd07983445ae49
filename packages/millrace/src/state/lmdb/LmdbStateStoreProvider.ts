/**
 * The LMDB state store, for state larger than memory. One LMDB environment
 * per operator/partition at `<stateDir>/<operatorId>/<partition>/lmdb` with
 * three databases:
 *
 *   state   key → value: the state as of the newest committed version
 *   undo    <version:8 bytes BE><key> → the key's value before that version
 *           (raw msgpack bytes; empty = the key did not exist)
 *   meta    'state' → { version, numKeys, oldest }, 'format' → 1
 *
 * A batch's changes live in an in-process overlay (only this batch's
 * changes; nothing else of the state is held in memory). commit() applies
 * the overlay, writes the undo records of the new version and the new
 * version number in ONE synchronous, durable LMDB transaction.
 *
 * Opening an older version V (a replayed batch whose commit log entry was
 * never written) reads the undo records of versions V+1..newest into a small
 * "rollback view" (key → value at V) layered over the database, so the open
 * itself changes nothing on disk; the commit then rolls back to V and
 * applies the batch in the same transaction, overwriting the newer versions.
 * cleanup(min) drops undo records no longer needed to reach any version ≥ min.
 *
 * Keys are encoded so LMDB's byte order is the contract's UTF-16 order (see
 * ./keys.ts). Values use lmdb's msgpackr encoding with `structuredClone`, so
 * they round-trip like the memory store's. get() returns a fresh copy.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import {
  MillraceError,
  externalError,
  internalError,
  userError,
  type ErrorContext,
} from '../../errors/index.ts';
import type {
  StateStore,
  StateStoreMetrics,
  StateStoreOpenOptions,
  StateStoreProvider,
} from '../StateStore.ts';
import {
  RangeBounds,
  TOMBSTONE,
  checkVersion,
  checkKey,
  invalidValue,
  partitionDir,
  sortedKeysInRange,
  stateCorrupt,
  storeContext,
  storeNotOpen,
  type RangeOptions,
  type StoreStatus,
} from '../common.ts';
import {
  MAX_KEY_BYTES,
  SAFE_KEY_LENGTH,
  encodeKey,
  encodedKeyLength,
  prefixEnd,
  readKey,
  writeKey,
} from './keys.ts';
import { checkLmdbFile } from './validate.ts';

export interface LmdbStateStoreOptions {
  /**
   * Initial size of each environment's memory map in bytes. LMDB grows it as
   * the data grows, so this only matters to avoid early resizes.
   */
  readonly mapSize?: number;
  /** Page size of new environments (default: the OS page size; 8192 can help for state much larger than RAM). */
  readonly pageSize?: number;
  /**
   * Turn off OS read-ahead on the data files (default true): state reads are
   * random, and read-ahead would fill memory with pages nobody asked for.
   */
  readonly noReadAhead?: boolean;
}

const FORMAT = 1;
const LMDB_MAX_KEY = 1978;
const ENV_SUBDIR = 'lmdb';
const EMPTY = Buffer.alloc(0);
/** Undo record keys: 8-byte version, then the encoded state key. */
const VERSION_BYTES = 8;
/** Deletions per transaction in cleanup (bounds the transaction's dirty pages). */
const CLEANUP_CHUNK = 100_000;

interface Meta {
  readonly version: number;
  readonly numKeys: number;
  /** The oldest version that can still be opened (undo records exist for every version after it). */
  readonly oldest: number;
}

const NO_META: Meta = { version: 0, numKeys: 0, oldest: 0 };

interface Decoder {
  decode(buf: Uint8Array): unknown;
}

interface Env {
  readonly dir: string;
  readonly envDir: string;
  readonly operatorId: string;
  readonly partition: number;
  readonly root: RootDatabase;
  /** State values, decoded. */
  readonly state: Database<unknown, Buffer>;
  /** The same database, raw bytes (for undo records and rollback). */
  readonly stateRaw: Database<Buffer, Buffer>;
  readonly undo: Database<Buffer, Buffer>;
  readonly meta: Database<unknown, string>;
  readonly decoder: Decoder;
  owner: LmdbStateStore | undefined;
}

/** Scratch space for keys: every use is synchronous and LMDB copies the key at once. */
const scratch = Buffer.allocUnsafe(VERSION_BYTES + MAX_KEY_BYTES + 16);

function writeVersionKey(buf: Buffer, version: number): void {
  buf.writeUInt32BE(Math.floor(version / 0x1_0000_0000), 0);
  buf.writeUInt32BE(version >>> 0, 4);
}

function versionKey(version: number): Buffer {
  const b = Buffer.allocUnsafe(VERSION_BYTES);
  writeVersionKey(b, version);
  return b;
}

function readMeta(env: Env): Meta {
  const m = env.meta.get('state') as Meta | undefined;
  if (m === undefined) return NO_META;
  if (
    typeof m !== 'object' ||
    m === null ||
    !Number.isSafeInteger(m.version) ||
    !Number.isSafeInteger(m.numKeys) ||
    !Number.isSafeInteger(m.oldest)
  ) {
    throw stateCorrupt(
      `the LMDB state database ${env.envDir} has an unreadable version record`,
      storeContext(env.operatorId, env.partition, { file: env.envDir }),
    );
  }
  return m;
}

export function lmdbStateStore(options: LmdbStateStoreOptions = {}): StateStoreProvider {
  const { mapSize, pageSize } = options;
  if (mapSize !== undefined && (!Number.isSafeInteger(mapSize) || mapSize < 65_536)) {
    throw userError(
      'INVALID_OPTION',
      `lmdbStateStore: mapSize must be a byte count ≥ 65536, got ${String(mapSize)}`,
    );
  }
  if (
    pageSize !== undefined &&
    (!Number.isSafeInteger(pageSize) || pageSize < 512 || (pageSize & (pageSize - 1)) !== 0)
  ) {
    throw userError(
      'INVALID_OPTION',
      `lmdbStateStore: pageSize must be a power of two ≥ 512, got ${String(pageSize)}`,
    );
  }
  return new LmdbStateStoreProvider(options);
}

class LmdbStateStoreProvider implements StateStoreProvider {
  readonly kind = 'lmdb';
  private readonly envs = new Map<string, Env>();
  private closed = false;

  constructor(private readonly options: LmdbStateStoreOptions) {}

  async open(options: StateStoreOpenOptions): Promise<StateStore> {
    const dir = path.resolve(partitionDir(options, 'lmdbStateStore.open'));
    const { operatorId, partition, version } = options;
    const ctx = storeContext(operatorId, partition);
    checkVersion(version, 'state store version', ctx);
    this.checkNotClosed(ctx);
    const t0 = performance.now();
    const env = this.env(dir, operatorId, partition, version === 0);
    const what = `state version ${version} of operator ${operatorId} partition ${partition}`;
    if (env === undefined) {
      throw stateCorrupt(`${what} is not in ${dir}: there is no LMDB state database there`, {
        ...ctx,
        file: dir,
      });
    }
    env.owner?.supersede();
    const meta = this.readMeta(env);
    if (version > meta.version) {
      throw stateCorrupt(
        `${what} is not in ${env.envDir}: the newest committed version there is ${meta.version}`,
        { ...ctx, file: env.envDir },
      );
    }
    if (version < meta.oldest) {
      throw stateCorrupt(
        `${what} is no longer available in ${env.envDir}: older versions were removed by cleanup ` +
          `(the oldest version that can be loaded is ${meta.oldest})`,
        { ...ctx, file: env.envDir },
      );
    }
    let view: Map<string, Buffer | null> | undefined;
    let numKeys = meta.numKeys;
    if (version < meta.version) {
      view = new Map();
      // Ascending versions: the first record of a key (the lowest version > V) holds its value at V.
      for (const { key, value } of env.undo.getRange({
        start: versionKey(version + 1),
        end: versionKey(meta.version + 1),
      })) {
        const k = readKey(key, VERSION_BYTES);
        if (!view.has(k)) view.set(k, value.length === 0 ? null : value);
      }
      for (const [k, raw] of view)
        numKeys += (raw !== null ? 1 : 0) - (env.stateRaw.doesExist(encodeKey(k)) ? 1 : 0);
    }
    const store = new LmdbStateStore(this, env, version, meta.version, view, numKeys, {
      rolledBackVersions: meta.version - version,
      rollbackKeys: view?.size ?? 0,
      loadTimeMs: performance.now() - t0,
    });
    env.owner = store;
    return store;
  }

  async cleanup(
    options: Omit<StateStoreOpenOptions, 'version'> & { readonly minVersionToKeep: number },
  ): Promise<void> {
    const dir = path.resolve(partitionDir(options, 'lmdbStateStore.cleanup'));
    const ctx = storeContext(options.operatorId, options.partition);
    checkVersion(options.minVersionToKeep, 'minVersionToKeep', ctx);
    this.checkNotClosed(ctx);
    const env = this.env(dir, options.operatorId, options.partition, false);
    if (env === undefined) return;
    const meta = this.readMeta(env);
    const min = Math.min(options.minVersionToKeep, meta.version);
    if (min <= meta.oldest) return;
    // Record the new floor first: a crash halfway through the deletions leaves
    // records nobody will use, never a version that claims to load but cannot.
    this.write(env, () => {
      const m = readMeta(env);
      env.meta.putSync('state', { ...m, oldest: Math.max(m.oldest, min) });
    });
    // Undo records of version v restore v-1: those of versions ≤ min are not needed.
    const end = versionKey(min + 1);
    for (;;) {
      const keys = [...env.undo.getKeys({ end, limit: CLEANUP_CHUNK })];
      if (keys.length === 0) break;
      this.write(env, () => {
        for (const k of keys) env.undo.removeSync(k);
      });
      if (keys.length < CLEANUP_CHUNK) break;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const envs = [...this.envs.values()];
    this.envs.clear();
    for (const env of envs) env.owner?.markClosed();
    await Promise.all(envs.map((e) => e.root.close()));
  }

  // -------------------------------------------------------------------------

  private checkNotClosed(ctx: ErrorContext): void {
    if (this.closed) {
      throw new MillraceError(
        'STATE_STORE_NOT_OPEN',
        'lmdbStateStore: the provider was closed; create a new one',
        {
          domain: 'internal',
          context: ctx,
        },
      );
    }
  }

  /** The environment of a partition, opened on first use; undefined if it does not exist and `create` is false. */
  private env(dir: string, operatorId: string, partition: number, create: boolean): Env | undefined {
    const cached = this.envs.get(dir);
    if (cached !== undefined) return cached;
    const envDir = path.join(dir, ENV_SUBDIR);
    const dataFile = path.join(envDir, 'data.mdb');
    if (!create && !existsSync(dataFile)) return undefined;
    const damage = checkLmdbFile(dataFile);
    if (damage !== undefined) {
      throw stateCorrupt(
        `the LMDB state database ${dataFile} is damaged: ${damage}`,
        storeContext(operatorId, partition, { file: dataFile }),
      );
    }
    let root: RootDatabase;
    try {
      root = open({
        path: envDir,
        maxDbs: 4,
        compression: false,
        overlappingSync: false,
        noReadAhead: this.options.noReadAhead ?? true,
        useWritemap: process.env.LMDB_WRITEMAP === '1',
        ...(process.env.LMDB_MAPSIZE ? { mapSize: Number(process.env.LMDB_MAPSIZE) } : {}),
        ...(this.options.mapSize !== undefined ? { mapSize: this.options.mapSize } : {}),
        ...(this.options.pageSize !== undefined ? { pageSize: this.options.pageSize } : {}),
      } as Parameters<typeof open>[0]);
    } catch (e) {
      throw this.openError(e, envDir, operatorId, partition);
    }
    try {
      const valueOptions = { structuredClone: true } as Record<string, unknown>;
      const state = root.openDB<unknown, Buffer>({
        name: 'state',
        keyEncoding: 'binary',
        encoding: 'msgpack',
        ...valueOptions,
      });
      const env: Env = {
        dir,
        envDir,
        operatorId,
        partition,
        root,
        state,
        stateRaw: root.openDB<Buffer, Buffer>({ name: 'state', keyEncoding: 'binary', encoding: 'binary' }),
        undo: root.openDB<Buffer, Buffer>({ name: 'undo', keyEncoding: 'binary', encoding: 'binary' }),
        meta: root.openDB<unknown, string>({ name: 'meta', encoding: 'msgpack' }),
        decoder: (state as unknown as { decoder: Decoder }).decoder,
        owner: undefined,
      };
      const format = env.meta.get('format');
      if (format !== undefined && format !== FORMAT) {
        throw userError(
          'CHECKPOINT_UNSUPPORTED_VERSION',
          `the LMDB state database ${envDir} has format ${JSON.stringify(format)}, expected ${FORMAT}; ` +
            `it was written by an incompatible Millrace version`,
          storeContext(operatorId, partition, { file: envDir }),
        );
      }
      this.envs.set(dir, env);
      return env;
    } catch (e) {
      void root.close();
      throw this.openError(e, envDir, operatorId, partition);
    }
  }

  private openError(e: unknown, envDir: string, operatorId: string, partition: number): MillraceError {
    if (e instanceof MillraceError) return e;
    const msg = (e as Error).message;
    const ctx = storeContext(operatorId, partition, { file: envDir });
    if (
      /MDB_INVALID|MDB_CORRUPTED|MDB_PAGE_NOTFOUND|MDB_VERSION_MISMATCH|MDB_BAD|Invalid argument/i.test(msg)
    ) {
      return stateCorrupt(
        `the LMDB state database ${envDir} cannot be opened (${msg}); it is damaged`,
        ctx,
        e,
      );
    }
    return externalError(
      'STATE_IO_FAILED',
      `could not open the LMDB state database ${envDir}: ${msg}; check that the directory exists and is writable`,
      { cause: e, context: ctx },
    );
  }

  private readMeta(env: Env): Meta {
    try {
      return readMeta(env);
    } catch (e) {
      throw this.dataError(e, env);
    }
  }

  /** Run `fn` in one synchronous, durable write transaction. */
  write<T>(env: Env, fn: () => T): T {
    try {
      return env.root.transactionSync(fn);
    } catch (e) {
      throw this.dataError(e, env);
    }
  }

  private dataError(e: unknown, env: Env): MillraceError {
    if (e instanceof MillraceError) return e;
    const msg = (e as Error).message;
    const ctx = storeContext(env.operatorId, env.partition, { file: env.envDir });
    if (/MDB_CORRUPTED|MDB_PAGE_NOTFOUND|MDB_BAD_TXN|MDB_INVALID/.test(msg)) {
      return stateCorrupt(`the LMDB state database ${env.envDir} is damaged (${msg})`, ctx, e);
    }
    return externalError(
      'STATE_IO_FAILED',
      `LMDB state database ${env.envDir} failed: ${msg}; check that the disk has space and the directory is writable`,
      { cause: e, context: ctx },
    );
  }

  /** Commit `store`'s batch as version `store.version + 1`. */
  commit(
    store: LmdbStateStore,
    overlay: Map<string, unknown>,
    view: Map<string, Buffer | null> | undefined,
  ): CommitStats {
    const env = store.env;
    const next = store.version + 1;
    const stats = { numKeys: 0, keysWritten: 0, keysDeleted: 0 };
    this.write(env, () => {
      const meta = readMeta(env);
      if (meta.version !== store.latestAtOpen) {
        throw internalError(
          `state of operator ${env.operatorId} partition ${env.partition} changed since version ${store.version} was opened ` +
            `(newest was ${store.latestAtOpen}, now ${meta.version}): two stores committed the same partition`,
          storeContext(env.operatorId, env.partition),
        );
      }
      let numKeys = meta.numKeys;
      if (view !== undefined) {
        // Roll back to store.version, then drop the undo records of the abandoned versions.
        for (const [k, raw] of view) {
          const kb = scratch.subarray(0, writeKey(k, scratch, 0));
          if (raw === null) env.stateRaw.removeSync(kb);
          else env.stateRaw.putSync(kb, raw);
        }
        const abandoned = [...env.undo.getKeys({ start: versionKey(next) })];
        for (const k of abandoned) env.undo.removeSync(k);
        numKeys = store.numKeysAtOpen;
      }
      writeVersionKey(scratch, next);
      const ordered = process.env.LMDB_SORT === '1' ? [...overlay.keys()].sort() : overlay.keys();
      for (const k of ordered) {
        const v = overlay.get(k);
        const end = writeKey(k, scratch, VERSION_BYTES);
        const kb = scratch.subarray(VERSION_BYTES, end);
        const old = env.stateRaw.getBinaryFast(kb);
        if (v === TOMBSTONE) {
          if (old === undefined) continue;
          env.undo.putSync(scratch.subarray(0, end), old);
          env.stateRaw.removeSync(kb);
          numKeys--;
          stats.keysDeleted++;
        } else {
          env.undo.putSync(scratch.subarray(0, end), old ?? EMPTY);
          env.state.putSync(kb, v);
          if (old === undefined) numKeys++;
          stats.keysWritten++;
        }
      }
      env.meta.putSync('state', { version: next, numKeys, oldest: meta.oldest } satisfies Meta);
      if (meta.version === 0 && meta.oldest === 0) env.meta.putSync('format', FORMAT);
      stats.numKeys = numKeys;
    });
    return stats;
  }

  /** On-disk figures for metrics. */
  diskStats(env: Env): { stateBytes: number; diskBytes: number; undoEntries: number } {
    try {
      const s = env.state.getStats() as Record<string, number> & { lastPageNumber: number };
      const u = env.undo.getStats() as Record<string, number>;
      const page = s.pageSize ?? 4096;
      return {
        stateBytes:
          ((s.treeBranchPageCount ?? 0) + (s.treeLeafPageCount ?? 0) + (s.overflowPages ?? 0)) * page,
        diskBytes: ((s.lastPageNumber ?? 0) + 1) * page,
        undoEntries: u.entryCount ?? 0,
      };
    } catch {
      return { stateBytes: 0, diskBytes: 0, undoEntries: 0 };
    }
  }
}

interface CommitStats {
  readonly numKeys: number;
  readonly keysWritten: number;
  readonly keysDeleted: number;
}

interface OpenStats {
  readonly rolledBackVersions: number;
  readonly rollbackKeys: number;
  readonly loadTimeMs: number;
}

function keyTooLarge(key: string, bytes: number, operatorId: string, partition: number): MillraceError {
  return userError(
    'STATE_KEY_TOO_LARGE',
    `state key ${JSON.stringify(key.slice(0, 60))}… takes ${bytes - 1} bytes, more than the LMDB store's limit of ` +
      `${MAX_KEY_BYTES - 1}; group by shorter keys, or use the memory state store`,
    storeContext(operatorId, partition),
  );
}

class LmdbStateStore implements StateStore {
  readonly operatorId: string;
  readonly partition: number;
  private status: StoreStatus = 'open';
  private readonly overlay = new Map<string, unknown>();
  private commitTimeMs = 0;
  private committed: CommitStats | undefined;

  constructor(
    private readonly provider: LmdbStateStoreProvider,
    readonly env: Env,
    readonly version: number,
    /** The newest committed version when this store was opened. */
    readonly latestAtOpen: number,
    /** Keys whose value at `version` differs from the database (a replay): raw value, or null = absent. */
    private readonly view: Map<string, Buffer | null> | undefined,
    readonly numKeysAtOpen: number,
    private readonly openStats: OpenStats,
  ) {
    this.operatorId = env.operatorId;
    this.partition = env.partition;
  }

  get(key: string): unknown {
    if (this.status !== 'open') throw this.notOpen();
    const o = this.overlay.get(key);
    if (o !== undefined) return o === TOMBSTONE ? undefined : o;
    return this.committedGet(key);
  }

  /** The value at `version` (before this batch's changes). */
  private committedGet(key: string): unknown {
    if (this.view !== undefined) {
      const r = this.view.get(key);
      if (r !== undefined) return r === null ? undefined : this.env.decoder.decode(r);
    }
    if (key.length > SAFE_KEY_LENGTH && encodedKeyLength(key) > MAX_KEY_BYTES) return undefined;
    return this.env.state.get(scratch.subarray(0, writeKey(key, scratch, 0)));
  }

  put(key: string, value: unknown): void {
    if (this.status !== 'open') throw this.notOpen();
    checkKey(key, this.operatorId, this.partition);
    if (value === undefined) throw invalidValue(key, this.operatorId, this.partition);
    if (key.length > SAFE_KEY_LENGTH) {
      const n = encodedKeyLength(key);
      if (n > MAX_KEY_BYTES) throw keyTooLarge(key, n, this.operatorId, this.partition);
    }
    this.overlay.set(key, value);
  }

  delete(key: string): void {
    if (this.status !== 'open') throw this.notOpen();
    this.overlay.set(key, TOMBSTONE);
  }

  range(options?: RangeOptions): Iterable<[string, unknown]> {
    if (this.status !== 'open') throw this.notOpen();
    const bounds = new RangeBounds(options);
    if (bounds.empty) return [];
    let start = encodeKey(bounds.lower);
    let end: Buffer = Buffer.from([0x02]); // past every key (all start with 0x01)
    if (bounds.end !== undefined) end = encodeKey(bounds.end);
    if (bounds.prefix !== undefined) {
      const pe = prefixEnd(bounds.prefix);
      if (Buffer.compare(pe, end) < 0) end = pe;
    }
    if (Buffer.compare(start, end) >= 0) return [];
    // Bounds longer than LMDB's key limit: clip them (stored keys are shorter) and filter.
    const clipped = start.length > LMDB_MAX_KEY || end.length > LMDB_MAX_KEY;
    if (start.length > LMDB_MAX_KEY) start = start.subarray(0, LMDB_MAX_KEY);
    if (end.length > LMDB_MAX_KEY)
      end = Buffer.concat([end.subarray(0, LMDB_MAX_KEY - 1), Buffer.from([0xff])]);
    const extras = sortedKeysInRange(bounds, this.overlay, this.view);
    return this.iterate(bounds, clipped, start, end, extras);
  }

  private *iterate(
    bounds: RangeBounds,
    clipped: boolean,
    start: Buffer,
    end: Buffer,
    extras: readonly string[],
  ): Generator<[string, unknown]> {
    let j = 0;
    for (const { key, value } of this.env.state.getRange({ start, end })) {
      if (this.status !== 'open') throw this.notOpen();
      const k = readKey(key);
      if (clipped && !bounds.contains(k)) continue;
      while (j < extras.length && extras[j]! < k) {
        const e = extras[j++]!;
        const v = this.get(e);
        if (v !== undefined) yield [e, v];
      }
      if (j < extras.length && extras[j] === k) {
        j++;
        const v = this.get(k);
        if (v !== undefined) yield [k, v];
        continue;
      }
      yield [k, value];
    }
    while (j < extras.length) {
      const e = extras[j++]!;
      const v = this.get(e);
      if (v !== undefined) yield [e, v];
    }
  }

  async commit(): Promise<number> {
    if (this.status !== 'open') throw this.notOpen();
    this.status = 'committing';
    const t0 = performance.now();
    try {
      this.committed = this.provider.commit(this, this.overlay, this.view);
    } catch (e) {
      this.status = 'failed';
      this.overlay.clear();
      if (this.env.owner === this) this.env.owner = undefined;
      throw e;
    }
    this.commitTimeMs = performance.now() - t0;
    this.overlay.clear();
    this.status = 'committed';
    if (this.env.owner === this) this.env.owner = undefined;
    return this.version + 1;
  }

  abort(): void {
    if (this.status !== 'open') return;
    this.status = 'aborted';
    this.overlay.clear();
    if (this.env.owner === this) this.env.owner = undefined;
  }

  metrics(): StateStoreMetrics {
    const disk = this.provider.diskStats(this.env);
    const c = this.committed;
    return {
      numKeys: c?.numKeys ?? this.currentNumKeys(),
      memoryUsedBytes: disk.stateBytes,
      commitTimeMs: this.commitTimeMs,
      custom: {
        diskBytes: disk.diskBytes,
        undoEntries: disk.undoEntries,
        rolledBackVersions: this.openStats.rolledBackVersions,
        rollbackKeys: this.openStats.rollbackKeys,
        loadTimeMs: this.openStats.loadTimeMs,
        keysWritten: c?.keysWritten ?? 0,
        keysDeleted: c?.keysDeleted ?? 0,
      },
    };
  }

  supersede(): void {
    if (this.status === 'open') {
      this.status = 'superseded';
      this.overlay.clear();
    }
    if (this.env.owner === this) this.env.owner = undefined;
  }

  markClosed(): void {
    if (this.status === 'open') {
      this.status = 'closed';
      this.overlay.clear();
    }
    if (this.env.owner === this) this.env.owner = undefined;
  }

  private currentNumKeys(): number {
    if (this.status !== 'open') return this.numKeysAtOpen;
    let n = this.numKeysAtOpen;
    for (const [k, v] of this.overlay) {
      const existed = this.committedGet(k) !== undefined;
      if (v === TOMBSTONE) {
        if (existed) n--;
      } else if (!existed) n++;
    }
    return n;
  }

  private notOpen(): MillraceError {
    return storeNotOpen(this.status, this.operatorId, this.partition, this.version);
  }
}
