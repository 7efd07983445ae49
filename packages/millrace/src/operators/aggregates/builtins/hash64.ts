/**
 * A fast 64-bit hash of single values for sketches (HyperLogLog): two lanes
 * of Murmur3 x86_128's mixing with its finaliser, computed in 32-bit integer
 * arithmetic. Allocation-free: each function writes the result to `hash64.hi`
 * and `hash64.lo` (signed 32-bit integers) instead of returning a pair.
 *
 * Equal values hash equally: -0 as 0, every NaN alike, an integral double as
 * the integer. Strings are hashed by UTF-16 code units (no encoding step).
 */
import { canonicalString } from './common.ts';

/** The last hash computed. */
export const hash64 = { hi: 0, lo: 0 };

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;

const fmix = (h: number): number => {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
};

// Lane state for the running hash (module-level so the helpers stay allocation-free).
let h1 = 0;
let h2 = 0;

function start(seed: number): void {
  h1 = seed;
  h2 = seed ^ 0x5bd1e995;
}

function round(k1: number, k2: number): void {
  k1 = Math.imul(k1, C1);
  k1 = (k1 << 15) | (k1 >>> 17);
  k1 = Math.imul(k1, C2);
  h1 ^= k1;
  h1 = (h1 << 19) | (h1 >>> 13);
  h1 = (h1 + h2) | 0;
  h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
  k2 = Math.imul(k2, C2);
  k2 = (k2 << 16) | (k2 >>> 16);
  k2 = Math.imul(k2, C3);
  h2 ^= k2;
  h2 = (h2 << 17) | (h2 >>> 15);
  h2 = (h2 + h1) | 0;
  h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
}

function end(len: number): void {
  let a = h1 ^ len;
  let b = h2 ^ len;
  a = (a + b) | 0;
  b = (b + a) | 0;
  a = fmix(a);
  b = fmix(b);
  a = (a + b) | 0;
  b = (b + a) | 0;
  hash64.hi = a;
  hash64.lo = b;
}

const SEED = 0x2f1b3c4d;
const f64 = new Float64Array(1);
const i32 = new Int32Array(f64.buffer);
const LE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const LO = LE ? 0 : 1;
const HI = LE ? 1 : 0;

/** Hash a number: integers (safe range) by their 64-bit two's complement, others by their IEEE bits. */
export function hashNumber(v: number): void {
  start(SEED);
  if ((v | 0) === v) {
    round(v | 0, v < 0 ? -1 : 0);
    end(8);
  } else if (Number.isSafeInteger(v)) {
    round(v | 0, Math.floor(v / 4294967296) | 0);
    end(8);
  } else {
    f64[0] = v === v ? v : NaN;
    round(i32[LO]!, i32[HI]!);
    end(9);
  }
}

/** Hash a string by its UTF-16 code units, four per round. */
export function hashString(s: string): void {
  start(SEED ^ 0x1234567);
  const n = s.length;
  const full = n - (n & 3);
  let i = 0;
  for (; i < full; i += 4) {
    round(s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16), s.charCodeAt(i + 2) | (s.charCodeAt(i + 3) << 16));
  }
  const rest = n - full;
  if (rest > 0) {
    const w0 = s.charCodeAt(i) | (rest > 1 ? s.charCodeAt(i + 1) << 16 : 0);
    const w1 = rest > 2 ? s.charCodeAt(i + 2) : 0;
    round(w0, w1);
  }
  end(n * 2);
}

const byteWord = (b: Uint8Array, i: number, n: number): number =>
  i + 3 < n
    ? b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)
    : (i < n ? b[i]! : 0) | (i + 1 < n ? b[i + 1]! << 8 : 0) | (i + 2 < n ? b[i + 2]! << 16 : 0);

/** Hash bytes, eight per round. */
export function hashBytes(b: Uint8Array): void {
  start(SEED ^ 0x7654321);
  const n = b.length;
  for (let i = 0; i < n; i += 8) round(byteWord(b, i, n), byteWord(b, i + 4, n));
  end(n);
}

/** Hash any value: numbers, strings, booleans and bytes directly, others by their canonical string. */
export function hashValue(v: unknown): void {
  switch (typeof v) {
    case 'number':
      return hashNumber(v);
    case 'string':
      return hashString(v);
    case 'boolean':
      return hashNumber(v ? 1 : 0);
    default:
      if (v instanceof Uint8Array) return hashBytes(v);
      return hashString(canonicalString(v));
  }
}
