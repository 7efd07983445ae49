/** Null handling, comparison, hashing and array functions (Spark SQL names). */
import { userError } from '../../errors/index.ts';
import { BOOLEAN, LONG, NULL_TYPE, type DataType, typeToString } from '../../schema/index.ts';
import { commonTypeOf } from './common.ts';
import type { ArgInfo, FunctionDef } from './FunctionDef.ts';
import { expectArg } from './argcheck.ts';

/** The common type of some arguments, or a clear error naming the function. */
function commonArgType(fn: string, args: readonly ArgInfo[]): DataType {
  let t: DataType = NULL_TYPE;
  for (const x of args) {
    const c = commonTypeOf(t, x.type);
    if (!c) {
      throw userError(
        'INVALID_ARGUMENT_TYPE',
        `${fn}: arguments must have one type, got ${typeToString(t)} and ${typeToString(x.type)}`,
      );
    }
    t = c;
  }
  return t;
}

const ORDERABLE = new Set(['long', 'double', 'string', 'boolean', 'timestamp', 'date', 'null']);

function checkOrderable(fn: string, args: readonly ArgInfo[]): void {
  args.forEach((a, i) => {
    if (!ORDERABLE.has(a.type.kind)) {
      throw userError(
        'INVALID_ARGUMENT_TYPE',
        `${fn}: argument ${i + 1} must be a number, string, boolean, timestamp or date, got ${typeToString(a.type)}`,
      );
    }
  });
}

/** `a > b` with Spark's ordering of doubles (NaN is larger than any other value). */
const greater = (a: any, b: any): boolean => (a !== a ? b === b : a > b);

function extremum(name: string, pickGreater: boolean): FunctionDef {
  return {
    name,
    minArgs: 2,
    maxArgs: Infinity,
    nulls: 'handled',
    returnType: (a) => (checkOrderable(name, a), commonArgType(name, a)),
    resultNullable: (a) => a.every((x) => x.nullable),
    impl: () =>
      function extremum(...vs: unknown[]) {
        let best: unknown = null;
        for (const v of vs) {
          if (v == null) continue;
          if (best === null || (pickGreater ? greater(v, best) : greater(best, v))) best = v;
        }
        return best;
      },
  };
}

function ifnullDef(name: string): FunctionDef {
  return {
    name,
    minArgs: 2,
    maxArgs: 2,
    nulls: 'handled',
    returnType: (a) => commonArgType(name, a),
    resultNullable: (a) => a[0]!.nullable && a[1]!.nullable,
    impl: () => (x: unknown, y: unknown) => (x != null ? x : y),
  };
}

// ---------------------------------------------------------------------------
// Spark's hash(): Murmur3 x86 32-bit, seed 42, each argument hashed with the
// previous result as seed; nulls leave the hash unchanged. Types follow
// Spark's bigint/double/string/boolean/date/timestamp(µs) encodings.

const mixK1 = (k: number): number => {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, 0x1b873593);
};
const mixH1 = (h: number, k: number): number => {
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
};
const fmix = (h: number, len: number): number => {
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
};

export const murmurHashInt = (i: number, seed: number): number => fmix(mixH1(seed, mixK1(i | 0)), 4);
const hashWords = (lo: number, hi: number, seed: number): number =>
  fmix(mixH1(mixH1(seed, mixK1(lo)), mixK1(hi)), 8);
/** A 64-bit integer given as a JS number (exact in the safe-integer range). */
export const murmurHashLong = (l: number, seed: number): number =>
  hashWords(l | 0, Math.floor(l / 4294967296) | 0, seed);

const f64 = new Float64Array(1);
const i32 = new Int32Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
export function murmurHashDouble(d: number, seed: number): number {
  f64[0] = d === 0 ? 0 : Number.isNaN(d) ? NaN : d; // -0.0 hashes as 0.0; NaN canonical
  return LITTLE_ENDIAN ? hashWords(i32[0]!, i32[1]!, seed) : hashWords(i32[1]!, i32[0]!, seed);
}

/** Spark's Murmur3_x86_32.hashUnsafeBytes (tail bytes mixed one by one, sign-extended). */
export function murmurHashBytes(b: Uint8Array, seed: number): number {
  const aligned = b.length - (b.length % 4);
  let h = seed;
  for (let i = 0; i < aligned; i += 4) {
    h = mixH1(h, mixK1(b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)));
  }
  for (let i = aligned; i < b.length; i++) h = mixH1(h, mixK1((b[i]! << 24) >> 24));
  return fmix(h, b.length);
}

const utf8 = new TextEncoder();

/**
 * Spark's hash of a string's UTF-8 bytes. ASCII text is hashed from its char codes (they are its
 * UTF-8 bytes) without encoding it first: exchanges hash every row's key.
 */
export function murmurHashString(s: string, seed: number): number {
  const n = s.length;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return murmurHashBytes(utf8.encode(s), seed);
  const aligned = n - (n % 4);
  let h = seed;
  for (let i = 0; i < aligned; i += 4) {
    h = mixH1(
      h,
      mixK1(
        s.charCodeAt(i) |
          (s.charCodeAt(i + 1) << 8) |
          (s.charCodeAt(i + 2) << 16) |
          (s.charCodeAt(i + 3) << 24),
      ),
    );
  }
  for (let i = aligned; i < n; i++) h = mixH1(h, mixK1(s.charCodeAt(i)));
  return fmix(h, n);
}

export function sparkHash(v: unknown, t: DataType, seed: number): number {
  if (v === null || v === undefined) return seed;
  switch (t.kind) {
    case 'long':
      return murmurHashLong(v as number, seed);
    case 'double':
      return murmurHashDouble(v as number, seed);
    case 'boolean':
      return murmurHashInt(v ? 1 : 0, seed);
    case 'date':
      return murmurHashInt(v as number, seed);
    case 'timestamp':
      return murmurHashLong((v as number) * 1000, seed);
    case 'string':
      return murmurHashString(v as string, seed);
    case 'binary':
      return murmurHashBytes(v as Uint8Array, seed);
    case 'array': {
      let h = seed;
      for (const x of v as unknown[]) h = sparkHash(x, t.element, h);
      return h;
    }
    case 'struct': {
      let h = seed;
      for (const f of t.fields) h = sparkHash((v as Record<string, unknown>)[f.name], f.type, h);
      return h;
    }
    case 'json':
      return murmurHashBytes(utf8.encode(JSON.stringify(v)), seed);
    case 'null':
      return seed;
  }
}

// ---------------------------------------------------------------------------

export const miscFunctions: FunctionDef[] = [
  {
    name: 'coalesce',
    minArgs: 1,
    maxArgs: Infinity,
    nulls: 'handled',
    returnType: (a) => commonArgType('coalesce', a),
    resultNullable: (a) => a.every((x) => x.nullable),
    impl: () =>
      function coalesce(...vs: unknown[]) {
        for (const v of vs) if (v != null) return v;
        return null;
      },
  },
  ifnullDef('ifnull'),
  ifnullDef('nvl'),
  {
    name: 'nvl2',
    minArgs: 3,
    maxArgs: 3,
    nulls: 'handled',
    returnType: (a) => commonArgType('nvl2', a.slice(1)),
    resultNullable: (a) => a[1]!.nullable || a[2]!.nullable,
    impl: () => (x: unknown, y: unknown, z: unknown) => (x != null ? y : z),
  },
  {
    // nullif(a, b): null when a = b, else a.
    name: 'nullif',
    minArgs: 2,
    maxArgs: 2,
    nulls: 'handled',
    returnType: (a) => {
      checkOrderable('nullif', a);
      commonArgType('nullif', a);
      return a[0]!.type.kind === 'null' ? a[1]!.type : a[0]!.type;
    },
    resultNullable: () => true,
    // Spark: NaN equals NaN.
    impl: () => (x: unknown, y: unknown) =>
      x == null || (y != null && (x === y || (x !== x && y !== y))) ? null : x,
  },
  {
    // nanvl(a, b): a unless a is NaN, then b.
    name: 'nanvl',
    minArgs: 2,
    maxArgs: 2,
    nulls: 'handled',
    returnType: (a) => {
      expectArg('nanvl', a, 0, 'double');
      expectArg('nanvl', a, 1, 'numeric');
      return a[0]!.type.kind === 'null' ? a[1]!.type : a[0]!.type;
    },
    resultNullable: (a) => a[0]!.nullable || a[1]!.nullable,
    impl: () => (x: number | null, y: number | null) => (x == null ? null : Number.isNaN(x) ? y : x),
  },
  extremum('greatest', true),
  extremum('least', false),
  {
    name: 'hash',
    minArgs: 1,
    maxArgs: Infinity,
    nulls: 'handled',
    returnType: () => LONG,
    resultNullable: () => false,
    impl: (a) => {
      const types = a.map((x) => x.type);
      return (...vs: unknown[]) => {
        let h = 42;
        for (let i = 0; i < vs.length; i++) h = sparkHash(vs[i], types[i]!, h);
        return h;
      };
    },
  },
  {
    // get_field(struct, 'name'): a struct's field (Spark's `col.field` / getField), e.g. window.start.
    name: 'get_field',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => {
      const t = a[0]!.type;
      const name = a[1]!.literal?.value;
      if (typeof name !== 'string') {
        throw userError('INVALID_ARGUMENT', 'get_field: the field name must be a string literal');
      }
      if (t.kind === 'null') return NULL_TYPE;
      if (t.kind !== 'struct') {
        throw userError('INVALID_ARGUMENT_TYPE', `get_field: needs a struct, got ${typeToString(t)}`);
      }
      const f = t.fields.find((x) => x.name === name);
      if (!f) {
        throw userError(
          'INVALID_ARGUMENT',
          `get_field: the struct has no field "${name}"; its fields are ${t.fields.map((x) => x.name).join(', ')}`,
        );
      }
      return f.type;
    },
    resultNullable: (a) => {
      const t = a[0]!.type;
      const f = t.kind === 'struct' ? t.fields.find((x) => x.name === a[1]!.literal?.value) : undefined;
      return a[0]!.nullable || (f?.nullable ?? true);
    },
    impl: (a) => {
      const name = a[1]!.literal!.value as string;
      return (s: Record<string, unknown>) => {
        const v = s[name];
        return v === undefined ? null : v;
      };
    },
  },
  {
    // element_at(array, index): 1-based, negative from the end, null when out of range.
    name: 'element_at',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => {
      expectArg('element_at', a, 0, 'array');
      expectArg('element_at', a, 1, 'long');
      if (a[1]!.literal?.value === 0) {
        throw userError(
          'INVALID_ARGUMENT',
          'element_at: SQL array indices start at 1; index 0 is not allowed',
        );
      }
      const t = a[0]!.type;
      return t.kind === 'array' ? t.element : NULL_TYPE;
    },
    resultNullable: () => true,
    impl: () => (arr: unknown[], i: number) => {
      if (i === 0)
        throw userError('INVALID_ARGUMENT', 'element_at: SQL array indices start at 1; got index 0');
      const v = i > 0 ? arr[i - 1] : arr[arr.length + i];
      return v === undefined ? null : v;
    },
  },
  ...['size', 'cardinality'].map((name): FunctionDef => ({
    // Spark (non-ANSI, legacy sizeOfNull): size(null) is -1.
    name,
    minArgs: 1,
    maxArgs: 1,
    nulls: 'handled',
    returnType: (a) => (expectArg(name, a, 0, 'array'), LONG),
    resultNullable: () => false,
    impl: () => (arr: unknown[] | null) => (arr == null ? -1 : arr.length),
  })),
  {
    // array_contains(array, value): null when not found but the array holds nulls (SQL semantics).
    name: 'array_contains',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => {
      expectArg('array_contains', a, 0, 'array');
      const t = a[0]!.type;
      if (t.kind === 'array' && !commonTypeOf(t.element, a[1]!.type)) {
        throw userError(
          'INVALID_ARGUMENT_TYPE',
          `array_contains: argument 2 must be ${typeToString(t.element)} to search ${typeToString(t)}, got ${typeToString(a[1]!.type)}`,
        );
      }
      return BOOLEAN;
    },
    resultNullable: (a) =>
      a[0]!.nullable || a[1]!.nullable || (a[0]!.type.kind === 'array' && a[0]!.type.containsNull),
    impl: () => (arr: unknown[], v: unknown) => {
      let sawNull = false;
      for (const x of arr) {
        if (x === v) return true;
        if (x == null) sawNull = true;
      }
      return sawNull ? null : false;
    },
  },
];
