/**
 * Pieces shared by the state store implementations: option checks, the
 * per-partition directory, range bounds, the overlay tombstone, size
 * estimates and the errors both stores raise.
 */
import * as path from 'node:path';
import { MillraceError, userError, type ErrorContext } from '../errors/index.ts';
import type { StateStoreOpenOptions } from './StateStore.ts';

/** Marks a key deleted in a batch's overlay (values can never be a symbol). */
export const TOMBSTONE: unique symbol = Symbol('millrace.state.deleted');
export type OverlayValue = unknown;

export type StoreStatus =
  'open' | 'committing' | 'committed' | 'aborted' | 'failed' | 'superseded' | 'closed';

/**
 * The lifecycle both stores share: a batch's changes sit in `overlay` while the store is open;
 * the provider's slot for the operator/partition points at its one open store (`slot.owner`).
 * Every way out of 'open' (commit, failure, abort, a newer open, close) clears the overlay and
 * gives the slot up.
 */
export abstract class OverlayStore {
  protected status: StoreStatus = 'open';
  protected readonly overlay = new Map<string, OverlayValue>();

  constructor(
    readonly operatorId: string,
    readonly partition: number,
    readonly version: number,
    private readonly slot: { owner: unknown },
  ) {}

  abort(): void {
    if (this.status === 'open') this.leave('aborted');
  }

  /** The same operator/partition was opened again: this store is dead. */
  supersede(): void {
    if (this.status === 'open') this.leave('superseded');
    else {
      // Superseded mid-commit: whatever the commit does now, the new owner must not share
      // what this batch may have changed in place.
      if (this.status === 'committing') this.discarded();
      this.releaseSlot();
    }
  }

  /** The provider was closed. */
  markClosed(): void {
    if (this.status === 'open') this.leave('closed');
    else this.releaseSlot();
  }

  /** Leave the open state: drop this batch's changes and the provider's slot. */
  protected leave(status: StoreStatus): void {
    this.status = status;
    this.overlay.clear();
    if (status !== 'committed') this.discarded();
    this.releaseSlot();
  }

  /** Called once when the batch's changes are dropped (abort, failure, supersede, close). */
  protected discarded(): void {}

  protected ensureOpen(): void {
    if (this.status !== 'open') throw this.notOpen();
  }

  protected notOpen(): MillraceError {
    return storeNotOpen(this.status, this.operatorId, this.partition, this.version);
  }

  private releaseSlot(): void {
    if (this.slot.owner === this) this.slot.owner = undefined;
  }
}

/** Check operatorId / partition (and version, when given) and return the partition directory. */
export function partitionDir(options: Omit<StateStoreOpenOptions, 'version'>, what: string): string {
  const { stateDir, operatorId, partition } = options;
  if (typeof stateDir !== 'string' || stateDir === '') {
    throw userError(
      'INVALID_ARGUMENT',
      `${what}: stateDir must be a non-empty path, got ${JSON.stringify(stateDir)}`,
    );
  }
  if (
    typeof operatorId !== 'string' ||
    operatorId === '' ||
    operatorId === '.' ||
    operatorId === '..' ||
    /[/\\\0]/.test(operatorId)
  ) {
    throw userError(
      'INVALID_ARGUMENT',
      `${what}: operatorId ${JSON.stringify(operatorId)} must be a non-empty name usable as a directory ` +
        `(no "/", "\\", NUL, "." or "..")`,
    );
  }
  if (!Number.isSafeInteger(partition) || partition < 0) {
    throw userError(
      'INVALID_ARGUMENT',
      `${what}: partition must be a non-negative integer, got ${String(partition)}`,
      { operator: operatorId },
    );
  }
  return path.join(stateDir, operatorId, String(partition));
}

export function checkVersion(
  version: unknown,
  what: string,
  context: ErrorContext,
): asserts version is number {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
    throw userError(
      'INVALID_ARGUMENT',
      `${what} must be a non-negative integer, got ${String(version)}`,
      context,
    );
  }
}

export function storeContext(operatorId: string, partition: number, extra?: ErrorContext): ErrorContext {
  return { operator: operatorId, partition, ...extra };
}

/** A state file or database that cannot be used to load a version. */
export function stateCorrupt(message: string, context: ErrorContext, cause?: unknown): MillraceError {
  return new MillraceError(
    'CHECKPOINT_CORRUPT',
    `${message}. Restore the checkpoint from a backup, or move it aside to start the query over`,
    { domain: 'user', context, cause },
  );
}

/** Use of a store after commit/abort, or after a newer open of the same operator/partition. */
export function storeNotOpen(
  status: StoreStatus,
  operatorId: string,
  partition: number,
  version: number,
): MillraceError {
  const why =
    status === 'superseded'
      ? 'the same operator/partition was opened again since (one open store per operator/partition at a time)'
      : status === 'closed'
        ? 'its provider was closed'
        : status === 'committing'
          ? 'its commit is in progress'
          : `it was already ${status === 'failed' ? 'failed by an earlier commit error' : status}`;
  return new MillraceError(
    'STATE_STORE_NOT_OPEN',
    `state store of operator ${operatorId} partition ${partition} (version ${version}) cannot be used: ${why}; ` +
      `open a new store for the next batch`,
    { domain: 'internal', context: storeContext(operatorId, partition) },
  );
}

export function invalidValue(key: string, operatorId: string, partition: number): MillraceError {
  return userError(
    'STATE_VALUE_INVALID',
    `state value for key ${JSON.stringify(key.slice(0, 100))} is undefined; use delete(key) to remove a key`,
    storeContext(operatorId, partition),
  );
}

/**
 * Keys must be well-formed UTF-16: files and msgpack hold UTF-8, where a lone
 * surrogate would silently become U+FFFD (a different key after a restart).
 * JSON.stringify never produces lone surrogates, so encoded grouping keys pass.
 */
export function checkKey(key: unknown, operatorId: string, partition: number): void {
  if (typeof key === 'string' && (key as unknown as { isWellFormed(): boolean }).isWellFormed()) return;
  throw userError(
    'STATE_KEY_INVALID',
    typeof key !== 'string'
      ? `state keys must be strings, got ${typeof key}; encode grouping keys as strings`
      : `state key ${JSON.stringify(key.slice(0, 100))} has a lone surrogate (malformed UTF-16); ` +
          `encode grouping keys with JSON.stringify, which escapes them`,
    storeContext(operatorId, partition),
  );
}

// ---------------------------------------------------------------------------
// Ranges

export interface RangeOptions {
  readonly prefix?: string;
  readonly start?: string;
  readonly end?: string;
}

/** [lower, end) ∩ keys starting with prefix, in UTF-16 code unit order. */
export class RangeBounds {
  readonly lower: string;
  readonly end: string | undefined;
  readonly prefix: string | undefined;
  constructor(options: RangeOptions | undefined) {
    const prefix = options?.prefix;
    const start = options?.start;
    const end = options?.end;
    this.prefix = prefix === undefined || prefix === '' ? undefined : prefix;
    let lower = start ?? '';
    if (this.prefix !== undefined && this.prefix > lower) lower = this.prefix;
    this.lower = lower;
    this.end = end;
  }
  /** True when no key can be in range. */
  get empty(): boolean {
    return this.end !== undefined && this.end <= this.lower;
  }
  contains(key: string): boolean {
    return (
      key >= this.lower &&
      (this.end === undefined || key < this.end) &&
      (this.prefix === undefined || key.startsWith(this.prefix))
    );
  }
  /** For a key ≥ lower, in order: true once no later key can be in range. */
  past(key: string): boolean {
    return (
      (this.end !== undefined && key >= this.end) ||
      (this.prefix !== undefined && !key.startsWith(this.prefix))
    );
  }
}

/** The keys of some maps that are in range, sorted and without duplicates. */
export function sortedKeysInRange(
  bounds: RangeBounds,
  ...maps: ReadonlyArray<ReadonlyMap<string, unknown> | undefined>
): string[] {
  const keys: string[] = [];
  for (const m of maps) {
    if (m === undefined) continue;
    for (const k of m.keys()) if (bounds.contains(k)) keys.push(k);
  }
  keys.sort();
  let w = 0;
  for (let i = 0; i < keys.length; i++) if (i === 0 || keys[i] !== keys[w - 1]) keys[w++] = keys[i]!;
  keys.length = w;
  return keys;
}

/** First index i with arr[i] >= key (arr sorted). */
export function lowerBound(arr: readonly string[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------
// Size estimates (cheap, sampled; for metrics only)

const SAMPLE = 8;

/** Rough bytes a JS value takes on the heap; looks at a few elements of large collections. */
export function estimateBytes(v: unknown, depth = 0): number {
  switch (typeof v) {
    case 'number':
      return 8;
    case 'string':
      return 16 + v.length;
    case 'boolean':
      return 4;
    case 'bigint':
      return 24;
    case 'object': {
      if (v === null) return 4;
      if (depth > 3) return 64;
      if (ArrayBuffer.isView(v)) return 64 + v.byteLength;
      if (Array.isArray(v)) {
        const n = v.length;
        let s = 0;
        const m = Math.min(n, SAMPLE);
        for (let i = 0; i < m; i++) s += estimateBytes(v[i], depth + 1);
        return 32 + 8 * n + (m === 0 ? 0 : (s / m) * n);
      }
      if (v instanceof Map || v instanceof Set) {
        const n = v.size;
        let s = 0;
        let m = 0;
        for (const e of v instanceof Map ? v.entries() : v.values()) {
          s += Array.isArray(e)
            ? estimateBytes(e[0], depth + 1) + estimateBytes(e[1], depth + 1)
            : estimateBytes(e, depth + 1);
          if (++m >= SAMPLE) break;
        }
        return 48 + 24 * n + (m === 0 ? 0 : (s / m) * n);
      }
      let s = 24;
      let m = 0;
      for (const k in v) {
        s += 8 + estimateBytes((v as Record<string, unknown>)[k], depth + 1);
        if (++m >= 4 * SAMPLE) break;
      }
      return s;
    }
    default:
      return 16;
  }
}

/** Map entry overhead (hash table slots) plus key string plus value. */
export function estimateEntryBytes(key: string, value: unknown): number {
  return 32 + 16 + key.length + estimateBytes(value);
}
