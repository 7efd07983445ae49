/**
 * `millrace checkpoint inspect <dir>`: what a query's checkpoint holds, read
 * without locking it (safe while the query runs; a batch may move on meanwhile).
 *
 *   <dir>/metadata   offsets/N   commits/N   sources/<name>/   sinks/<name>/   state/<op>/<partition>/   .lock
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Checkpoint, decideRecovery, MillraceError, type Offset } from 'millrace';
import { redact } from '../redact.ts';
import { CliError, EXIT, fmtBytes, textTable } from './args.ts';

export interface StateOperatorInfo {
  readonly operator: string;
  readonly store: 'memory' | 'lmdb' | 'unknown';
  readonly partitions: number;
  /** Newest state version on disk (memory store: from its file names; LMDB keeps it inside: null). */
  readonly latestVersion: number | null;
  /** Versions with a file on disk (memory store). */
  readonly versions: number;
  readonly snapshots: number;
  readonly bytes: number;
}

export interface CheckpointReport {
  readonly checkpoint: string;
  readonly query: { readonly id: string; readonly name: string; readonly createdAt: string } | null;
  readonly lock: { readonly pid: number; readonly alive: boolean } | null;
  readonly batches: {
    readonly offsets: { readonly count: number; readonly first: number | null; readonly last: number | null };
    readonly commits: { readonly count: number; readonly first: number | null; readonly last: number | null };
    readonly lastCommittedBatchId: number | null;
    readonly lastBatchTimestamp: string | null;
  };
  readonly next: {
    readonly kind: 'fresh' | 'resume' | 'replay' | 'inconsistent';
    readonly batchId: number;
    readonly detail: string;
  };
  readonly watermark: {
    readonly lastBatch: string | null;
    readonly nextBatch: string | null;
    readonly slots: Record<string, string>;
  };
  readonly sources: {
    readonly name: string;
    readonly lastPlannedOffset: Offset | null;
    readonly committedOffset: Offset | null;
    readonly files: number;
    readonly bytes: number;
  }[];
  readonly stateOperators: StateOperatorInfo[];
  readonly sinks: { readonly name: string; readonly files: number; readonly bytes: number }[];
}

async function exists(p: string): Promise<boolean> {
  return fsp.stat(p).then(
    () => true,
    () => false,
  );
}

async function dirUsage(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  let entries;
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch {
    return { files, bytes };
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      const u = await dirUsage(p);
      files += u.files;
      bytes += u.bytes;
    } else if (e.isFile()) {
      files++;
      bytes += (await fsp.stat(p)).size;
    }
  }
  return { files, bytes };
}

async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await fsp.readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

async function stateOperators(stateDir: string): Promise<StateOperatorInfo[]> {
  const out: StateOperatorInfo[] = [];
  for (const op of await subdirs(stateDir)) {
    let store: StateOperatorInfo['store'] = 'unknown';
    let latest: number | null = null;
    const versions = new Set<number>();
    let snapshots = 0;
    const partitions = await subdirs(path.join(stateDir, op));
    for (const part of partitions) {
      const pdir = path.join(stateDir, op, part);
      const names = await fsp.readdir(pdir).catch(() => [] as string[]);
      if (names.includes('lmdb')) store = 'lmdb';
      for (const n of names) {
        const m = /^(\d+)\.(delta|snapshot)$/.exec(n);
        if (!m) continue;
        if (store === 'unknown') store = 'memory';
        const v = Number(m[1]);
        versions.add(v);
        if (m[2] === 'snapshot') snapshots++;
        if (latest === null || v > latest) latest = v;
      }
    }
    const usage = await dirUsage(path.join(stateDir, op));
    out.push({
      operator: op,
      store,
      partitions: partitions.length,
      latestVersion: latest,
      versions: versions.size,
      snapshots,
      bytes: usage.bytes,
    });
  }
  return out;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const iso = (ms: number | undefined) =>
  ms === undefined || !Number.isFinite(ms) ? null : new Date(ms).toISOString();

export async function inspectCheckpoint(dir: string): Promise<CheckpointReport> {
  const abs = path.resolve(dir);
  const st = await fsp.stat(abs).catch(() => null);
  if (!st) throw new CliError(`millrace checkpoint inspect: ${abs} does not exist`, EXIT.failure);
  if (!st.isDirectory())
    throw new CliError(`millrace checkpoint inspect: ${abs} is not a directory`, EXIT.failure);
  if (
    !(await exists(path.join(abs, 'metadata'))) &&
    !(await exists(path.join(abs, 'offsets'))) &&
    !(await exists(path.join(abs, 'commits')))
  ) {
    throw new CliError(
      `millrace checkpoint inspect: ${abs} is not a checkpoint directory (it has no metadata, offsets/ or commits/); ` +
        'give the checkpointLocation of a query',
      EXIT.failure,
    );
  }
  let info;
  try {
    info = await Checkpoint.inspect(abs);
  } catch (e) {
    throw new CliError(`millrace checkpoint inspect: ${(e as Error).message}`, EXIT.failure);
  }
  const { state, batches, commits, metadata } = info;
  const lastOffsets = state.lastOffsets;
  const lastCommit = state.lastCommit;

  // The engine's own decision (the one the next run will make), not a copy of its rules.
  let next: CheckpointReport['next'];
  try {
    const d = decideRecovery(state, abs);
    next =
      d.kind === 'fresh'
        ? {
            kind: 'fresh',
            batchId: 0,
            detail: "no batch has run: the query starts from its sources' beginning",
          }
        : d.kind === 'resume'
          ? {
              kind: 'resume',
              batchId: d.nextBatchId,
              detail: `batch ${d.nextBatchId - 1} is committed; the next run starts batch ${d.nextBatchId}`,
            }
          : {
              kind: 'replay',
              batchId: d.batchId,
              detail: `batch ${d.batchId} was planned but not committed: the next run re-runs it with the recorded offsets`,
            };
  } catch (e) {
    if (!(e instanceof MillraceError) || e.code !== 'CHECKPOINT_CORRUPT') throw e;
    next = { kind: 'inconsistent', batchId: lastOffsets?.batchId ?? 0, detail: e.message };
  }

  // The offsets each source has committed: the end of the last committed batch.
  const committed =
    lastOffsets && lastCommit?.batchId === lastOffsets.batchId
      ? lastOffsets.entry.offsets
      : (state.previousOffsets?.offsets ?? {});
  const sourceNames = new Set([
    ...Object.keys(lastOffsets?.entry.offsets ?? {}),
    ...Object.keys(committed),
    ...(await subdirs(path.join(abs, 'sources'))),
  ]);
  const sources = [];
  for (const name of [...sourceNames].sort()) {
    const u = await dirUsage(path.join(abs, 'sources', name));
    sources.push({
      name,
      lastPlannedOffset: lastOffsets?.entry.offsets[name] ?? null,
      committedOffset: committed[name] ?? null,
      files: u.files,
      bytes: u.bytes,
    });
  }
  const sinks = [];
  for (const name of await subdirs(path.join(abs, 'sinks'))) {
    sinks.push({ name, ...(await dirUsage(path.join(abs, 'sinks', name))) });
  }

  let lock: CheckpointReport['lock'] = null;
  const lockText = await fsp.readFile(path.join(abs, '.lock'), 'utf8').catch(() => null);
  const pid = lockText ? Number(lockText.trim()) : NaN;
  if (Number.isInteger(pid)) lock = { pid, alive: isAlive(pid) };

  const range = (ids: number[]) => ({ count: ids.length, first: ids[0] ?? null, last: ids.at(-1) ?? null });
  const slots: Record<string, string> = {};
  for (const [k, v] of Object.entries(lastCommit?.entry.watermarks ?? lastOffsets?.entry.watermarks ?? {})) {
    slots[k] = iso(v) ?? String(v);
  }
  return redact({
    checkpoint: abs,
    query: metadata,
    lock,
    batches: {
      offsets: range(batches),
      commits: range(commits),
      lastCommittedBatchId: lastCommit?.batchId ?? null,
      lastBatchTimestamp: iso(lastOffsets?.entry.batchTimestampMs),
    },
    next,
    watermark: {
      lastBatch: iso(lastOffsets?.entry.batchWatermarkMs),
      nextBatch: iso(lastCommit?.entry.nextBatchWatermarkMs),
      slots,
    },
    sources,
    stateOperators: await stateOperators(path.join(abs, 'state')),
    sinks,
  });
}

function offsetText(o: Offset | null): string {
  if (o === null) return '-';
  const t = JSON.stringify(o);
  return t.length > 60 ? `${t.slice(0, 57)}...` : t;
}

/** The report as readable text. */
export function formatCheckpointReport(r: CheckpointReport): string {
  const b = r.batches;
  const span = (x: { count: number; first: number | null; last: number | null }) =>
    x.count === 0 ? 'none' : `${x.first}..${x.last} (${x.count} kept)`;
  const lines = [
    `Checkpoint  ${r.checkpoint}`,
    `Query       ${r.query ? `${r.query.name}  id ${r.query.id}  created ${r.query.createdAt}` : '(no metadata yet)'}`,
    `Lock        ${r.lock ? `pid ${r.lock.pid} (${r.lock.alive ? 'running' : 'not running: a stale lock, taken over on the next start'})` : 'none (no query is running on it)'}`,
    `Batches     offsets ${span(b.offsets)}; commits ${span(b.commits)}`,
    `Last commit ${b.lastCommittedBatchId === null ? 'none' : `batch ${b.lastCommittedBatchId}`}${b.lastBatchTimestamp ? `  (last batch time ${b.lastBatchTimestamp})` : ''}`,
    `Next        ${r.next.kind}: ${r.next.detail}`,
    `Watermark   last batch ran with ${r.watermark.lastBatch ?? '-'}; next batch ${r.watermark.nextBatch ?? '-'}`,
  ];
  for (const [slot, wm] of Object.entries(r.watermark.slots)) lines.push(`              slot ${slot}: ${wm}`);
  lines.push('', 'Sources');
  lines.push(
    r.sources.length === 0
      ? '  (none)'
      : textTable(
          ['name', 'committed offset', 'last planned offset', 'files', 'size'],
          r.sources.map((s) => [
            s.name,
            offsetText(s.committedOffset),
            offsetText(s.lastPlannedOffset),
            s.files,
            fmtBytes(s.bytes),
          ]),
        )
          .split('\n')
          .map((l) => `  ${l}`)
          .join('\n'),
  );
  lines.push('', 'State operators');
  lines.push(
    r.stateOperators.length === 0
      ? '  (none: a stateless query)'
      : textTable(
          ['operator', 'store', 'partitions', 'latest version', 'versions', 'snapshots', 'size'],
          r.stateOperators.map((o) => [
            o.operator,
            o.store,
            o.partitions,
            o.latestVersion === null ? '-' : String(o.latestVersion),
            o.versions,
            o.snapshots,
            fmtBytes(o.bytes),
          ]),
        )
          .split('\n')
          .map((l) => `  ${l}`)
          .join('\n'),
  );
  lines.push('', 'Sinks');
  lines.push(
    r.sinks.length === 0
      ? '  (none with files)'
      : textTable(
          ['name', 'files', 'size'],
          r.sinks.map((s) => [s.name, s.files, fmtBytes(s.bytes)]),
        )
          .split('\n')
          .map((l) => `  ${l}`)
          .join('\n'),
  );
  return lines.join('\n');
}
