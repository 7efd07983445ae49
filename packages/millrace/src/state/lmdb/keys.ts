/**
 * State keys as LMDB keys. The contract orders keys by UTF-16 code units (JS
 * string order); LMDB orders keys by bytes. UTF-8 orders by code points,
 * which differs for characters above U+FFFF, and cannot hold lone
 * surrogates. So keys are CESU-8: every UTF-16 code unit encoded on its own
 * as 1–3 UTF-8-style bytes. For strings without surrogates this is exactly
 * UTF-8 (the fast path); its byte order is UTF-16 code unit order.
 *
 * Every key gets a leading 0x01 byte, because LMDB has no empty key and ""
 * is a valid state key. CESU-8 never produces 0xF0–0xFF, so `prefix + 0xFF`
 * bounds every key that starts with `prefix`.
 */

export const KEY_TAG = 0x01;
/** LMDB's key limit (1978) minus the undo records' 8-byte version. */
export const MAX_KEY_BYTES = 1978 - 8;
/** A string of this many code units or fewer always fits (3 bytes per unit at most, plus the tag). */
export const SAFE_KEY_LENGTH = Math.floor((MAX_KEY_BYTES - 1) / 3);

const SURROGATE = /[\uD800-\uDFFF]/;

/** Bytes the encoded key takes (tag included). */
export function encodedKeyLength(key: string): number {
  if (!SURROGATE.test(key)) return 1 + Buffer.byteLength(key, 'utf8');
  let n = 1;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
  }
  return n;
}

/** Write the encoded key into `buf` at `at`; returns the end offset. `buf` must have room (see encodedKeyLength). */
export function writeKey(key: string, buf: Buffer, at: number): number {
  buf[at++] = KEY_TAG;
  if (!SURROGATE.test(key)) return at + buf.write(key, at, 'utf8');
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x80) buf[at++] = c;
    else if (c < 0x800) {
      buf[at++] = 0xc0 | (c >> 6);
      buf[at++] = 0x80 | (c & 0x3f);
    } else {
      buf[at++] = 0xe0 | (c >> 12);
      buf[at++] = 0x80 | ((c >> 6) & 0x3f);
      buf[at++] = 0x80 | (c & 0x3f);
    }
  }
  return at;
}

export function encodeKey(key: string): Buffer {
  const buf = Buffer.allocUnsafe(encodedKeyLength(key));
  writeKey(key, buf, 0);
  return buf;
}

/** Decode bytes [from, to) of an encoded key (from points at the tag byte). */
export function readKey(buf: Uint8Array, from = 0, to = buf.length): string {
  const start = from + 1;
  // Surrogates are the only code units whose encoding is 0xED 0xA0–0xBF ….
  let special = false;
  for (let i = buf.indexOf(0xed, start); i >= 0 && i < to; i = buf.indexOf(0xed, i + 1)) {
    if (i + 1 < to && buf[i + 1]! >= 0xa0) {
      special = true;
      break;
    }
  }
  if (!special) return Buffer.prototype.toString.call(buf, 'utf8', start, to);
  let s = '';
  let i = start;
  while (i < to) {
    const b = buf[i]!;
    let c: number;
    if (b < 0x80) {
      c = b;
      i += 1;
    } else if (b < 0xe0) {
      c = ((b & 0x1f) << 6) | (buf[i + 1]! & 0x3f);
      i += 2;
    } else {
      c = ((b & 0x0f) << 12) | ((buf[i + 1]! & 0x3f) << 6) | (buf[i + 2]! & 0x3f);
      i += 3;
    }
    s += String.fromCharCode(c);
  }
  return s;
}

/** The exclusive upper bound of all keys starting with `prefix`. */
export function prefixEnd(prefix: string): Buffer {
  const p = encodeKey(prefix);
  const out = Buffer.allocUnsafe(p.length + 1);
  p.copy(out);
  out[p.length] = 0xff;
  return out;
}
