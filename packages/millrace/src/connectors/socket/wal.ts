/**
 * A line write-ahead log: an append-only sequence of one-line records, numbered
 * 0, 1, 2, … and split into segment files of at most `segmentLines` records.
 *
 * Layout: `<dir>/<first line number, 20 digits>.wal`. The file names are the
 * index: a segment's line count is the next segment's first line minus its own,
 * and the last segment's count is read from the file. Only the last segment is
 * ever written to, so after a crash only it can be torn: recovery truncates it
 * after its last complete, well-formed record (everything after that point was
 * never fsynced, since appends are sequential).
 *
 * `append` returns only after the data (and, for a new segment, its directory
 * entry) is fsynced. `release(upTo)` deletes whole segments below `upTo`, oldest
 * first, never the last one (it carries the line count across restarts).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { MillraceError, externalError } from '../../errors/index.ts';
import { fsyncDir } from '../../util/fs.ts';
import type { Logger } from '../../util/logger.ts';

const SEGMENT_RE = /^(\d{20})\.wal$/;

interface Segment {
  readonly first: number;
  /** Records in the segment (for the last segment: so far). */
  count: number;
  readonly file: string;
}

export interface LineWalOptions {
  segmentLines: number;
  log: Logger;
  /** Checks a recovered record; a record that fails is treated as torn (last segment) or corrupt. */
  isValidRecord?: (record: string) => boolean;
  /** Names the owner in error messages, e.g. `socket source "s"`. */
  what: string;
}

export class LineWal {
  private segments: Segment[] = [];
  /** Records of the last segment, kept in memory for fast reads of recent data. */
  private tail: string[] = [];
  private handle: fsp.FileHandle | undefined;
  /** One recently read older segment. */
  private cached: { first: number; records: string[] } | undefined;
  private lock: Promise<unknown> = Promise.resolve();
  private closed = false;
  private broken: MillraceError | undefined;

  private constructor(
    private readonly dir: string,
    private readonly opts: LineWalOptions,
  ) {}

  static async open(dir: string, opts: LineWalOptions): Promise<LineWal> {
    const wal = new LineWal(dir, opts);
    await wal.recover();
    return wal;
  }

  /** Durable records: the number of the next record to be appended. */
  get count(): number {
    const last = this.segments[this.segments.length - 1];
    return last ? last.first + last.count : 0;
  }

  /** The lowest record number still stored. */
  get firstLine(): number {
    return this.segments[0]?.first ?? 0;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  private segmentFile(first: number): string {
    return path.join(this.dir, `${String(first).padStart(20, '0')}.wal`);
  }

  private fail(message: string, cause?: unknown, file?: string): MillraceError {
    return externalError('SOCKET_WAL_ERROR', `${this.opts.what}: ${message}`, {
      cause,
      retryable: false,
      context: file ? { file } : undefined,
    });
  }

  private async recover(): Promise<void> {
    const created = await fsp.mkdir(this.dir, { recursive: true });
    if (created !== undefined) await fsyncDir(path.dirname(this.dir)); // make the new directory itself durable
    const names = (await fsp.readdir(this.dir)).filter((n) => SEGMENT_RE.test(n)).sort();
    const firsts = names.map((n) => Number(SEGMENT_RE.exec(n)![1]));
    for (let i = 0; i < firsts.length; i++) {
      const first = firsts[i]!;
      const next = firsts[i + 1];
      this.segments.push({
        first,
        count: next === undefined ? 0 : next - first,
        file: this.segmentFile(first),
      });
    }
    const last = this.segments[this.segments.length - 1];
    if (!last) return;
    const buf = await fsp.readFile(last.file);
    const records: string[] = [];
    let goodBytes = 0;
    for (;;) {
      // 0x0A never occurs inside a multi-byte UTF-8 sequence, so records split cleanly on bytes.
      const nl = buf.indexOf(10, goodBytes);
      if (nl < 0) break;
      const record = buf.toString('utf8', goodBytes, nl);
      if (this.opts.isValidRecord && !this.opts.isValidRecord(record)) break;
      records.push(record);
      goodBytes = nl + 1;
    }
    if (goodBytes < buf.length) {
      this.opts.log.warn('socket WAL: dropping a torn tail left by a crash', {
        file: last.file,
        keptBytes: goodBytes,
        droppedBytes: buf.length - goodBytes,
      });
      await fsp.truncate(last.file, goodBytes);
      const fh = await fsp.open(last.file, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    last.count = records.length;
    this.tail = records;
  }

  /** Run `fn` after every earlier WAL operation (appends and releases never interleave). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.lock.then(fn);
    this.lock = p.catch(() => undefined);
    return p;
  }

  /** Append records (no `\n` inside) and fsync them. After a failed write the log refuses further appends. */
  append(records: readonly string[]): Promise<void> {
    return this.serial(async () => {
      if (this.broken) throw this.broken;
      if (this.closed) throw this.fail('the write-ahead log is closed');
      try {
        await this.appendUnlocked(records);
      } catch (e) {
        this.broken = this.fail(
          `cannot write the write-ahead log in ${this.dir} (${(e as Error).message}); fix the disk and restart the query (lines already made durable are kept)`,
          e,
        );
        throw this.broken;
      }
    });
  }

  private async appendUnlocked(records: readonly string[]): Promise<void> {
    let i = 0;
    while (i < records.length) {
      let seg = this.segments[this.segments.length - 1];
      let created = false;
      if (!seg || seg.count >= this.opts.segmentLines) {
        await this.closeHandle();
        if (seg && this.tail.length > 0) this.cached = { first: seg.first, records: this.tail };
        seg = { first: this.count, count: 0, file: this.segmentFile(this.count) };
        this.handle = await fsp.open(seg.file, 'a');
        this.segments.push(seg);
        this.tail = [];
        created = true;
      } else if (!this.handle) {
        this.handle = await fsp.open(seg.file, 'a');
      }
      const n = Math.min(records.length - i, this.opts.segmentLines - seg.count);
      const part = records.slice(i, i + n);
      await this.handle.appendFile(part.join('\n') + '\n');
      await this.handle.sync();
      if (created) await fsyncDir(this.dir);
      seg.count += n;
      for (const r of part) this.tail.push(r);
      i += n;
    }
  }

  /** Records [from, to). */
  async read(from: number, to: number): Promise<string[]> {
    if (to <= from) return [];
    if (from < this.firstLine || to > this.count) {
      throw this.fail(
        `lines [${from}, ${to}) are not in the write-ahead log, which holds [${this.firstLine}, ${this.count}); ` +
          `its directory ${this.dir} was changed or deleted, or the checkpoint belongs to another source. Use a new checkpoint location.`,
      );
    }
    const out: string[] = [];
    for (const seg of this.segments) {
      const end = seg.first + seg.count;
      if (end <= from || seg.first >= to) continue;
      const records = await this.segmentRecords(seg);
      const a = Math.max(from, seg.first) - seg.first;
      const b = Math.min(to, end) - seg.first;
      for (let k = a; k < b; k++) out.push(records[k]!);
    }
    return out;
  }

  private async segmentRecords(seg: Segment): Promise<string[]> {
    if (seg === this.segments[this.segments.length - 1]) return this.tail;
    if (this.cached?.first === seg.first) return this.cached.records;
    let text: string;
    try {
      text = await fsp.readFile(seg.file, 'utf8');
    } catch (e) {
      throw this.fail(
        `cannot read write-ahead log segment ${seg.file} (${(e as Error).message})`,
        e,
        seg.file,
      );
    }
    const records = text.split('\n');
    const trailing = records.pop();
    if (trailing !== '' || records.length !== seg.count) {
      throw this.fail(
        `write-ahead log segment ${seg.file} holds ${records.length} complete lines but should hold ${seg.count}; it was changed outside Millrace. Use a new checkpoint location.`,
        undefined,
        seg.file,
      );
    }
    this.cached = { first: seg.first, records };
    return records;
  }

  /** Delete segments whose records are all below `upTo` (never the last segment). */
  release(upTo: number): Promise<number> {
    return this.serial(async () => {
      let deleted = 0;
      while (this.segments.length > 1) {
        const seg = this.segments[0]!;
        if (seg.first + seg.count > upTo) break;
        try {
          await fsp.unlink(seg.file);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
            this.opts.log.warn(
              'socket WAL: cannot delete a released segment; will retry at the next commit',
              {
                file: seg.file,
                error: (e as Error).message,
              },
            );
            break;
          }
        }
        this.segments.shift();
        if (this.cached?.first === seg.first) this.cached = undefined;
        deleted++;
      }
      if (deleted > 0) {
        try {
          await fsyncDir(this.dir);
        } catch {
          // Not fatal: an undeleted segment is deleted again after a restart.
        }
      }
      return deleted;
    });
  }

  private async closeHandle(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    if (h) await h.close();
  }

  close(): Promise<void> {
    return this.serial(async () => {
      this.closed = true;
      await this.closeHandle();
    });
  }
}
