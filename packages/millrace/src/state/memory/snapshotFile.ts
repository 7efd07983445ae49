/**
 * The memory store's snapshot file (format `v3`), written and read in bounded frames:
 *
 *   v3\n
 *   u32 length, msgpack { snapshot: base }                          head
 *   u32 length, msgpack [key, value, key, value, …]                 up to `chunkEntries` entries
 *   …
 *   u32 length, msgpack { end: true, base, upTo, entries }          trailer: the file is complete
 *
 * (Head and trailer are maps, entry frames arrays, so no key can be mistaken for either.)
 *
 * Why frames: msgpackr's `structuredClone` records every object it writes in one Map, and V8 caps a
 * Map at 2^24 entries, so one pack call over the whole state failed at ~8.4M two-object groups. Each
 * frame is its own pack call, and neither writing nor reading holds more than a frame in memory.
 *
 * `base` and `upTo`: an incremental snapshot is written over several batches (see SnapshotTask). Each
 * entry holds the key's committed value of some version in [base, upTo]; loading it and replaying
 * the deltas base+1..V gives exactly version V, for any V ≥ upTo (every key changed after `base` is
 * in those deltas). The file is named `<base>.snapshot` when base = upTo, else `<base>-<upTo>.snapshot`.
 * It is written to a temp file and renamed when complete: a crash at any point leaves only a temp
 * file (removed by cleanup), the deltas stay, nothing is lost.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Packr } from 'msgpackr';
import { userError, type ErrorContext } from '../../errors/index.ts';
import { fsyncDir } from '../../util/fs.ts';
import { stateCorrupt } from '../common.ts';

export const SNAPSHOT_FORMAT_LINE = 'v3';
const HEADER = Buffer.from(`${SNAPSHOT_FORMAT_LINE}\n`, 'latin1');
/** A frame larger than this is damage, not data (a frame holds `chunkEntries` entries). */
const MAX_FRAME_BYTES = 1 << 30;

export function snapshotFileName(base: number, upTo: number): string {
  return base === upTo ? `${base}.snapshot` : `${base}-${upTo}.snapshot`;
}

function frame(packr: Packr, body: unknown): Buffer {
  const packed = packr.pack(body);
  const out = Buffer.allocUnsafe(4 + packed.length);
  out.writeUInt32BE(packed.length, 0);
  packed.copy(out, 4);
  return out;
}

/** A snapshot being written: frames are encoded by the caller's thread and written in order. */
export class SnapshotFileWriter {
  private pending: Promise<void> = Promise.resolve();
  private pendingBytes = 0;
  private failed: unknown;
  entries = 0;
  bytes = 0;

  private fh: fsp.FileHandle | undefined;

  /** Starts at once (no await): the caller encodes frames synchronously, the file is opened and written behind. */
  constructor(
    private readonly packr: Packr,
    readonly dir: string,
    readonly base: number,
  ) {
    this.tempPath = path.join(dir, `.${base}.snapshot.${process.pid}.${Date.now()}.tmp`);
    this.pending = fsp.open(this.tempPath, 'w').then(
      (fh) => {
        this.fh = fh;
      },
      (e: unknown) => {
        this.failed = e;
      },
    );
    this.enqueue(Buffer.concat([HEADER, frame(packr, { snapshot: base })]));
  }

  readonly tempPath: string;

  /** Bytes encoded but not yet written. */
  get unwritten(): number {
    return this.pendingBytes;
  }

  /** Encode one frame of entries (key, value, key, value…) now; write it in the background. */
  appendEntries(flat: unknown[]): void {
    this.enqueue(frame(this.packr, flat));
    this.entries += flat.length / 2;
  }

  /** Wait until everything encoded so far is written. */
  async drain(): Promise<void> {
    await this.pending;
    if (this.failed !== undefined) throw this.failed;
  }

  /** Write the trailer, make the file durable and give it its name. */
  async finish(upTo: number): Promise<string> {
    this.enqueue(frame(this.packr, { end: true, base: this.base, upTo, entries: this.entries }));
    await this.drain();
    await this.fh!.sync();
    await this.fh!.close();
    this.fh = undefined;
    const name = snapshotFileName(this.base, upTo);
    await fsp.rename(this.tempPath, path.join(this.dir, name));
    await fsyncDir(this.dir);
    return name;
  }

  /** Stop and remove the temp file (errors ignored: cleanup removes leftovers). */
  async abandon(): Promise<void> {
    await this.pending.catch(() => undefined);
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
    await fsp.rm(this.tempPath, { force: true }).catch(() => undefined);
  }

  private enqueue(buf: Buffer): void {
    this.pendingBytes += buf.length;
    this.bytes += buf.length;
    this.pending = this.pending.then(async () => {
      if (this.failed !== undefined) return;
      try {
        await this.fh!.write(buf);
      } catch (e) {
        this.failed = e;
      } finally {
        this.pendingBytes -= buf.length;
      }
    });
  }
}

/** Reads a file in blocks and hands out length-prefixed frames. */
class FrameReader {
  private buf = Buffer.alloc(0);
  private pos = 0;
  private eof = false;
  private filePos: number;

  constructor(
    private readonly fh: fsp.FileHandle,
    start: number,
  ) {
    this.filePos = start;
  }

  /** The next frame's bytes, or undefined at the end of the file. */
  async next(): Promise<Buffer | undefined> {
    if (!(await this.fill(4))) return undefined;
    const len = this.buf.readUInt32BE(this.pos);
    if (len > MAX_FRAME_BYTES) throw new Error(`a frame claims ${len} bytes`);
    if (!(await this.fill(4 + len))) throw new Error('the file ends inside a frame');
    const out = this.buf.subarray(this.pos + 4, this.pos + 4 + len);
    this.pos += 4 + len;
    return out;
  }

  /** Make `n` bytes available at `pos`; false if the file ends first (after 0 bytes: a clean end). */
  private async fill(n: number): Promise<boolean> {
    while (this.buf.length - this.pos < n) {
      if (this.eof) {
        if (this.buf.length - this.pos === 0 && n === 4) return false;
        if (n === 4) throw new Error('the file ends inside a frame length');
        return false;
      }
      const rest = this.buf.subarray(this.pos);
      const want = Math.max(n - rest.length, 4 << 20);
      const next = Buffer.allocUnsafe(rest.length + want);
      rest.copy(next, 0);
      const { bytesRead } = await this.fh.read(next, rest.length, want, this.filePos);
      this.filePos += bytesRead;
      if (bytesRead === 0) this.eof = true;
      this.buf = next.subarray(0, rest.length + bytesRead);
      this.pos = 0;
    }
    return true;
  }
}

/**
 * Read a `v3` snapshot frame by frame, handing each frame's entries (key, value, key, value…) to
 * `onEntries`. Checks the head and trailer: a file without its trailer is damaged.
 */
export async function readSnapshotFile(
  packr: Packr,
  file: string,
  base: number,
  upTo: number,
  context: ErrorContext,
  onEntries: (flat: readonly unknown[]) => void,
): Promise<'read' | 'v2'> {
  const ctx = { ...context, file };
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw stateCorrupt(`state file ${file} is missing`, ctx, e);
    throw e;
  }
  try {
    const head = Buffer.alloc(HEADER.length);
    const { bytesRead } = await fh.read(head, 0, HEADER.length, 0);
    const line = head.subarray(0, bytesRead).toString('latin1');
    // Written before frames: one msgpack body, read whole by the caller.
    if (line === 'v2\n') return 'v2';
    if (line !== HEADER.toString('latin1')) {
      if (/^v\d+\n$/.test(line)) {
        throw userError(
          'CHECKPOINT_UNSUPPORTED_VERSION',
          `state file ${file} starts with "${line.trim()}", expected "${SNAPSHOT_FORMAT_LINE}"; ` +
            `it was written by an incompatible Millrace version`,
          ctx,
        );
      }
      throw stateCorrupt(
        `state file ${file} does not start with "${SNAPSHOT_FORMAT_LINE}" (it is truncated or not a state file)`,
        ctx,
      );
    }
    const reader = new FrameReader(fh, HEADER.length);
    let entries = 0;
    let first = true;
    let ended = false;
    for (;;) {
      let body: unknown;
      try {
        const bytes = await reader.next();
        if (bytes === undefined) break;
        body = packr.unpack(bytes);
      } catch (e) {
        throw stateCorrupt(
          `state file ${file} cannot be decoded (${(e as Error).message}); it is truncated or damaged`,
          ctx,
          e,
        );
      }
      const bad = (): Error =>
        stateCorrupt(`state file ${file} does not hold the snapshot of version ${base}; it is damaged`, ctx);
      if (ended) throw bad();
      if (first) {
        if (!isRecord(body) || body.snapshot !== base) throw bad();
        first = false;
      } else if (Array.isArray(body)) {
        if (body.length % 2 !== 0) throw bad();
        entries += body.length / 2;
        onEntries(body);
      } else {
        if (!isRecord(body) || body.end !== true || body.base !== base || body.upTo !== upTo) throw bad();
        if (body.entries !== entries) throw bad();
        ended = true;
      }
    }
    if (!ended) {
      throw stateCorrupt(
        `state file ${file} ends before its trailer (${entries} entries read); it is truncated or damaged`,
        ctx,
      );
    }
    return 'read';
  } finally {
    await fh.close();
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map);
}
