/**
 * The suite's verdicts, with messages that say what went wrong in terms of
 * records (which indices were lost or duplicated, the first out-of-order pair,
 * the first differing field) rather than a 100,000-row diff.
 */
import { isDeepStrictEqual, inspect } from 'node:util';
import type { Offset } from '../../connectors/contracts.ts';
import type { DataType, Field, Row, Schema } from '../../schema/index.ts';

export class ConformanceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConformanceError';
  }
}

export function fail(message: string): never {
  throw new ConformanceError(message);
}

export function check(cond: unknown, message: () => string): asserts cond {
  if (!cond) fail(message());
}

/** A stable text form of a value: sorted keys, bytes as hex, undefined as null. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, canonicalReplacer) ?? 'null';
}

function canonicalReplacer(this: unknown, _key: string, v: unknown): unknown {
  switch (typeof v) {
    case 'number':
      return Number.isFinite(v) ? (Object.is(v, -0) ? '-0' : v) : `${v}`;
    case 'bigint':
      return `${v}n`;
    case 'undefined':
      return null;
    case 'object': {
      if (v === null || Array.isArray(v)) return v;
      if (v instanceof Uint8Array)
        return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
      const keys = Object.keys(v);
      let sorted = true;
      for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1]! < keys[i]!;
      if (sorted) return v;
      const out: Record<string, unknown> = {};
      for (const k of keys.sort()) out[k] = (v as Record<string, unknown>)[k];
      return out;
    }
    default:
      return v;
  }
}

/**
 * Structural equality as `canonical` sees it (key order ignored, undefined = null,
 * bytes by content), without building strings: the fast path for large batches.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return a !== 0 || Object.is(a, b);
  if (a === undefined || a === null) return b === undefined || b === null;
  if (typeof a !== 'object' || typeof b !== 'object' || b === null) {
    return typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b);
  }
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!(Array.isArray(a) && Array.isArray(b)) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof Date || b instanceof Date) return canonical(a) === canonical(b);
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  for (const k in x) if (!sameValue(x[k], y[k])) return false;
  for (const k in y) if (!(k in x) && !sameValue(undefined, y[k])) return false;
  return true;
}

/** A row cut to the schema's columns (missing and undefined both read as null). */
export function project(row: Row, schema: Schema): Row {
  const out: Row = {};
  for (const name of schema.names) out[name] = row[name] ?? null;
  return out;
}

export const show = (v: unknown): string => inspect(v, { depth: 4, breakLength: 160, maxArrayLength: 10 });

/** `3, 5-9, 12` for a sorted list of integers, cut after `max` groups. */
export function ranges(sorted: readonly number[], max = 8): string {
  const parts: string[] = [];
  for (let i = 0; i < sorted.length && parts.length < max;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  const shown = parts.join(', ');
  return parts.length === max ? `${shown}, …` : shown;
}

// ---- offsets --------------------------------------------------------------------

/** An offset is JSON: it survives JSON.stringify/parse unchanged (it is written to the offsets log). */
export function checkOffsetIsJson(offset: Offset | null, what: string): Offset | null {
  let copy: unknown;
  try {
    const text = JSON.stringify(offset);
    if (text === undefined)
      fail(`${what}: offset ${show(offset)} is not JSON (JSON.stringify gives undefined)`);
    copy = JSON.parse(text);
  } catch (e) {
    if (e instanceof ConformanceError) throw e;
    fail(`${what}: offset ${show(offset)} cannot be written as JSON: ${(e as Error).message}`);
  }
  check(
    isDeepStrictEqual(copy, offset),
    () =>
      `${what}: offset ${show(offset)} changes when written to the offsets log and read back (got ${show(copy)}); ` +
      'offsets must be plain JSON (no undefined, NaN, Infinity, Dates, bigints or class instances)',
  );
  return copy as Offset | null;
}

export function sameOffset(a: Offset | null, b: Offset | null): boolean {
  return canonical(a) === canonical(b);
}

// ---- rows against a schema ---------------------------------------------------------

function typeProblem(v: unknown, t: DataType): string | undefined {
  switch (t.kind) {
    case 'string':
      return typeof v === 'string' ? undefined : 'a string';
    case 'long':
    case 'date':
    case 'timestamp':
      return typeof v === 'number' && Number.isSafeInteger(v) ? undefined : 'a safe integer';
    case 'double':
      return typeof v === 'number' ? undefined : 'a number';
    case 'boolean':
      return typeof v === 'boolean' ? undefined : 'a boolean';
    case 'binary':
      return v instanceof Uint8Array ? undefined : 'a Uint8Array';
    case 'json':
      return undefined;
    case 'null':
      return 'null';
    case 'array':
      if (!Array.isArray(v)) return 'an array';
      for (const e of v) {
        if (e === null || e === undefined) {
          if (!t.containsNull) return 'an array without nulls';
        } else if (typeProblem(e, t.element)) return `an array of ${t.element.kind}`;
      }
      return undefined;
    case 'struct':
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'an object';
      for (const f of t.fields) {
        const p = fieldProblem((v as Row)[f.name], f);
        if (p) return `a struct whose ${p}`;
      }
      return undefined;
  }
}

function fieldProblem(v: unknown, f: Field): string | undefined {
  if (v === null || v === undefined) {
    return f.nullable ? undefined : `field "${f.name}" is null but the schema says it is not nullable`;
  }
  const p = typeProblem(v, f.type);
  return p ? `field "${f.name}" (${f.type.kind}) is ${show(v)}, expected ${p}` : undefined;
}

/** Every row has the schema's columns with values of their declared types (nulls only where nullable). */
export function checkRowsMatchSchema(rows: readonly Row[], schema: Schema<any>, what: string): void {
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    if (typeof row !== 'object' || row === null) fail(`${what}: row ${i} is ${show(row)}, not an object`);
    for (const f of schema.fields) {
      const p = fieldProblem(row[f.name], f);
      if (p) fail(`${what}: row ${i} does not match the source's schema: ${p}. Row: ${show(row)}`);
    }
  }
}

// ---- exactly once ---------------------------------------------------------------------

export interface DeliveryExpectation {
  /** Exactly the records [0, count) (appended input). */
  readonly count?: number;
  /** At least this many records, forming a prefix [0, k) (generated input). */
  readonly atLeast?: number;
  /**
   * With `count`: records in [count, upTo) may be there too, each at most once (a batch can end
   * inside a unit that is not appended atomically, at a different record in each partition).
   */
  readonly upTo?: number;
}

/**
 * The rows hold each expected record exactly once: nothing lost, nothing
 * duplicated, nothing that was never put in.
 */
export function checkExactlyOnce(
  indices: readonly number[],
  expect: DeliveryExpectation,
  what: string,
): void {
  const seen = new Map<number, number>();
  const bad: unknown[] = [];
  for (const i of indices) {
    if (!Number.isSafeInteger(i) || i < 0) bad.push(i);
    else seen.set(i, (seen.get(i) ?? 0) + 1);
  }
  if (bad.length > 0) fail(`${what}: fixture.index(row) gave non-indices: ${show(bad.slice(0, 5))}`);
  const dups = [...seen].filter(([, n]) => n > 1).sort((a, b) => a[0] - b[0]);
  const distinct = seen.size;
  const count = expect.count ?? distinct;
  const missing: number[] = [];
  for (let i = 0; i < count; i++) if (!seen.has(i)) missing.push(i);
  const limit = Math.max(count, expect.upTo ?? count);
  const extra = [...seen.keys()].filter((i) => i >= limit).sort((a, b) => a - b);
  const problems: string[] = [];
  if (missing.length > 0) problems.push(`lost ${missing.length} record(s): ${ranges(missing)}`);
  if (dups.length > 0) {
    const shown = dups
      .slice(0, 8)
      .map(([i, n]) => `${i}×${n}`)
      .join(', ');
    problems.push(`duplicated ${dups.length} record(s): ${shown}${dups.length > 8 ? ', …' : ''}`);
  }
  if (extra.length > 0) problems.push(`${extra.length} record(s) that were never put in: ${ranges(extra)}`);
  if (expect.atLeast !== undefined && distinct < expect.atLeast) {
    problems.push(`only ${distinct} distinct record(s), expected at least ${expect.atLeast}`);
  }
  if (problems.length > 0) {
    const expected =
      expect.count === undefined
        ? 'a gap-free prefix 0, 1, 2, …'
        : `records 0-${count - 1}${limit > count ? ` (and any of ${count}-${limit - 1})` : ''}`;
    fail(`${what}: expected ${expected} exactly once, got ${indices.length} row(s); ${problems.join('; ')}`);
  }
}

/** Indices rise in delivery order (overall, or within each partition). */
export function checkOrder(
  indices: readonly number[],
  partitions: readonly (string | number)[] | undefined,
  what: string,
): void {
  const last = new Map<string | number, { index: number; at: number }>();
  for (let k = 0; k < indices.length; k++) {
    const p = partitions ? partitions[k]! : 0;
    const prev = last.get(p);
    const i = indices[k]!;
    if (prev && i <= prev.index) {
      const where = partitions ? ` in partition ${show(p)}` : '';
      fail(
        `${what}: rows are out of order${where}: record ${i} (row ${k}) came after record ${prev.index} (row ${prev.at})`,
      );
    }
    last.set(p, { index: i, at: k });
  }
}

/** Each row equals the expected row of its record. */
export function checkContents<R>(
  rows: readonly R[],
  index: (row: R) => number,
  expectedRow: (i: number) => R,
  what: string,
): void {
  const wrong: string[] = [];
  for (let k = 0; k < rows.length && wrong.length < 3; k++) {
    const row = rows[k]!;
    const want = expectedRow(index(row));
    if (!sameValue(row, want)) {
      wrong.push(`row ${k} (record ${index(row)}): got ${show(row)}, expected ${show(want)}`);
    }
  }
  if (wrong.length > 0) fail(`${what}: rows differ from the records put in:\n  ${wrong.join('\n  ')}`);
}

/** Two row lists are equal: as sequences when `ordered`, else as multisets. */
export function checkSameRows(
  actual: readonly Row[],
  expected: readonly Row[],
  ordered: boolean,
  what: string,
): void {
  // With different lengths, what was lost or duplicated says more than the first difference.
  if (ordered && actual.length === expected.length) {
    const n = actual.length;
    for (let i = 0; i < n; i++) {
      if (i >= actual.length || i >= expected.length || !sameValue(actual[i], expected[i])) {
        fail(
          `${what}: ${actual.length} row(s), expected ${expected.length}; first difference at row ${i}:\n` +
            `  got      ${i < actual.length ? show(actual[i]) : '(nothing)'}\n  expected ${i < expected.length ? show(expected[i]) : '(nothing)'}`,
        );
      }
    }
    return;
  }
  const a = actual.map(canonical);
  const e = expected.map(canonical);
  const counts = new Map<string, number>();
  for (const k of e) counts.set(k, (counts.get(k) ?? 0) + 1);
  const extra: string[] = [];
  for (const k of a) {
    const n = counts.get(k);
    if (n) counts.set(k, n - 1);
    else extra.push(k);
  }
  const missing: string[] = [];
  for (const [k, n] of counts) for (let i = 0; i < n; i++) missing.push(k);
  if (missing.length === 0 && extra.length === 0) return;
  const list = (xs: string[]) =>
    xs
      .slice(0, 3)
      .map((x) => `\n    ${x}`)
      .join('') + (xs.length > 3 ? `\n    … (${xs.length - 3} more)` : '');
  fail(
    `${what}: ${actual.length} row(s), expected ${expected.length}` +
      (missing.length ? `;\n  missing ${missing.length}:${list(missing)}` : '') +
      (extra.length ? `;\n  unexpected (or duplicated) ${extra.length}:${list(extra)}` : ''),
  );
}

/** Every expected row is there at least once (at-least-once sinks). */
export function checkContainsRows(actual: readonly Row[], expected: readonly Row[], what: string): void {
  const have = new Set(actual.map(canonical));
  const missing = expected.filter((r) => !have.has(canonical(r)));
  if (missing.length > 0) {
    fail(`${what}: lost ${missing.length} of ${expected.length} row(s), e.g. ${show(missing.slice(0, 3))}`);
  }
}

// ---- secrets ---------------------------------------------------------------------------

/** None of `secrets` occurs in `text` (which says where it came from). */
export function checkNoSecrets(secrets: readonly string[] | undefined, text: string, where: string): void {
  for (const s of secrets ?? []) {
    if (s !== '' && text.includes(s)) {
      fail(`a secret (${JSON.stringify(s.slice(0, 2) + '…')}) appears in ${where}; redact it`);
    }
  }
}

export function textOf(v: unknown): string {
  if (v instanceof Error) {
    const ctx = (v as { context?: unknown }).context;
    return `${v.message} ${ctx === undefined ? '' : safeJson(ctx)} ${v.cause ? textOf(v.cause) : ''}`;
  }
  return typeof v === 'string' ? v : safeJson(v);
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x)) ?? '';
  } catch {
    return inspect(v, { depth: 6 });
  }
}
