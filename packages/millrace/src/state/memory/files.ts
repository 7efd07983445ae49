/**
 * The memory store's files, one per version, in `<stateDir>/<operatorId>/<partition>/`:
 *
 *   <V>.delta      v2\n + msgpack ['delta', V, [key, value, key, value, …]]: the version's puts and
 *                  deletes in order (value undefined: deleted; stored values never are)
 *   <V>.snapshot   v3, in frames: all entries of version V (see ./snapshotFile.ts)
 *   <V>-<W>.snapshot  v3: an incremental snapshot started at V and finished at W (see ./snapshotFile.ts)
 *
 * Snapshots written before frames (format v2: msgpack ['snapshot', V, Map<key, value>]) still load.
 *
 * Bodies use msgpackr with `structuredClone` so Map, Set, Uint8Array, Date
 * and shared references round-trip. Files are written atomically, so a torn
 * or garbled file means the checkpoint was damaged: it fails loudly.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Packr } from 'msgpackr';
import { userError, type ErrorContext } from '../../errors/index.ts';
import { stateCorrupt } from '../common.ts';

export const FORMAT_LINE = 'v2';
const HEADER = Buffer.from(`${FORMAT_LINE}\n`, 'latin1');

/** The msgpackr options every state value goes through (also used by the LMDB store). */
export const VALUE_CODEC_OPTIONS = { structuredClone: true, copyBuffers: true } as const;

export function createPackr(): Packr {
  return new Packr(VALUE_CODEC_OPTIONS);
}

export type StateFileKind = 'delta' | 'snapshot';

export function fileName(version: number, kind: StateFileKind): string {
  return `${version}.${kind}`;
}

const FILE_RE = /^(\d+)(?:-(\d+))?\.(delta|snapshot)$/;

/** A snapshot on disk: replaying deltas base+1..V over it gives version V, for V ≥ upTo. */
export interface SnapshotRef {
  readonly base: number;
  readonly upTo: number;
  readonly name: string;
}

export interface DirListing {
  readonly deltas: ReadonlySet<number>;
  /** Ascending by base. */
  readonly snapshots: readonly SnapshotRef[];
  /** Highest version with any file; 0 when there are none. */
  readonly latest: number;
  /** Leftover temp files of interrupted atomic writes. */
  readonly temps: readonly string[];
}

export async function listDir(dir: string): Promise<DirListing> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      return { deltas: new Set(), snapshots: [], latest: 0, temps: [] };
    throw e;
  }
  const deltas = new Set<number>();
  const snapshots: SnapshotRef[] = [];
  const temps: string[] = [];
  let latest = 0;
  for (const n of names) {
    const m = FILE_RE.exec(n);
    if (m === null) {
      if (n.startsWith('.') && n.endsWith('.tmp')) temps.push(n);
      continue;
    }
    const v = Number(m[1]);
    const upTo = m[2] === undefined ? v : Number(m[2]);
    if (m[3] === 'delta') {
      if (m[2] !== undefined) continue;
      deltas.add(v);
    } else {
      if (upTo < v) continue;
      snapshots.push({ base: v, upTo, name: n });
    }
    if (upTo > latest) latest = upTo;
  }
  snapshots.sort((a, b) => a.base - b.base || a.upTo - b.upTo);
  return { deltas, snapshots, latest, temps };
}

export function encodeFile(packr: Packr, body: unknown): Buffer {
  const packed = packr.pack(body);
  return Buffer.concat([HEADER, packed], HEADER.length + packed.length);
}

/** `ops`: keys and values interleaved, in order (undefined: the key was deleted). */
export function encodeDelta(packr: Packr, version: number, ops: readonly unknown[]): Buffer {
  return encodeFile(packr, ['delta', version, ops]);
}

/** A delta's puts and deletes in order: key, value (undefined: deleted), key, value… */
export type DeltaOps = readonly unknown[];

/** Read and check one file; `expect` is its version and kind (from its name). */
export async function readStateFile(
  packr: Packr,
  dir: string,
  version: number,
  kind: 'delta',
  context: ErrorContext,
): Promise<DeltaOps>;
export async function readStateFile(
  packr: Packr,
  dir: string,
  version: number,
  kind: 'snapshot',
  context: ErrorContext,
): Promise<Map<string, unknown>>;
export async function readStateFile(
  packr: Packr,
  dir: string,
  version: number,
  kind: StateFileKind,
  context: ErrorContext,
): Promise<DeltaOps | Map<string, unknown>> {
  const file = path.join(dir, fileName(version, kind));
  const ctx = { ...context, file };
  let buf: Buffer;
  try {
    buf = await fsp.readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw stateCorrupt(`state file ${file} is missing`, ctx, e);
    }
    throw e;
  }
  const nl = buf.indexOf(0x0a);
  const line = buf.subarray(0, nl < 0 ? Math.min(buf.length, 20) : Math.min(nl, 20)).toString('latin1');
  if (nl < 0 || line !== FORMAT_LINE) {
    if (nl >= 0 && /^v\d+$/.test(line)) {
      throw userError(
        'CHECKPOINT_UNSUPPORTED_VERSION',
        `state file ${file} starts with "${line}", expected "${FORMAT_LINE}"; ` +
          `it was written by an incompatible Millrace version`,
        ctx,
      );
    }
    throw stateCorrupt(
      `state file ${file} does not start with "${FORMAT_LINE}" (it is truncated or not a state file)`,
      ctx,
    );
  }
  let body: unknown;
  try {
    body = packr.unpack(buf.subarray(nl + 1));
  } catch (e) {
    throw stateCorrupt(
      `state file ${file} cannot be decoded (${(e as Error).message}); it is truncated or damaged`,
      ctx,
      e,
    );
  }
  const b = body as unknown[];
  const ok =
    Array.isArray(b) &&
    b[0] === kind &&
    b[1] === version &&
    b.length === 3 &&
    (kind === 'snapshot' ? b[2] instanceof Map : Array.isArray(b[2]) && b[2].length % 2 === 0);
  if (!ok) {
    throw stateCorrupt(
      `state file ${file} does not hold the ${kind} of version ${version}; it is damaged`,
      ctx,
    );
  }
  if (kind === 'snapshot') return b[2] as Map<string, unknown>;
  return b[2] as DeltaOps;
}
