/**
 * Values made safe for JSON responses and events: bigint → string, Uint8Array → base64,
 * Date → ISO, Map → object, Set → array, non-finite numbers → null, functions dropped,
 * cycles cut. Rows from sinks can hold any of these.
 */
import { ownValue } from 'millrace';
export function toJsonSafe(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      return value.toString();
    case 'function':
    case 'symbol':
      return null;
  }
  if (depth > 32) return '[too deep]';
  const obj = value as object;
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? null : obj.toISOString();
  if (obj instanceof Uint8Array) return Buffer.from(obj).toString('base64');
  if (seen.has(obj)) return '[circular]';
  seen.add(obj);
  try {
    if (Array.isArray(obj)) return obj.map((v) => toJsonSafe(v, depth + 1, seen));
    if (obj instanceof Set) return [...obj].map((v) => toJsonSafe(v, depth + 1, seen));
    if (obj instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of obj) out[String(k)] = toJsonSafe(v, depth + 1, seen);
      return out;
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v === 'function' || v === undefined) continue;
      out[k] = toJsonSafe(v, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(obj);
  }
}

/** A value at a dotted path ("window.start") of a row. */
export function getPath(row: unknown, path: readonly string[]): unknown {
  let v: unknown = row;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = ownValue(v, p); // a row without "toString" has no toString field
  }
  return v;
}

/** Epoch ms from a timestamp value: a number (ms), a Date or ISO text; NaN otherwise. */
export function toEpochMs(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string') return Date.parse(v);
  return NaN;
}
