/**
 * An order-independent checksum of a query's output, folded the same way by the
 * baseline loop and by the engine's sink, so the two answers can be compared.
 *
 * Each row hashes its columns in a fixed order (numbers by their float64 bits,
 * strings by length and first/last characters: cheap, and enough to catch a wrong
 * column or a missing row); row hashes are combined with a sum and an xor, so
 * batch boundaries and row order do not matter.
 */
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

export const ROW_SEED = 0x2545f491;

export function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x85ebca6b);
  return h ^ (h >>> 13);
}

/** Fold a number (any float64; -0 and 0 differ, all NaNs are equal). */
export function hashNum(h: number, x: number): number {
  if (x !== x) return mix(h, 0x7ff80000);
  f64[0] = x;
  return mix(mix(h, u32[0]!), u32[1]!);
}

/** Fold a string by its length and its first and last characters. */
export function hashStr(h: number, s: string): number {
  const n = s.length;
  if (n === 0) return mix(h, 0x6e756c6c);
  return mix(mix(h, n), s.charCodeAt(0) | (s.charCodeAt(n - 1) << 16));
}

/** Fold any value (slower; for generic rows). */
export function hashAny(h: number, v: unknown): number {
  if (typeof v === 'number') return hashNum(h, v);
  if (typeof v === 'string') return hashStr(h, v);
  if (v === null || v === undefined) return mix(h, 0x4e554c4c);
  if (typeof v === 'boolean') return mix(h, v ? 0x74727565 : 0x66616c73);
  return hashStr(h, JSON.stringify(v));
}

export class Checksum {
  rows = 0;
  private sum = 0;
  private xor = 0;

  add(h: number): void {
    h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
    h ^= h >>> 16;
    this.rows++;
    this.sum = (this.sum + h) | 0;
    this.xor ^= h;
  }

  /** `rows:sumxor` in hex, e.g. `9200000:1a2b3c4d5e6f7a8b`. */
  value(): string {
    const hex = (x: number) => (x >>> 0).toString(16).padStart(8, '0');
    return `${this.rows}:${hex(this.sum)}${hex(this.xor)}`;
  }
}
