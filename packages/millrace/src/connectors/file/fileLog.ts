/**
 * The file source's log of discovered files, kept in the connector's state
 * directory. Position i in the log is file number i; an offset N means "files
 * [0, N) have been handed to batches". Entries are only ever appended, in
 * chunks: `files/<start>.json` holds the entries from index `start` on. Every
 * chunk is written atomically and durably before an offset covering it is
 * returned, so a restart sees the same list. On open, many small chunks are
 * compacted into one (the loader tolerates the overlap a crash mid-compaction
 * leaves behind).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { externalError, internalError } from '../../errors/index.ts';
import { ensureDir, fsyncDir, writeFileAtomic } from '../../util/fs.ts';

export interface LoggedFile {
  /** File name inside the source directory. */
  readonly name: string;
  /** Size when discovered: exactly this many bytes are read, so a replay sees the same data. */
  readonly size: number;
  readonly mtimeMs: number;
}

const VERSION = 1;
const COMPACT_OVER = 64;

interface Chunk {
  version: number;
  start: number;
  files: LoggedFile[];
}

export class FileLog {
  private readonly files: LoggedFile[] = [];
  private readonly names = new Set<string>();
  private chunkFiles: string[] = [];

  private constructor(private readonly dir: string) {}

  static async open(stateDir: string): Promise<FileLog> {
    const log = new FileLog(path.join(stateDir, 'files'));
    await ensureDir(log.dir);
    await log.load();
    if (log.chunkFiles.length > COMPACT_OVER) await log.compact();
    return log;
  }

  get length(): number {
    return this.files.length;
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  slice(start: number, end: number): LoggedFile[] {
    return this.files.slice(start, end);
  }

  /** Append entries durably (returns once they are on disk). */
  async append(entries: readonly LoggedFile[]): Promise<void> {
    if (entries.length === 0) return;
    const start = this.files.length;
    const chunk: Chunk = { version: VERSION, start, files: [...entries] };
    const file = chunkName(start);
    await this.write(file, chunk);
    this.chunkFiles.push(file);
    for (const e of entries) {
      this.files.push(e);
      this.names.add(e.name);
    }
  }

  private async write(file: string, chunk: Chunk): Promise<void> {
    try {
      await writeFileAtomic(path.join(this.dir, file), JSON.stringify(chunk) + '\n');
    } catch (err) {
      throw externalError(
        'SOURCE_STATE_WRITE_FAILED',
        `cannot write the file source log in ${this.dir}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  private async load(): Promise<void> {
    const all = await fsp.readdir(this.dir);
    // Leftovers of an interrupted atomic write.
    for (const n of all)
      if (n.startsWith('.') && n.endsWith('.tmp')) await fsp.rm(path.join(this.dir, n), { force: true });
    const names = all.filter((n) => /^\d+\.json$/.test(n));
    const chunks: Chunk[] = [];
    for (const n of names) {
      const text = await fsp.readFile(path.join(this.dir, n), 'utf8');
      let chunk: Chunk;
      try {
        chunk = JSON.parse(text) as Chunk;
      } catch (err) {
        throw internalError(`the file source log entry ${path.join(this.dir, n)} is not valid JSON`, {}, err);
      }
      if (chunk.version !== VERSION) {
        throw externalError(
          'SOURCE_STATE_VERSION',
          `the file source log ${path.join(this.dir, n)} has version ${JSON.stringify(chunk.version)}; this Millrace reads version ${VERSION}. Use the Millrace version that wrote the checkpoint`,
          { retryable: false },
        );
      }
      chunks.push(chunk);
    }
    chunks.sort((a, b) => a.start - b.start || b.files.length - a.files.length);
    for (const c of chunks) {
      if (c.start > this.files.length) {
        throw internalError(
          `the file source log in ${this.dir} has a gap: entries ${this.files.length}..${c.start - 1} are missing`,
        );
      }
      c.files.forEach((f, k) => {
        const i = c.start + k;
        if (i < this.files.length) {
          if (this.files[i]!.name !== f.name) {
            throw internalError(`the file source log in ${this.dir} disagrees with itself at entry ${i}`);
          }
        } else {
          this.files.push(f);
          this.names.add(f.name);
        }
      });
    }
    this.chunkFiles = names.sort();
  }

  /** Rewrite all entries as one chunk at 0, then remove the others. */
  private async compact(): Promise<void> {
    const first = chunkName(0);
    await this.write(first, { version: VERSION, start: 0, files: this.files });
    for (const n of this.chunkFiles) {
      if (n !== first) await fsp.rm(path.join(this.dir, n), { force: true });
    }
    await fsyncDir(this.dir);
    this.chunkFiles = [first];
  }
}

function chunkName(start: number): string {
  return `${String(start).padStart(12, '0')}.json`;
}
