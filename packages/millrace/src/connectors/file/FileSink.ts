/**
 * fileSink: writes each micro-batch as files in a directory, committed through
 * a manifest, as Spark's file sink (`_spark_metadata`).
 *
 * Batch N:
 *   1. rows are grouped by partition (Hive-style `col=value/` directories);
 *      each group becomes `part-<N, 10 digits>-<k, 5 digits>.<ext>`
 *   2. each file is written under a temp name starting with '.', fsynced and
 *      renamed into place; the directories are fsynced
 *   3. `_millrace_manifest/<N>` is written atomically: "v1", then one JSON
 *      line with the batch's files. This is the commit point.
 * Readers list only files named in manifests, so files of a batch that
 * crashed before step 3 are invisible; they are overwritten when the batch is
 * replayed (same names) and removed at the next open. A batch whose manifest
 * already exists is skipped, so a replay never duplicates output.
 *
 * On worker threads (SinkTasks), task t writes its own rows as
 * `part-<N>-<t, 5 digits>-<k>.<ext>` (steps 1–2) and reports the files; the
 * driver writes the manifest from every task's report (step 3). A task that
 * finds manifest N already there writes nothing (the batch was committed by
 * an earlier run, perhaps on another number of tasks).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { MillraceError, externalError, internalError, userError } from '../../errors/index.ts';
import type { Field, Row } from '../../schema/index.ts';
import { ensureDir, exists, fsyncDir, writeFileAtomic } from '../../util/fs.ts';
import type {
  JsonValue,
  OutputMode,
  Sink,
  SinkBatchInfo,
  SinkContext,
  SinkTaskReport,
  SinkTaskWriter,
  SinkTasks,
  SinkWriteResult,
  SinkWriterContext,
} from '../contracts.ts';
import { EXTENSIONS, encodeRows, type SinkFormat } from './formats.ts';
import { BadValue, isPartitionableType, partitionSegment } from './values.ts';

export const MANIFEST_DIR = '_millrace_manifest';
export const MANIFEST_VERSION = 'v1';

export interface FileSinkOptions {
  /** Unique within a query; default `file-<directory name>`. */
  readonly name?: string;
  /** Output directory (created if missing). */
  readonly path: string;
  readonly format: SinkFormat;
  /** Hive-style partition columns, in directory order. */
  readonly partitionBy?: readonly string[];
  /** CSV only: write a header line at the top of every file (default false, as Spark). */
  readonly csv?: { readonly header?: boolean };
}

/** One committed data file, as recorded in the manifest. */
export interface ManifestFile {
  /** Relative to the sink's output directory, '/'-separated. */
  readonly path: string;
  readonly rows: number;
  readonly bytes: number;
}

export interface ManifestEntry {
  readonly batchId: number;
  readonly format: SinkFormat;
  readonly partitionBy: readonly string[];
  readonly csvHeader: boolean;
  /** The full schema of the rows (partition columns included). */
  readonly schema: readonly Field[];
  readonly files: readonly ManifestFile[];
}

const FORMATS: readonly SinkFormat[] = ['jsonl', 'csv', 'parquet'];
const PART_FILE = /^part-(\d+)-\d+(?:-\d+)?\.(?:jsonl|csv|parquet)$/;

function optionError(msg: string, sink?: string): MillraceError {
  return userError('INVALID_OPTION', `fileSink: ${msg}`, sink ? { sink } : undefined);
}

/** A manifest-committed directory of JSON-lines, CSV or parquet files. */
export function fileSink(options: FileSinkOptions): Sink {
  return new FileSink(options);
}

export function manifestText(entry: ManifestEntry): string {
  return `${MANIFEST_VERSION}\n${JSON.stringify(entry)}\n`;
}

export class FileSink implements Sink {
  readonly name: string;
  readonly guarantee = 'idempotent' as const;
  readonly supportedOutputModes: readonly OutputMode[] = ['append'];

  private readonly dir: string;
  private readonly manifestDir: string;
  private readonly format: SinkFormat;
  private readonly partitionBy: readonly string[];
  private readonly csvHeader: boolean;
  private readonly options: FileSinkOptions;

  private schemaFields: readonly Field[] | undefined;
  private dataFields: readonly Field[] = [];
  private partFields: readonly Field[] = [];

  constructor(options: FileSinkOptions) {
    if (options === null || typeof options !== 'object')
      throw optionError('pass an options object: { path, format }');
    const o = options;
    this.options = options;
    if (typeof o.path !== 'string' || o.path.trim() === '') {
      throw optionError(`"path" must be the output directory, got ${JSON.stringify(o.path)}`);
    }
    this.dir = path.resolve(o.path);
    this.manifestDir = path.join(this.dir, MANIFEST_DIR);
    if (o.name !== undefined && (typeof o.name !== 'string' || o.name.trim() === '')) {
      throw optionError(`"name" must be a non-empty string, got ${JSON.stringify(o.name)}`);
    }
    this.name = o.name ?? `file-${path.basename(this.dir).replace(/[^A-Za-z0-9_.-]/g, '_') || 'root'}`;
    if (!FORMATS.includes(o.format)) {
      throw optionError(
        `unknown format ${JSON.stringify(o.format)}; use one of ${FORMATS.map((f) => `'${f}'`).join(', ')}`,
        this.name,
      );
    }
    this.format = o.format;
    if (o.csv !== undefined && o.format !== 'csv') {
      throw optionError(
        `"csv" options apply only to format 'csv', but the format is '${o.format}'; remove them`,
        this.name,
      );
    }
    this.csvHeader = o.csv?.header ?? false;
    const pb = o.partitionBy ?? [];
    if (!Array.isArray(pb) || pb.some((c) => typeof c !== 'string' || c === '')) {
      throw optionError(
        `"partitionBy" must be a list of column names, got ${JSON.stringify(o.partitionBy)}`,
        this.name,
      );
    }
    const dup = pb.find((c, i) => pb.indexOf(c) !== i);
    if (dup !== undefined)
      throw optionError(`"partitionBy" names column "${dup}" twice; list each column once`, this.name);
    this.partitionBy = [...pb];
  }

  describe(): string {
    const parts = this.partitionBy.length ? `, partitionBy=${this.partitionBy.join(',')}` : '';
    return `FileSink[${this.dir}, ${this.format}${parts}]`;
  }

  /** Task writers on worker threads, as the driver's own writes (see the header). */
  get tasks(): SinkTasks {
    return {
      writer: {
        module: import.meta.url,
        export: 'fileTaskWriter',
        options: { ...this.options, path: this.dir } as unknown as JsonValue,
      },
      commitTasks: (reports, info) => this.commitTasks(reports, info),
    };
  }

  async open(ctx: SinkContext): Promise<void> {
    this.useSchema(ctx);
    try {
      await ensureDir(this.manifestDir);
      await this.cleanUp();
    } catch (err) {
      throw externalError(
        'SINK_UNAVAILABLE',
        `fileSink ${this.name}: cannot prepare ${this.dir}: ${(err as Error).message}`,
        {
          cause: err,
          context: { sink: this.name },
        },
      );
    }
  }

  /** Check the output mode and the partition columns against the query's output. */
  useSchema(ctx: Pick<SinkContext, 'outputMode' | 'schema'>): void {
    if (ctx.outputMode !== 'append') {
      throw userError(
        'UNSUPPORTED_OUTPUT_MODE',
        `fileSink ${this.name} supports only output mode 'append', got '${ctx.outputMode}'; use append mode (with a watermark for aggregations)`,
        { sink: this.name },
      );
    }
    const schema = ctx.schema;
    this.partFields = this.partitionBy.map((c) => {
      const f = schema.field(c);
      if (!f) {
        throw userError(
          'UNKNOWN_COLUMN',
          `fileSink ${this.name}: partition column "${c}" is not in the output; it has: ${schema.names.join(', ')}`,
          {
            sink: this.name,
          },
        );
      }
      if (!isPartitionableType(f.type)) {
        throw userError(
          'INVALID_PARTITION_COLUMN',
          `fileSink ${this.name}: cannot partition by "${c}" of type ${f.type.kind}; partition columns must be string, long, double, boolean, date or timestamp`,
          { sink: this.name },
        );
      }
      return f;
    });
    this.dataFields = schema.fields.filter((f) => !this.partitionBy.includes(f.name));
    if (this.dataFields.length === 0) {
      throw userError(
        'INVALID_PARTITION_COLUMN',
        `fileSink ${this.name}: cannot use all columns (${schema.names.join(', ')}) as partition columns; the files would be empty — leave at least one column out of partitionBy`,
        { sink: this.name },
      );
    }
    this.schemaFields = schema.fields;
  }

  /** Committed batch ids (manifest entries). */
  private async committed(): Promise<Set<number>> {
    const names = await fsp.readdir(this.manifestDir);
    return new Set(names.filter((n) => /^\d+$/.test(n)).map(Number));
  }

  /**
   * Remove what a crash left behind: temp files ('.…tmp') and data files of
   * batches without a manifest entry (they are rewritten when the batch is replayed).
   */
  private async cleanUp(): Promise<void> {
    const committed = await this.committed();
    for (const n of await fsp.readdir(this.manifestDir)) {
      if (n.startsWith('.') && n.endsWith('.tmp'))
        await fsp.rm(path.join(this.manifestDir, n), { force: true });
    }
    const walk = async (dir: string, depth: number): Promise<void> => {
      for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) {
          if (
            depth < this.partitionBy.length &&
            e.name.includes('=') &&
            !e.name.startsWith('.') &&
            !e.name.startsWith('_')
          ) {
            await walk(p, depth + 1);
          }
          continue;
        }
        if (!e.isFile()) continue;
        if (e.name.startsWith('.part-') && e.name.endsWith('.tmp')) {
          await fsp.rm(p, { force: true });
          continue;
        }
        const m = PART_FILE.exec(e.name);
        if (m && !committed.has(Number(m[1]))) await fsp.rm(p, { force: true });
      }
    };
    await walk(this.dir, 0);
  }

  async addBatch(rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult | void> {
    const batchId = info.batchId;
    if (await this.isCommitted(batchId)) return { rowsWritten: 0, metrics: { skippedReplay: 1 } };
    const files = await this.writeFiles(rows, batchId, `part-${String(batchId).padStart(10, '0')}`);
    await this.writeManifest(batchId, files);
    return {
      rowsWritten: rows.length,
      metrics: { filesWritten: files.length, bytesWritten: files.reduce((s, f) => s + f.bytes, 0) },
    };
  }

  /** Whether batch `batchId` has its manifest (it was committed, by this run or an earlier one). */
  async isCommitted(batchId: number): Promise<boolean> {
    return exists(path.join(this.manifestDir, String(batchId)));
  }

  /** The driver's step 3 for a batch the tasks wrote: one manifest with every task's files. */
  private async commitTasks(
    reports: readonly SinkTaskReport[],
    info: SinkBatchInfo,
  ): Promise<SinkWriteResult> {
    const { batchId } = info;
    if (await this.isCommitted(batchId)) return { rowsWritten: 0, metrics: { skippedReplay: 1 } };
    const skipped = reports.find((r) => r.skipped);
    if (skipped) {
      throw internalError(
        `fileSink ${this.name}: task ${skipped.task} found batch ${batchId} committed, but its manifest is missing`,
        { sink: this.name, batch: batchId },
      );
    }
    const files = reports.flatMap((r) => (r.message as unknown as { files: ManifestFile[] }).files);
    await this.writeManifest(batchId, files);
    return {
      rowsWritten: reports.reduce((s, r) => s + r.rows, 0),
      metrics: { filesWritten: files.length, bytesWritten: files.reduce((s, f) => s + f.bytes, 0) },
    };
  }

  /**
   * Steps 1–2: the rows as files named `<prefix>-<k, 5 digits>.<ext>`, durable, directories
   * synced; not yet committed.
   */
  async writeFiles(rows: readonly Row[], batchId: number, prefix: string): Promise<ManifestFile[]> {
    if (!this.schemaFields)
      throw internalError(`fileSink ${this.name} used before open()`, { sink: this.name });
    // Group rows by partition directory, in order of first appearance.
    const groups = new Map<string, Row[]>();
    for (const r of rows) {
      let key = '';
      if (this.partFields.length) {
        try {
          key = this.partFields.map((f) => partitionSegment(f.name, r[f.name], f.type)).join('/');
        } catch (e) {
          throw this.badValue(e, batchId);
        }
      }
      let g = groups.get(key);
      if (!g) groups.set(key, (g = []));
      g.push(r);
    }

    const files: ManifestFile[] = [];
    const dirsToSync = new Set<string>();
    let k = 0;
    await this.failsAsWrite(batchId, async () => {
      for (const [key, groupRows] of groups) {
        let bytes: Uint8Array;
        try {
          bytes = encodeRows(groupRows, this.dataFields, this.format, this.csvHeader);
        } catch (e) {
          throw this.badValue(e, batchId);
        }
        const fileName = `${prefix}-${String(k++).padStart(5, '0')}.${EXTENSIONS[this.format]}`;
        const rel = key ? `${key}/${fileName}` : fileName;
        const target = path.join(this.dir, ...rel.split('/'));
        const targetDir = path.dirname(target);
        await ensureDir(targetDir);
        await writeDurably(target, bytes);
        for (let d = targetDir; d.startsWith(this.dir); d = path.dirname(d)) {
          dirsToSync.add(d);
          if (d === this.dir) break;
        }
        files.push({ path: rel, rows: groupRows.length, bytes: bytes.byteLength });
      }
      // Deepest first, so each new directory entry is durable in its parent.
      for (const d of [...dirsToSync].sort((a, b) => b.length - a.length)) await fsyncDir(d);
    });
    return files;
  }

  /** Step 3, the commit point: `_millrace_manifest/<N>`, written atomically. */
  private async writeManifest(batchId: number, files: readonly ManifestFile[]): Promise<void> {
    const entry: ManifestEntry = {
      batchId,
      format: this.format,
      partitionBy: this.partitionBy,
      csvHeader: this.csvHeader,
      schema: this.schemaFields!,
      files,
    };
    await this.failsAsWrite(batchId, () =>
      writeFileAtomic(path.join(this.manifestDir, String(batchId)), manifestText(entry)),
    );
  }

  private async failsAsWrite(batchId: number, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (err) {
      if (err instanceof MillraceError) throw err;
      throw externalError(
        'SINK_WRITE_FAILED',
        `fileSink ${this.name}: writing batch ${batchId} to ${this.dir} failed: ${(err as Error).message}`,
        {
          cause: err,
          context: { sink: this.name, batch: batchId },
        },
      );
    }
  }

  private badValue(e: unknown, batchId: number): unknown {
    if (!(e instanceof BadValue)) return e;
    return userError(
      'SINK_BAD_VALUE',
      `fileSink ${this.name}: ${e.message}; make the query produce values of the declared column types`,
      {
        sink: this.name,
        batch: batchId,
      },
    );
  }

  async close(): Promise<void> {
    this.schemaFields = undefined;
  }
}

/** Write to `.<name>.tmp` beside the target, fsync, rename into place. */
async function writeDurably(target: string, bytes: Uint8Array): Promise<void> {
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.tmp`);
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, target);
}

/**
 * A worker thread's writer for a fileSink (its SinkTasks recipe names this export): task t writes
 * its rows of batch N as `part-<N>-<t>-<k>` files and reports them; the driver's sink commits them
 * in manifest N.
 */
export function fileTaskWriter(options: FileSinkOptions, ctx: SinkWriterContext): SinkTaskWriter {
  const sink = new FileSink(options);
  sink.useSchema(ctx);
  return {
    async write(chunks, info) {
      const rows: Row[] = [];
      for await (const c of chunks) for (const r of c) rows.push(r);
      if (await sink.isCommitted(info.batchId)) {
        return { task: info.task, rows: 0, message: { files: [] }, skipped: true };
      }
      const prefix = `part-${String(info.batchId).padStart(10, '0')}-${String(info.task).padStart(5, '0')}`;
      const files = await sink.writeFiles(rows, info.batchId, prefix);
      return { task: info.task, rows: rows.length, message: { files } as unknown as JsonValue };
    },
    async close() {},
  };
}
