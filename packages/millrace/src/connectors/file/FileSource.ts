/**
 * fileSource: a directory polled for new JSON-lines or CSV files, as Spark's
 * file stream source.
 *
 * Offsets are positions in a log of discovered files kept in the connector's
 * state directory (fileLog.ts): offset N = "files [0, N) of the log". New files
 * are appended to the log durably before an offset covering them is returned,
 * so getBatch(start, end) reads the same files — and, since only the size seen
 * at discovery is read, the same bytes — on every replay.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { MillraceError, externalError, internalError, userError } from '../../errors/index.ts';
import { Schema } from '../../schema/index.ts';
import type {
  ChunkedBatch,
  ConnectorContext,
  Offset,
  ReadLimit,
  Source,
  SourceBatch,
  SourceSplit,
  SplitPlan,
} from '../contracts.ts';
import { writeFileAtomic, ensureDir } from '../../util/fs.ts';
import { FileLog, type LoggedFile } from './fileLog.ts';
import { fileNameMatcher } from './glob.ts';
import { parseFileText, type MalformedRecord, type ParseMode, type ParsePlan } from './parse.ts';

export type FileSourceFormat = 'jsonl' | 'csv';

export interface FileSourceOptions<R> {
  /** Unique within a query; default `file-<directory name>`. */
  readonly name?: string;
  /** The directory to watch (not recursive). */
  readonly path: string;
  readonly format: FileSourceFormat;
  readonly schema: Schema<R>;
  /** At most this many new files per micro-batch (ignored by Trigger.Once). */
  readonly maxFilesPerTrigger?: number;
  /** Take the newest files first when there is a backlog. Default false (oldest first). */
  readonly latestFirst?: boolean;
  readonly csv?: { readonly header?: boolean; readonly delimiter?: string };
  /** What to do with a malformed record. Default 'permissive', as Spark. */
  readonly mode?: ParseMode;
  /** Column that receives the raw text of a malformed record in permissive mode, if the schema has it. */
  readonly columnNameOfCorruptRecord?: string;
  /** Directory to which malformed records are also written, one `batch-<id>.jsonl` file per batch. */
  readonly deadLetterPath?: string;
  /** Only read files whose name matches: a glob (`*.jsonl`) or a RegExp. */
  readonly fileNameFilter?: string | RegExp;
}

const FORMATS = ['jsonl', 'csv'] as const;
const MODES = ['permissive', 'dropMalformed', 'failFast'] as const;

/** Suffixes of files still being written by common tools; never read. */
const TEMP_SUFFIXES = ['.tmp', '.temp', '._COPYING_', '.crdownload', '.partial', '.part', '.swp', '~'];

export function isIgnoredFileName(name: string): boolean {
  return name.startsWith('.') || name.startsWith('_') || TEMP_SUFFIXES.some((s) => name.endsWith(s));
}

function optionError(msg: string, source?: string): MillraceError {
  return userError('INVALID_OPTION', `fileSource: ${msg}`, source ? { source } : undefined);
}

/** A polled-directory source of JSON-lines or CSV files. */
export function fileSource<R>(options: FileSourceOptions<R>): Source<R> {
  return new FileSource(options);
}

interface Candidate {
  readonly name: string;
  readonly size: number;
  readonly mtimeMs: number;
}

export class FileSource<R> implements Source<R> {
  readonly name: string;
  readonly schema: Schema<R>;
  readonly replayable = true;

  private readonly dir: string;
  private readonly format: FileSourceFormat;
  private readonly maxFiles: number | undefined;
  private readonly latestFirst: boolean;
  private readonly plan: ParsePlan;
  private readonly deadLetterDir: string | undefined;
  private readonly matches: (name: string) => boolean;

  private ctx: ConnectorContext | undefined;
  private log: FileLog | undefined;
  private availableNowTarget: number | undefined;
  /** Files seen in the last listing that are not in the log yet. */
  private unlogged = 0;

  constructor(options: FileSourceOptions<R>) {
    if (options === null || typeof options !== 'object')
      throw optionError('pass an options object: { path, format, schema }');
    const o = options;
    if (typeof o.path !== 'string' || o.path.trim() === '') {
      throw optionError(`"path" must be the directory to read, got ${JSON.stringify(o.path)}`);
    }
    this.dir = path.resolve(o.path);
    if (o.name !== undefined && (typeof o.name !== 'string' || o.name.trim() === '')) {
      throw optionError(`"name" must be a non-empty string, got ${JSON.stringify(o.name)}`);
    }
    this.name = o.name ?? `file-${path.basename(this.dir).replace(/[^A-Za-z0-9_.-]/g, '_') || 'root'}`;
    if (!(FORMATS as readonly string[]).includes(o.format)) {
      throw optionError(
        `unknown format ${JSON.stringify(o.format)}; use one of ${FORMATS.map((f) => `'${f}'`).join(', ')}`,
        this.name,
      );
    }
    this.format = o.format;
    if (!(o.schema instanceof Schema)) {
      throw optionError(
        '"schema" is required: declare it with schema({ ... }) — file sources do not infer schemas',
        this.name,
      );
    }
    this.schema = o.schema;
    if (
      o.maxFilesPerTrigger !== undefined &&
      (!Number.isInteger(o.maxFilesPerTrigger) || o.maxFilesPerTrigger < 1)
    ) {
      throw optionError(
        `"maxFilesPerTrigger" must be a whole number >= 1, got ${JSON.stringify(o.maxFilesPerTrigger)}`,
        this.name,
      );
    }
    this.maxFiles = o.maxFilesPerTrigger;
    if (o.latestFirst !== undefined && typeof o.latestFirst !== 'boolean') {
      throw optionError(
        `"latestFirst" must be true or false, got ${JSON.stringify(o.latestFirst)}`,
        this.name,
      );
    }
    this.latestFirst = o.latestFirst ?? false;
    const mode = o.mode ?? 'permissive';
    if (!(MODES as readonly string[]).includes(mode)) {
      throw optionError(
        `unknown mode ${JSON.stringify(mode)}; use one of ${MODES.map((m) => `'${m}'`).join(', ')}`,
        this.name,
      );
    }
    if (o.csv !== undefined && this.format !== 'csv') {
      throw optionError(
        `"csv" options apply only to format 'csv', but the format is '${this.format}'; remove them`,
        this.name,
      );
    }
    const delimiter = o.csv?.delimiter ?? ',';
    if (typeof delimiter !== 'string' || delimiter.length === 0 || /["\r\n]/.test(delimiter)) {
      throw optionError(
        `"csv.delimiter" must be a non-empty string without quotes or line breaks, got ${JSON.stringify(delimiter)}`,
        this.name,
      );
    }
    const corruptName = o.columnNameOfCorruptRecord ?? '_corrupt_record';
    if (typeof corruptName !== 'string' || corruptName === '') {
      throw optionError(
        `"columnNameOfCorruptRecord" must be a column name, got ${JSON.stringify(corruptName)}`,
        this.name,
      );
    }
    const corruptField = this.schema.field(corruptName);
    if (corruptField && (corruptField.type.kind !== 'string' || !corruptField.nullable)) {
      throw optionError(
        `the corrupt-record column "${corruptName}" must be a nullable string (t.string.orNull()), got ${corruptField.type.kind}${corruptField.nullable ? '' : ' (not nullable)'}`,
        this.name,
      );
    }
    if (o.deadLetterPath !== undefined) {
      if (typeof o.deadLetterPath !== 'string' || o.deadLetterPath.trim() === '') {
        throw optionError(
          `"deadLetterPath" must be a directory path, got ${JSON.stringify(o.deadLetterPath)}`,
          this.name,
        );
      }
      this.deadLetterDir = path.resolve(o.deadLetterPath);
      if (this.deadLetterDir === this.dir) {
        throw optionError(
          `"deadLetterPath" must not be the input directory ${this.dir} (its files would be read back as input)`,
          this.name,
        );
      }
    }
    if (
      o.fileNameFilter !== undefined &&
      typeof o.fileNameFilter !== 'string' &&
      !(o.fileNameFilter instanceof RegExp)
    ) {
      throw optionError(
        `"fileNameFilter" must be a glob string or a RegExp, got ${JSON.stringify(o.fileNameFilter)}`,
        this.name,
      );
    }
    this.matches = o.fileNameFilter === undefined ? () => true : fileNameMatcher(o.fileNameFilter);
    this.plan = {
      schema: this.schema as Schema<unknown>,
      format: this.format,
      mode,
      corruptColumn: corruptField ? corruptName : undefined,
      csvHeader: o.csv?.header ?? false,
      csvDelimiter: delimiter,
      source: this.name,
    };
  }

  describe(): string {
    return `FileSource[${this.dir}, ${this.format}]`;
  }

  async open(ctx: ConnectorContext): Promise<void> {
    let st;
    try {
      st = await fsp.stat(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw userError(
          'SOURCE_PATH_NOT_FOUND',
          `fileSource: the input directory ${this.dir} does not exist; create it or fix "path"`,
          {
            source: this.name,
          },
        );
      }
      throw externalError(
        'SOURCE_UNAVAILABLE',
        `fileSource: cannot access ${this.dir}: ${(err as Error).message}`,
        {
          cause: err,
          context: { source: this.name },
        },
      );
    }
    if (!st.isDirectory()) {
      throw userError(
        'SOURCE_PATH_NOT_DIRECTORY',
        `fileSource: "path" must be a directory, but ${this.dir} is a file; point it at the folder holding the files`,
        {
          source: this.name,
        },
      );
    }
    this.ctx = ctx;
    this.log = await FileLog.open(ctx.stateDir);
    this.availableNowTarget = undefined;
    this.unlogged = 0;
  }

  private requireLog(): FileLog {
    if (!this.log) throw internalError(`fileSource ${this.name} used before open()`, { source: this.name });
    return this.log;
  }

  private startOf(start: Offset | null, what: string): number {
    const log = this.requireLog();
    if (start === null) return 0;
    if (typeof start !== 'number' || !Number.isInteger(start) || start < 0) {
      throw internalError(
        `fileSource ${this.name}: ${what} offset ${JSON.stringify(start)} is not a file count`,
        { source: this.name },
      );
    }
    if (start > log.length) {
      throw userError(
        'SOURCE_STATE_MISMATCH',
        `fileSource ${this.name}: the checkpoint is at file ${start} but the source's file log in ${this.ctx!.stateDir} has only ${log.length} entries; ` +
          'the checkpoint directory was changed or partly deleted — restore it or start with a new checkpoint',
        { source: this.name },
      );
    }
    return start;
  }

  /** New (not logged, matching, complete) files in the directory, in reading order. */
  private async listNew(): Promise<Candidate[]> {
    const log = this.requireLog();
    let entries;
    try {
      entries = await fsp.readdir(this.dir, { withFileTypes: true });
    } catch (err) {
      throw externalError(
        'SOURCE_UNAVAILABLE',
        `fileSource: cannot list ${this.dir}: ${(err as Error).message}`,
        {
          cause: err,
          context: { source: this.name },
        },
      );
    }
    const out: Candidate[] = [];
    for (const e of entries) {
      if (e.isDirectory() || isIgnoredFileName(e.name) || log.has(e.name) || !this.matches(e.name)) continue;
      try {
        const st = await fsp.stat(path.join(this.dir, e.name));
        if (st.isFile()) out.push({ name: e.name, size: st.size, mtimeMs: st.mtimeMs });
      } catch {
        // Gone between readdir and stat: it will simply not be read.
      }
    }
    const dir = this.latestFirst ? -1 : 1;
    out.sort((a, b) => dir * (a.mtimeMs - b.mtimeMs) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return out;
  }

  private async logNew(max: number | undefined): Promise<void> {
    const log = this.requireLog();
    const found = await this.listNew();
    const take = max === undefined ? found : found.slice(0, Math.max(0, max));
    await log.append(take.map((c): LoggedFile => ({ name: c.name, size: c.size, mtimeMs: c.mtimeMs })));
    this.unlogged = found.length - take.length;
  }

  async latestOffset(start: Offset | null, limit: ReadLimit): Promise<Offset | null> {
    const log = this.requireLog();
    const s = this.startOf(start, 'start');
    const max = limit.kind === 'all' ? undefined : this.maxFiles;
    let end: number;
    if (this.availableNowTarget !== undefined) {
      const target = Math.max(this.availableNowTarget, s);
      end = max === undefined ? target : Math.min(target, s + max);
    } else {
      const pending = log.length - s;
      if (max === undefined || pending < max)
        await this.logNew(max === undefined ? undefined : max - pending);
      end = max === undefined ? log.length : Math.min(log.length, s + max);
    }
    if (end <= s) return start === null && s === 0 ? null : s;
    return end;
  }

  async prepareForAvailableNow(): Promise<void> {
    await this.logNew(undefined);
    this.availableNowTarget = this.requireLog().length;
  }

  reportLatestOffset(): Offset | null {
    if (!this.log) return null;
    const n = this.log.length + this.unlogged;
    return n === 0 ? null : n;
  }

  async getBatch(
    start: Offset | null,
    end: Offset,
    info: { readonly batchId: number },
  ): Promise<SourceBatch<R>> {
    const log = this.requireLog();
    const s = this.startOf(start, 'start');
    const e = this.startOf(end, 'end');
    return this.readFiles(log.slice(s, Math.max(s, e)), `batch-${info.batchId}`, info.batchId);
  }

  /**
   * Splits for tasks on worker threads: the batch's files (from the file log, which only this
   * thread has), dealt in order into at most `count` parts of about equal bytes. A worker reads
   * its files itself; its malformed records go to `batch-<id>-part-<k>.jsonl` of deadLetterPath.
   */
  async planSplits(start: Offset | null, end: Offset, count: number): Promise<SplitPlan> {
    const log = this.requireLog();
    const s = this.startOf(start, 'start');
    const files = log.slice(s, Math.max(s, this.startOf(end, 'end')));
    const total = files.reduce((a, f) => a + f.size, 0);
    const splits: LoggedFile[][] = [];
    let part: LoggedFile[] = [];
    let bytes = 0;
    for (const f of files) {
      part.push(f);
      bytes += f.size;
      // Close the part once it holds its share of the bytes so far (the last one takes the rest).
      if (splits.length < count - 1 && bytes >= ((splits.length + 1) * total) / count) {
        splits.push(part);
        part = [];
      }
    }
    if (part.length > 0) splits.push(part);
    return { splits: splits.map((files, k) => ({ files, part: k })) };
  }

  /** One split's files, read and parsed on a worker thread (this instance was never opened). */
  readSplit(split: SourceSplit, info: { readonly batchId: number }): ChunkedBatch<R> {
    const { files, part } = split as { files: LoggedFile[]; part: number };
    let summary: Omit<SourceBatch<R>, 'rows'> = {};
    const read = async function* (source: FileSource<R>): AsyncGenerator<R[]> {
      const batch = await source.readFiles(files, `batch-${info.batchId}-part-${part}`, info.batchId);
      summary = { malformedRows: batch.malformedRows ?? 0, metrics: batch.metrics ?? {} };
      if (batch.rows.length > 0) yield batch.rows;
    };
    return { [Symbol.asyncIterator]: () => read(this), summary: () => summary };
  }

  /** The rows of `files`; malformed records also to `<deadLetterPath>/<deadLetterName>.jsonl`. */
  private async readFiles(
    files: readonly LoggedFile[],
    deadLetterName: string,
    batchId: number,
  ): Promise<SourceBatch<R>> {
    const rows: R[] = [];
    const malformed: MalformedRecord[] = [];
    let dropped = 0;
    let bytes = 0;
    for (const f of files) {
      const file = path.join(this.dir, f.name);
      const text = await this.readLogged(file, f);
      bytes += f.size;
      const parsed = parseFileText(text, file, this.plan);
      for (const r of parsed.rows) rows.push(r as R);
      for (const m of parsed.malformed) malformed.push(m);
      dropped += parsed.dropped;
    }
    let sent = 0;
    if (this.deadLetterDir && malformed.length > 0) {
      await this.writeDeadLetters(deadLetterName, batchId, malformed);
      sent = malformed.length;
    }
    return {
      rows,
      malformedRows: Math.max(dropped, sent),
      metrics: { filesRead: files.length, bytesRead: bytes, malformedRecords: malformed.length },
    };
  }

  /** The first `size` bytes (the size at discovery), so replays read the same data. */
  private async readLogged(file: string, f: LoggedFile): Promise<string> {
    let fh;
    try {
      fh = await fsp.open(file, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw externalError(
        'SOURCE_FILE_UNREADABLE',
        code === 'ENOENT'
          ? `fileSource: ${file} was found earlier but is gone now; input files must stay until their batch is committed — restore the file`
          : `fileSource: cannot read ${file}: ${(err as Error).message}`,
        { cause: err, retryable: code !== 'ENOENT', context: { source: this.name, file } },
      );
    }
    try {
      const buf = Buffer.alloc(f.size);
      let off = 0;
      while (off < f.size) {
        const { bytesRead } = await fh.read(buf, off, f.size - off, off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      if (off < f.size) {
        throw externalError(
          'SOURCE_FILE_CHANGED',
          `fileSource: ${file} had ${f.size} bytes when it was found but now has ${off}; files must not be changed after they appear in the directory (write them elsewhere, then move them in)`,
          { retryable: false, context: { source: this.name, file } },
        );
      }
      return buf.toString('utf8');
    } finally {
      await fh.close();
    }
  }

  private async writeDeadLetters(
    fileName: string,
    batchId: number,
    records: readonly MalformedRecord[],
  ): Promise<void> {
    const dir = this.deadLetterDir!;
    const body =
      records
        .map((m) => JSON.stringify({ file: m.file, line: m.line, reason: m.reason, raw: m.raw }))
        .join('\n') + '\n';
    try {
      await ensureDir(dir);
      await writeFileAtomic(path.join(dir, `${fileName}.jsonl`), body);
    } catch (err) {
      throw externalError(
        'DEAD_LETTER_WRITE_FAILED',
        `fileSource: cannot write malformed records to ${dir}: ${(err as Error).message}`,
        {
          cause: err,
          context: { source: this.name, batch: batchId },
        },
      );
    }
  }

  async commit(_end: Offset): Promise<void> {
    // Input files are left in place (Spark's default cleanSource=off).
  }

  async close(): Promise<void> {
    this.log = undefined;
    this.ctx = undefined;
  }
}
