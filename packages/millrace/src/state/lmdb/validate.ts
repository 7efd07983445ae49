/**
 * A sanity check of an LMDB data file before LMDB opens it. LMDB trusts its
 * file: lmdb-js crashes the process (SIGSEGV/SIGBUS) on a garbled or
 * truncated data.mdb instead of returning an error. Checking the two meta
 * pages — magic, format version, page size, and that the trees' root pages
 * lie inside the file — turns the common kinds of damage (garbage, zeros,
 * truncation) into a clear error. Damage deep inside the B-tree can still go
 * unnoticed: LMDB has no page checksums.
 *
 * Layout (LMDB 0.9 / lmdb-js, little-endian, 64-bit): a page header of 24
 * bytes (pgno 8, txnid 8, pad 2, flags 2, lower 2, upper 2), then MDB_meta:
 * magic 4, version 4, address 8, mapsize 8, dbs[2] × 48 (pad/psize 4,
 * flags 2, depth 2, branch 8, leaf 8, overflow 8, entries 8, root 8),
 * last_pg 8, txnid 8.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const MAGIC = 0xbeefc0de;
const DATA_VERSION = 2;
const P_META = 0x08;
const META_BYTES = 168;
const P_INVALID = 0xffff_ffff_ffff_ffffn;

interface MetaPage {
  readonly psize: number;
  readonly txnid: bigint;
  readonly roots: readonly bigint[];
}

function readMetaPage(buf: Buffer): MetaPage | string {
  if ((buf.readUInt16LE(18) & P_META) === 0) return 'a meta page is missing';
  if (buf.readUInt32LE(24) !== MAGIC) return 'it is not an LMDB file (bad magic number)';
  if ((buf.readUInt32LE(28) & 0xffff) !== DATA_VERSION)
    return `unsupported LMDB format ${buf.readUInt32LE(28) & 0xffff}`;
  const psize = buf.readUInt32LE(48);
  if (psize < 512 || psize > 65536 || (psize & (psize - 1)) !== 0) return `bad page size ${psize}`;
  return {
    psize,
    txnid: buf.readBigUInt64LE(152),
    roots: [buf.readBigUInt64LE(88), buf.readBigUInt64LE(136)],
  };
}

/** undefined if the file looks usable (or does not exist / is empty: LMDB initializes it); otherwise what is wrong. */
export function checkLmdbFile(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return undefined;
    if (size < META_BYTES) return `the data file is truncated (${size} bytes)`;
    const first = Buffer.alloc(META_BYTES);
    readSync(fd, first, 0, META_BYTES, 0);
    const m0 = readMetaPage(first);
    if (typeof m0 === 'string') return m0;
    if (size < 2 * m0.psize) return `the data file is truncated (${size} bytes)`;
    const second = Buffer.alloc(META_BYTES);
    readSync(fd, second, 0, META_BYTES, m0.psize);
    const m1 = readMetaPage(second);
    if (typeof m1 === 'string') return m1;
    const pages = BigInt(Math.floor(size / m0.psize));
    const current = m1.txnid > m0.txnid ? m1 : m0;
    for (const root of current.roots) {
      if (root !== P_INVALID && root >= pages)
        return `the data file is truncated (${size} bytes; page ${root} is missing)`;
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}
