/**
 * The LMDB state store, for state larger than memory. One LMDB environment
 * per operator/partition at `<stateDir>/<operatorId>/<partition>/lmdb` with
 * three databases:
 *
 *   state   key → value: the state as of the newest committed version
 *   undo    <version:8 bytes BE><key> → the key's value before that version
 *           (raw msgpack bytes; empty = the key did not exist)
 *   meta    'state' → { version, numKeys, oldest, incomplete? }, 'format' → 1
 *
 * A batch's changes live in an in-process overlay (only this batch's
 * changes; nothing else of the state is held in memory). commit() applies
 * the overlay in key order, writing each changed key's undo record in the
 * same LMDB transaction as the change, and records the new version. A batch
 * of up to COMMIT_CHUNK keys — the usual case — is ONE synchronous, durable
 * transaction. A larger batch is written in several (LMDB holds every page a
 * transaction touches in memory, so one huge transaction would need memory
 * in proportion to the state): until the last one, the version record says
 * `incomplete`, and opening the store after a crash first reverts the partial
 * version with its undo records. Readers only ever see whole versions.
 *
 * Opening an older version V (a replayed batch whose commit log entry was
 * never written) reads the undo records of versions V+1..newest into a small
 * "rollback view" (key → value at V) layered over the database, so the open
 * itself changes nothing on disk; the commit then reverts versions
 * newest..V+1 (deleting their undo records) and applies the batch.
 * cleanup(min) drops undo records no longer needed to reach any version ≥ min.
 *
 * Keys are encoded so LMDB's byte order is the contract's UTF-16 order (see
 * ./keys.ts). Values use lmdb's msgpackr encoding with `structuredClone`, so
 * they round-trip like the memory store's. get() returns a fresh copy.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { MillraceError, externalError, internalError, userError } from '../../errors/index.ts';
import type {
  StateStoreRecipe,
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
  OverlayStore,
  type RangeOptions,
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
   * Address space reserved for each environment's memory map, in bytes
   * (default 8 GiB; not memory, not disk). LMDB grows it when the data
   * outgrows it, at the cost of a remap.
   */
  readonly mapSize?: number;
  /** Page size of new environments (default: the OS page size; 8192 can help for state much larger than RAM). */
  readonly pageSize?: number;
  /**
   * Turn off OS read-ahead on the data files (default true): state reads are
   * random, and read-ahead would fill memory with pages nobody asked for.
   */
  readonly noReadAhead?: boolean;
  /**
   * Keys written per LMDB transaction in a commit (default 16384). A batch
   * with more changed keys is committed in several transactions (still
   * all-or-nothing, see above); this bounds the memory a commit needs.
   */
  readonly maxKeysPerTransaction?: number;
}

const FORMAT = 1;
const LMDB_MAX_KEY = 1978;
/**
 * Address space reserved per environment (not memory, not disk: the file
 * grows as needed). LMDB grows the map when it fills, but lmdb-js keeps the
 * old mappings alive, so pages get counted twice in RSS; a roomy start avoids
 * remaps for all but very large partitions.
 */
const DEFAULT_MAP_SIZE = 8 * 1024 ** 3;
const ENV_SUBDIR = 'lmdb';
const EMPTY = Buffer.alloc(0);
/** Undo record keys: 8-byte version, then the encoded state key. */
const VERSION_BYTES = 8;
/**
 * Keys per write transaction. LMDB keeps every page a transaction touches in
 * process memory until it commits (and caches those buffers afterwards), so
 * this bounds the memory a commit takes: keys are applied in order, so a
 * chunk touches at most this many leaf pages (~64 MiB), usually far fewer.
 */
const COMMIT_CHUNK = 16_384;
/** Deletions per transaction in cleanup. */
const CLEANUP_CHUNK = 100_000;

interface Meta {
  readonly version: number;
  readonly numKeys: number;
  /** The oldest version that can still be opened (undo records exist for every version after it). */
  readonly oldest: number;
  /**
   * A commit (or the revert of an abandoned version) was interrupted: the
   * state lies between `version - 1` and `version`; recover() reverts it to
   * `version - 1` with the undo records of `version`.
   */
  readonly incomplete?: boolean;
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
    !Number.isSafeInteger(m.oldest) ||
    (m.incomplete !== undefined && typeof m.incomplete !== 'boolean')
  ) {
    throw stateCorrupt(
      `the LMDB state database ${env.envDir} has an unreadable version record`,
      storeContext(env.operatorId, env.partition, { file: env.envDir }),
    );
  }
  return m;
}

export function lmdbStateStore(options: LmdbStateStoreOptions = {}): StateStoreProvider {
  const { mapSize, pageSize, maxKeysPerTransaction } = options;
  if (
    maxKeysPerTransaction !== undefined &&
    (!Number.isSafeInteger(maxKeysPerTransaction) || maxKeysPerTransaction < 1)
  ) {
    throw userError(
      'INVALID_OPTION',
      `lmdbStateStore: maxKeysPerTransaction must be a positive integer, got ${String(maxKeysPerTransaction)}`,
    );
  }
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
  private readonly chunk: number;

  readonly recipe: StateStoreRecipe;

  constructor(private readonly options: LmdbStateStoreOptions) {
    this.chunk = options.maxKeysPerTransaction ?? COMMIT_CHUNK;
    this.recipe = { factory: 'lmdbStateStore', options: { ...options } };
  }

  async open(options: StateStoreOpenOptions): Promise<StateStore> {
    const dir = path.resolve(partitionDir(options, 'lmdbStateStore.open'));
    const { operatorId, partition, version } = options;
    const ctx = storeContext(operatorId, partition);
    checkVersion(version, 'state store version', ctx);
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
    const meta = this.recover(env);
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
    const env = this.env(dir, options.operatorId, options.partition, false);
    if (env === undefined) return;
    const meta = this.recover(env);
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

  /** Closes every environment; the provider stays usable (a restarted query opens it again). */
  async close(): Promise<void> {
    const envs = [...this.envs.values()];
    this.envs.clear();
    for (const env of envs) env.owner?.markClosed();
    await Promise.all(envs.map((e) => e.root.close()));
  }

  // -------------------------------------------------------------------------

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
        mapSize: this.options.mapSize ?? DEFAULT_MAP_SIZE,
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

  /**
   * Commit `store`'s batch as version `store.version + 1`: first revert the
   * versions of an abandoned timeline (a replay), then apply the overlay in
   * key order. Each step is one LMDB transaction of at most COMMIT_CHUNK keys;
   * a batch that fits in one chunk (the usual case) is one transaction. While
   * a larger batch is being written, the version record says `incomplete`,
   * and the undo records written in the same transactions as the changes let
   * recover() put the state back exactly as it was (see the file comment).
   */
  commit(store: LmdbStateStore, overlay: Map<string, unknown>): CommitStats {
    const env = store.env;
    const next = store.version + 1;
    // Checked inside the first write transaction (reads outside one may be a stale snapshot).
    let checked = false;
    const check = (m: Meta): void => {
      if (checked) return;
      checked = true;
      if (m.version !== store.latestAtOpen || m.incomplete === true) {
        throw internalError(
          `state of operator ${env.operatorId} partition ${env.partition} changed since version ${store.version} ` +
            `was opened (newest was ${store.latestAtOpen}, now ${m.version}${m.incomplete === true ? ', incomplete' : ''}): ` +
            `two stores committed the same partition`,
          storeContext(env.operatorId, env.partition),
        );
      }
    };
    for (let w = store.latestAtOpen; w > store.version; w--) this.revert(env, w, check);
    const keys = [...overlay.keys()].sort();
    const stats = { numKeys: 0, keysWritten: 0, keysDeleted: 0 };
    for (let from = 0; from === 0 || from < keys.length; from += this.chunk) {
      const to = Math.min(keys.length, from + this.chunk);
      this.write(env, () => {
        const m = readMeta(env);
        check(m);
        let numKeys = m.numKeys;
        writeVersionKey(scratch, next);
        for (let i = from; i < to; i++) {
          const k = keys[i]!;
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
            try {
              env.state.putSync(kb, v);
            } catch (e) {
              throw unencodable(k, e, env);
            }
            if (old === undefined) numKeys++;
            stats.keysWritten++;
          }
        }
        const done = to >= keys.length;
        const record: Meta = {
          version: next,
          numKeys,
          oldest: m.oldest,
          ...(done ? {} : { incomplete: true }),
        };
        env.meta.putSync('state', record);
        if (from === 0 && env.meta.get('format') === undefined) env.meta.putSync('format', FORMAT);
        stats.numKeys = numKeys;
      });
    }
    return stats;
  }

  /**
   * Turn version `w` (the newest) back into `w - 1` with its undo records,
   * deleting them as they are applied; chunked like commit, and idempotent,
   * so a crash halfway leaves `incomplete` and the next recover() finishes it.
   */
  private revert(env: Env, w: number, check?: (m: Meta) => void): void {
    const start = versionKey(w);
    const end = versionKey(w + 1);
    for (;;) {
      const done = this.write(env, () => {
        const m = readMeta(env);
        check?.(m);
        let numKeys = m.numKeys;
        const records = [...env.undo.getRange({ start, end, limit: this.chunk })];
        for (const { key, value } of records) {
          const kb = key.subarray(VERSION_BYTES);
          if (value.length === 0) {
            if (env.stateRaw.removeSync(kb)) numKeys--;
          } else {
            if (!env.stateRaw.doesExist(kb)) numKeys++;
            env.stateRaw.putSync(kb, value);
          }
          env.undo.removeSync(key);
        }
        const finished = records.length < this.chunk;
        const record: Meta = finished
          ? { version: w - 1, numKeys, oldest: m.oldest }
          : { version: w, numKeys, oldest: m.oldest, incomplete: true };
        env.meta.putSync('state', record);
        return finished;
      });
      if (done) return;
    }
  }

  /** Finish what a crash interrupted: an incomplete version is reverted. */
  private recover(env: Env): Meta {
    const meta = this.readMeta(env);
    if (meta.incomplete !== true) return meta;
    this.revert(env, meta.version);
    return this.readMeta(env);
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

function unencodable(key: string, e: unknown, env: Env): MillraceError {
  return userError(
    'STATE_VALUE_INVALID',
    `state value for key ${JSON.stringify(key.slice(0, 100))} cannot be stored: ${(e as Error).message}; ` +
      `state values must be plain data (objects, arrays, numbers, strings, booleans, null, Uint8Array, Map, Set, Date)`,
    storeContext(env.operatorId, env.partition),
  );
}

function keyTooLarge(key: string, bytes: number, operatorId: string, partition: number): MillraceError {
  return userError(
    'STATE_KEY_TOO_LARGE',
    `state key ${JSON.stringify(key.slice(0, 60))}… takes ${bytes - 1} bytes, more than the LMDB store's limit of ` +
      `${MAX_KEY_BYTES - 1}; group by shorter keys, or use the memory state store`,
    storeContext(operatorId, partition),
  );
}

class LmdbStateStore extends OverlayStore implements StateStore {
  private commitTimeMs = 0;
  private committed: CommitStats | undefined;

  constructor(
    private readonly provider: LmdbStateStoreProvider,
    readonly env: Env,
    version: number,
    /** The newest committed version when this store was opened. */
    readonly latestAtOpen: number,
    /** Keys whose value at `version` differs from the database (a replay): raw value, or null = absent. */
    private readonly view: Map<string, Buffer | null> | undefined,
    readonly numKeysAtOpen: number,
    private readonly openStats: OpenStats,
  ) {
    super(env.operatorId, env.partition, version, env);
  }

  get(key: string): unknown {
    this.ensureOpen();
    const o = this.overlay.get(key);
    if (o !== undefined) return o === TOMBSTONE ? undefined : o;
    return this.committedGet(key);
  }

  /** Every read decodes a fresh copy, so in-place changes never reach committed state. */
  getForUpdate(key: string): unknown {
    return this.get(key);
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
    this.ensureOpen();
    checkKey(key, this.operatorId, this.partition);
    if (value === undefined) throw invalidValue(key, this.operatorId, this.partition);
    if (key.length > SAFE_KEY_LENGTH) {
      const n = encodedKeyLength(key);
      if (n > MAX_KEY_BYTES) throw keyTooLarge(key, n, this.operatorId, this.partition);
    }
    this.overlay.set(key, value);
  }

  delete(key: string): void {
    this.ensureOpen();
    this.overlay.set(key, TOMBSTONE);
  }

  range(options?: RangeOptions): Iterable<[string, unknown]> {
    this.ensureOpen();
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
      this.ensureOpen();
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
    this.ensureOpen();
    this.status = 'committing';
    const t0 = performance.now();
    try {
      this.committed = this.provider.commit(this, this.overlay);
    } catch (e) {
      this.leave('failed');
      throw e;
    }
    this.commitTimeMs = performance.now() - t0;
    this.leave('committed');
    return this.version + 1;
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
}
