/**
 * How records and their keys are laid out in LMDB (see the diagram in Log.ts).
 *
 * Record key (16 bytes, big-endian, so LMDB's byte order is offset order):
 *
 *   ┌──────────────┬──────────────┬──────────────────────────┐
 *   │ topic id u32 │ partition u32│ offset u64               │
 *   └──────────────┴──────────────┴──────────────────────────┘
 *
 * Record value:
 *
 *   byte 0      format version (1)
 *   byte 1      flags: 1 key present · 2 key is text · 4 value present (not null)
 *                      8 value is text · 16 headers present
 *   bytes 2–9   timestamp, float64 BE, epoch milliseconds
 *   [u32 BE key length][key bytes]            if the key is present
 *   [u32 BE value length][value bytes]        if the value is present
 *   [headers as JSON text, UTF-8]             the rest, if headers are present
 *
 * Text (key, value) is stored as UTF-8 and read back as a string; bytes are
 * read back as a Uint8Array — so a JSON event posted over HTTP comes back as
 * the same string without a copy through Buffer land.
 */
export const RECORD_FORMAT = 1;
export const RECORD_KEY_BYTES = 16;
export const PARTITION_KEY_BYTES = 8;
/** Fixed part of a record value (version, flags, timestamp). */
export const RECORD_HEADER_BYTES = 10;

const F_KEY = 1;
const F_KEY_TEXT = 2;
const F_VALUE = 4;
const F_VALUE_TEXT = 8;
const F_HEADERS = 16;

const TWO_32 = 0x1_0000_0000;

/** A record as stored and read back. `offset` is its position in the partition. */
export interface LogRecord {
  readonly offset: number;
  /** Epoch milliseconds: when it was appended, unless the producer gave one. */
  readonly timestamp: number;
  readonly key: string | Uint8Array | null;
  readonly value: string | Uint8Array | null;
  readonly headers: Readonly<Record<string, string>> | null;
}

export function writeRecordKey(buf: Buffer, topicId: number, partition: number, offset: number): Buffer {
  buf.writeUInt32BE(topicId, 0);
  buf.writeUInt32BE(partition, 4);
  buf.writeUInt32BE(Math.floor(offset / TWO_32), 8);
  buf.writeUInt32BE(offset >>> 0, 12);
  return buf;
}

export function recordKey(topicId: number, partition: number, offset: number): Buffer {
  return writeRecordKey(Buffer.allocUnsafe(RECORD_KEY_BYTES), topicId, partition, offset);
}

export function offsetOfKey(key: Uint8Array): number {
  const b = key as Buffer;
  return b.readUInt32BE(8) * TWO_32 + b.readUInt32BE(12);
}

export function partitionKey(topicId: number, partition: number): Buffer {
  const b = Buffer.allocUnsafe(PARTITION_KEY_BYTES);
  b.writeUInt32BE(topicId, 0);
  b.writeUInt32BE(partition, 4);
  return b;
}

/** Encode one record value (without its offset, which lives in the key). */
export function encodeRecord(
  key: string | Uint8Array | null,
  value: string | Uint8Array | null,
  timestamp: number,
  headers: Readonly<Record<string, string>> | null,
): Buffer {
  let flags = 0;
  let size = RECORD_HEADER_BYTES;
  let keyLen = 0;
  let valueLen = 0;
  let headerText: string | undefined;
  let headerLen = 0;
  if (key !== null) {
    flags |= F_KEY;
    if (typeof key === 'string') {
      flags |= F_KEY_TEXT;
      keyLen = Buffer.byteLength(key, 'utf8');
    } else keyLen = key.byteLength;
    size += 4 + keyLen;
  }
  if (value !== null) {
    flags |= F_VALUE;
    if (typeof value === 'string') {
      flags |= F_VALUE_TEXT;
      valueLen = Buffer.byteLength(value, 'utf8');
    } else valueLen = value.byteLength;
    size += 4 + valueLen;
  }
  if (headers !== null) {
    flags |= F_HEADERS;
    headerText = JSON.stringify(headers);
    headerLen = Buffer.byteLength(headerText, 'utf8');
    size += headerLen;
  }
  const buf = Buffer.allocUnsafe(size);
  buf[0] = RECORD_FORMAT;
  buf[1] = flags;
  buf.writeDoubleBE(timestamp, 2);
  let pos = RECORD_HEADER_BYTES;
  if (key !== null) {
    buf.writeUInt32BE(keyLen, pos);
    pos += 4;
    if (typeof key === 'string') buf.write(key, pos, keyLen, 'utf8');
    else buf.set(key, pos);
    pos += keyLen;
  }
  if (value !== null) {
    buf.writeUInt32BE(valueLen, pos);
    pos += 4;
    if (typeof value === 'string') buf.write(value, pos, valueLen, 'utf8');
    else buf.set(value, pos);
    pos += valueLen;
  }
  if (headerText !== undefined) buf.write(headerText, pos, headerLen, 'utf8');
  return buf;
}

export function recordTimestamp(buf: Uint8Array): number {
  return (buf as Buffer).readDoubleBE(2);
}

/** A record value that is not in this format: a damaged or foreign database. */
export class RecordFormatError extends Error {}

/**
 * Positions of a record's parts, for decoders that want only some of them
 * (the source reads the value straight into a row). Reused: one per reader.
 */
export class RecordView {
  buf: Buffer = Buffer.alloc(0);
  /** The bytes belong to LMDB's reusable read buffer: binary parts must be copied out. */
  shared = false;
  timestamp = 0;
  keyStart = -1;
  keyEnd = -1;
  keyText = false;
  valueStart = -1;
  valueEnd = -1;
  valueText = false;
  headersStart = -1;
  end = 0;

  /**
   * Point the view at one stored record value: the first `size` bytes of
   * `raw`. With `shared`, `raw` is a buffer LMDB reuses for the next read, so
   * the view is valid only until then and binary parts are copied out.
   */
  load(raw: Uint8Array, size = raw.length, shared = false): this {
    const buf = raw as Buffer;
    this.shared = shared;
    if (size < RECORD_HEADER_BYTES || buf[0] !== RECORD_FORMAT) {
      throw new RecordFormatError(
        size < RECORD_HEADER_BYTES
          ? `a record of ${size} bytes is shorter than the ${RECORD_HEADER_BYTES}-byte header`
          : `a record has format ${buf[0]}, this version reads format ${RECORD_FORMAT}`,
      );
    }
    this.buf = buf;
    const flags = buf[1]!;
    this.timestamp = buf.readDoubleBE(2);
    let pos = RECORD_HEADER_BYTES;
    if (flags & F_KEY) {
      const n = buf.readUInt32BE(pos);
      this.keyStart = pos + 4;
      this.keyEnd = pos + 4 + n;
      this.keyText = (flags & F_KEY_TEXT) !== 0;
      pos = this.keyEnd;
    } else this.keyStart = this.keyEnd = -1;
    if (flags & F_VALUE) {
      const n = buf.readUInt32BE(pos);
      this.valueStart = pos + 4;
      this.valueEnd = pos + 4 + n;
      this.valueText = (flags & F_VALUE_TEXT) !== 0;
      pos = this.valueEnd;
    } else this.valueStart = this.valueEnd = -1;
    this.headersStart = flags & F_HEADERS ? pos : -1;
    this.end = size;
    if (pos > size) throw new RecordFormatError(`a record's lengths run past its ${size} bytes`);
    return this;
  }

  key(): string | Uint8Array | null {
    if (this.keyStart < 0) return null;
    return this.keyText
      ? this.buf.toString('utf8', this.keyStart, this.keyEnd)
      : this.bytes(this.keyStart, this.keyEnd);
  }
  keyAsText(): string | null {
    return this.keyStart < 0 ? null : this.buf.toString('utf8', this.keyStart, this.keyEnd);
  }
  keyBytes(): Uint8Array | null {
    return this.keyStart < 0 ? null : this.bytes(this.keyStart, this.keyEnd);
  }
  value(): string | Uint8Array | null {
    if (this.valueStart < 0) return null;
    return this.valueText
      ? this.buf.toString('utf8', this.valueStart, this.valueEnd)
      : this.bytes(this.valueStart, this.valueEnd);
  }
  valueAsText(): string | null {
    return this.valueStart < 0 ? null : this.buf.toString('utf8', this.valueStart, this.valueEnd);
  }
  valueBytes(): Uint8Array | null {
    return this.valueStart < 0 ? null : this.bytes(this.valueStart, this.valueEnd);
  }
  /** A plain Uint8Array view (not a Buffer: the engine's binary type), sharing the record's memory. */
  private bytes(start: number, end: number): Uint8Array {
    if (this.shared) return new Uint8Array(this.buf.subarray(start, end));
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset + start, end - start);
  }
  headers(): Record<string, string> | null {
    if (this.headersStart < 0) return null;
    return JSON.parse(this.buf.toString('utf8', this.headersStart, this.end)) as Record<string, string>;
  }
}

export function decodeRecord(
  offset: number,
  raw: Uint8Array,
  view = new RecordView(),
  size = raw.length,
  shared = false,
): LogRecord {
  view.load(raw, size, shared);
  return {
    offset,
    timestamp: view.timestamp,
    key: view.key(),
    value: view.value(),
    headers: view.headers(),
  };
}
