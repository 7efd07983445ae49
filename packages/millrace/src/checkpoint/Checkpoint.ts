/**
 * Thin I/O over a query's checkpoint directory:
 *
 *   <dir>/metadata            query id and name (written once)
 *   <dir>/layout              state partitions and each stateful operator's key/value fields (layout.ts)
 *   <dir>/offsets/<N>         write-ahead: batch N's end offsets, watermark, timestamp — before N runs
 *   <dir>/commits/<N>         batch N is done: sink written, state committed
 *   <dir>/sources/<name>/     each source's own files (file lists, write-ahead logs, start times)
 *   <dir>/sinks/<name>/       the sink's own files
 *   <dir>/state/              state store versions (stateful operators)
 *   <dir>/.lock               pid of the process running the query
 *
 * Every file is written to a temp name, fsynced and renamed (util/fs.ts).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { externalError, userError } from '../errors/index.ts';
import { ensureDir, readIfExists, writeFileAtomic } from '../util/fs.ts';
import {
  type CommitEntry,
  type OffsetEntry,
  type QueryMetadata,
  decodeCommit,
  decodeMetadata,
  decodeOffsets,
  encodeCommit,
  encodeMetadata,
  encodeOffsets,
} from './format.ts';
import type { CheckpointState } from './recovery.ts';
import { type StateLayout, decodeLayout, encodeLayout } from './layout.ts';

/** Checkpoint directories held by queries of this process (a second query on one is an error). */
const heldHere = new Set<string>();

export class Checkpoint {
  private constructor(
    readonly dir: string,
    readonly metadata: QueryMetadata,
  ) {}

  /** Open (creating if needed) and lock a checkpoint directory for one running query. */
  static async open(dir: string, options: { queryName: string }): Promise<Checkpoint> {
    const abs = path.resolve(dir);
    try {
      await ensureDir(path.join(abs, 'offsets'));
      await ensureDir(path.join(abs, 'commits'));
    } catch (e) {
      throw externalError(
        'CHECKPOINT_IO',
        `cannot create checkpoint directory ${abs}: ${(e as Error).message}`,
        {
          cause: e,
          retryable: false,
        },
      );
    }
    await lock(abs);
    // Only now (holding the lock) is it safe to delete leftovers of writes a crash interrupted,
    // including those of connectors' own files (they all write through writeFileAtomic).
    await removeTempFiles(abs);
    const metaFile = path.join(abs, 'metadata');
    const text = await readIfExists(metaFile);
    let metadata: QueryMetadata;
    if (text === undefined) {
      metadata = { id: randomUUID(), name: options.queryName, createdAt: new Date().toISOString() };
      await writeFileAtomic(metaFile, encodeMetadata(metadata));
    } else {
      metadata = decodeMetadata(text, metaFile);
    }
    return new Checkpoint(abs, metadata);
  }

  /** Read a checkpoint without locking it (for `checkpoint inspect`). */
  static async inspect(dir: string): Promise<{
    metadata: QueryMetadata | null;
    state: CheckpointState;
    batches: number[];
    commits: number[];
  }> {
    const abs = path.resolve(dir);
    const text = await readIfExists(path.join(abs, 'metadata'));
    const cp = new Checkpoint(
      abs,
      text ? decodeMetadata(text, path.join(abs, 'metadata')) : { id: '', name: '', createdAt: '' },
    );
    return {
      metadata: text ? cp.metadata : null,
      state: await cp.readState(),
      batches: await cp.listIds('offsets'),
      commits: await cp.listIds('commits'),
    };
  }

  /**
   * The state layout recorded in a checkpoint directory, without locking it (undefined: none yet).
   * Read before planning, to learn the partition count the checkpoint was created with.
   */
  static async readLayoutAt(dir: string): Promise<StateLayout | undefined> {
    const file = path.join(path.resolve(dir), 'layout');
    const text = await readIfExists(file);
    return text === undefined ? undefined : decodeLayout(text, file);
  }

  async readLayout(): Promise<StateLayout | undefined> {
    return Checkpoint.readLayoutAt(this.dir);
  }

  async writeLayout(layout: StateLayout): Promise<void> {
    await writeFileAtomic(path.join(this.dir, 'layout'), encodeLayout(layout));
  }

  async release(): Promise<void> {
    heldHere.delete(this.dir);
    await fsp.rm(path.join(this.dir, '.lock'), { force: true });
  }

  /** Everything recovery needs to decide (see recovery.ts). */
  async readState(): Promise<CheckpointState> {
    const offsets = await this.listIds('offsets');
    const commits = await this.listIds('commits');
    const last = offsets.at(-1);
    const lastCommit = commits.at(-1);
    return {
      lastOffsets: last === undefined ? null : { batchId: last, entry: await this.readOffsets(last) },
      previousOffsets:
        last !== undefined && offsets.includes(last - 1) ? await this.readOffsets(last - 1) : null,
      lastCommit:
        lastCommit === undefined ? null : { batchId: lastCommit, entry: await this.readCommit(lastCommit) },
    };
  }

  async readOffsets(batchId: number): Promise<OffsetEntry> {
    const file = path.join(this.dir, 'offsets', String(batchId));
    return decodeOffsets(await fsp.readFile(file, 'utf8'), file);
  }

  async readCommit(batchId: number): Promise<CommitEntry> {
    const file = path.join(this.dir, 'commits', String(batchId));
    return decodeCommit(await fsp.readFile(file, 'utf8'), file);
  }

  /** The write-ahead step: batch N's offsets are durable before N is processed. */
  async writeOffsets(batchId: number, entry: OffsetEntry): Promise<void> {
    const file = path.join(this.dir, 'offsets', String(batchId));
    if ((await readIfExists(file)) !== undefined) {
      throw userError(
        'CHECKPOINT_CONFLICT',
        `offsets/${batchId} already exists in ${this.dir}: another run of this query is writing the same checkpoint`,
      );
    }
    await writeFileAtomic(file, encodeOffsets(entry));
  }

  async writeCommit(batchId: number, entry: CommitEntry): Promise<void> {
    await writeFileAtomic(path.join(this.dir, 'commits', String(batchId)), encodeCommit(entry));
  }

  /** Drop log entries older than the newest `keep` batches (Spark's minBatchesToRetain). */
  async purge(keep: number): Promise<void> {
    if (!(keep >= 1)) return; // never delete the entries recovery needs
    for (const kind of ['offsets', 'commits'] as const) {
      const ids = await this.listIds(kind);
      const newest = ids.at(-1);
      if (newest === undefined) continue;
      for (const id of ids) {
        if (id <= newest - keep) await fsp.rm(path.join(this.dir, kind, String(id)), { force: true });
      }
    }
  }

  /** A directory for a source's own files, created on demand. */
  async sourceDir(name: string): Promise<string> {
    const d = path.join(this.dir, 'sources', safeName(name));
    await ensureDir(d);
    return d;
  }

  async sinkDir(name: string): Promise<string> {
    const d = path.join(this.dir, 'sinks', safeName(name));
    await ensureDir(d);
    return d;
  }

  async listIds(kind: 'offsets' | 'commits'): Promise<number[]> {
    let names: string[];
    try {
      names = await fsp.readdir(path.join(this.dir, kind));
    } catch {
      return [];
    }
    return names
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .sort((a, b) => a - b);
  }
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

async function lock(dir: string): Promise<void> {
  const file = path.join(dir, '.lock');
  if (heldHere.has(dir)) {
    throw userError(
      'CHECKPOINT_IN_USE',
      `checkpoint ${dir} is used by another active query in this process; give each query its own checkpointLocation`,
    );
  }
  // Claim it before any await, so two queries starting together cannot both pass the check.
  heldHere.add(dir);
  try {
    const text = await readIfExists(file);
    const pid = text ? Number(text.trim()) : NaN;
    if (Number.isInteger(pid) && pid !== process.pid && isAlive(pid)) {
      throw userError(
        'CHECKPOINT_IN_USE',
        `checkpoint ${dir} is locked by process ${pid}, which is still running; stop it first or use another checkpointLocation`,
      );
    }
    await writeFileAtomic(file, `${process.pid}\n`);
  } catch (e) {
    heldHere.delete(dir);
    throw e;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Leftovers of atomic writes interrupted by a crash (writeFileAtomic's `.<name>.<pid>.<ms>.tmp`), recursively. */
async function removeTempFiles(dir: string): Promise<void> {
  for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await removeTempFiles(p);
    else if (entry.name.startsWith('.') && entry.name.endsWith('.tmp')) await fsp.rm(p, { force: true });
  }
}
