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
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { MillraceError, externalError, internalError, userError } from '../../errors/index.ts';
import type { Field, Row } from '../../schema/index.ts';
import { ensureDir, exists, fsyncDir, writeFileAtomic } from '../../util/fs.ts';
import type { OutputMode, Sink, SinkBatchInfo, SinkContext, SinkWriteResult } from '../contracts.ts';
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
const PART_FILE = /^part-(\d+)-\d+\.(?:jsonl|csv|parquet)$/;

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

  private schemaFields: readonly Field[] | undefined;
  private dataFields: readonly Field[] = [];
  private partFields: readonly Field[] = [];

  constructor(options: FileSinkOptions) {
    if (options === null || typeof options !== 'object')
      throw optionError('pass an options object: { path, format }');
    const o = options;
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

  async open(ctx: SinkContext): Promise<void> {
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
    if (!this.schemaFields)
      throw internalError(`fileSink ${this.name} used before open()`, { sink: this.name });
    const batchId = info.batchId;
    const manifestFile = path.join(this.manifestDir, String(batchId));
    if (await exists(manifestFile)) {
      return { rowsWritten: 0, metrics: { skippedReplay: 1 } };
    }

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
    try {
      for (const [key, groupRows] of groups) {
        let bytes: Uint8Array;
        try {
          bytes = encodeRows(groupRows, this.dataFields, this.format, this.csvHeader);
        } catch (e) {
          throw this.badValue(e, batchId);
        }
        const fileName = `part-${String(batchId).padStart(10, '0')}-${String(k++).padStart(5, '0')}.${EXTENSIONS[this.format]}`;
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
      const entry: ManifestEntry = {
        batchId,
        format: this.format,
        partitionBy: this.partitionBy,
        csvHeader: this.csvHeader,
        schema: this.schemaFields,
        files,
      };
      await writeFileAtomic(manifestFile, manifestText(entry));
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
    return {
      rowsWritten: rows.length,
      metrics: { filesWritten: files.length, bytesWritten: files.reduce((s, f) => s + f.bytes, 0) },
    };
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
