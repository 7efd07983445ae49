/**
 * A MessagePack encoder for one thing only: an array of byte strings, the form a sink sends each
 * row in (Redis' Lua has `cmsgpack.unpack`). One argument per row instead of one per field keeps
 * the command small to build and to parse: ~20× fewer arguments for a 10-column row.
 */
export function packStrings(items: readonly (string | Buffer)[]): Buffer {
  const bufs = items.map((x) => (typeof x === 'string' ? Buffer.from(x, 'utf8') : x));
  let size = items.length < 16 ? 1 : items.length < 65_536 ? 3 : 5;
  for (const b of bufs)
    size += b.length + (b.length < 32 ? 1 : b.length < 256 ? 2 : b.length < 65_536 ? 3 : 5);
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  const n = items.length;
  if (n < 16) out[o++] = 0x90 | n;
  else if (n < 65_536) {
    out[o++] = 0xdc;
    out.writeUInt16BE(n, o);
    o += 2;
  } else {
    out[o++] = 0xdd;
    out.writeUInt32BE(n, o);
    o += 4;
  }
  for (const b of bufs) {
    const len = b.length;
    if (len < 32) out[o++] = 0xa0 | len;
    else if (len < 256) {
      out[o++] = 0xd9;
      out[o++] = len;
    } else if (len < 65_536) {
      out[o++] = 0xda;
      out.writeUInt16BE(len, o);
      o += 2;
    } else {
      out[o++] = 0xdb;
      out.writeUInt32BE(len, o);
      o += 4;
    }
    b.copy(out, o);
    o += len;
  }
  return out;
}
