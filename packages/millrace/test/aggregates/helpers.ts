/** Helpers for aggregate tests: binding by name, running with state-store round trips, random splits and merges. */
import { Packr } from 'msgpackr';
import { expect } from 'vitest';
import type { AggArgInfo, AggregateFunction } from '../../src/operators/aggregates/AggregateFunction.ts';
import { lookupAggregate } from '../../src/operators/aggregates/registry.ts';
import {
  BINARY,
  BOOLEAN,
  DATE,
  DOUBLE,
  LONG,
  NULL_TYPE,
  STRING,
  TIMESTAMP,
  type DataType,
} from '../../src/schema/index.ts';

export { BINARY, BOOLEAN, DATE, DOUBLE, LONG, NULL_TYPE, STRING, TIMESTAMP };

/** The state store's encoding. */
export const packr = new Packr({ structuredClone: true });
export const roundTrip = <T>(v: T): T => packr.unpack(packr.pack(v)) as T;

export { prng } from '../../src/testing/prng.ts';

/** A column argument. */
export const col = (type: DataType, nullable = true): AggArgInfo => ({ type, nullable });
/** A literal argument (its type inferred like lit()). */
export function litArg(value: unknown, type?: DataType): AggArgInfo {
  const t: DataType =
    type ??
    (value === null
      ? NULL_TYPE
      : typeof value === 'number'
        ? Number.isInteger(value)
          ? LONG
          : DOUBLE
        : typeof value === 'boolean'
          ? BOOLEAN
          : typeof value === 'string'
            ? STRING
            : Array.isArray(value)
              ? { kind: 'array', element: DOUBLE, containsNull: false }
              : NULL_TYPE);
  return { type: t, nullable: value === null, literal: { value } };
}

/** Type-check then bind a built-in aggregate, as the planner does. */
export function bind(name: string, args: AggArgInfo[], distinct = false): AggregateFunction<any> {
  const def = lookupAggregate(name);
  expect(args.length).toBeGreaterThanOrEqual(def.minArgs);
  expect(args.length).toBeLessThanOrEqual(def.maxArgs);
  def.resultType(args);
  return def.bind(args, { distinct });
}

export interface RunOptions {
  /** Pack and unpack the buffer (msgpackr) after every update, as a state store between batches would. */
  readonly roundTrip?: boolean;
}

/** init, update per row, finish. */
export function run(
  fn: AggregateFunction<any>,
  rows: readonly (readonly unknown[])[],
  opts: RunOptions = {},
): unknown {
  return fn.finish(accumulate(fn, rows, opts));
}

export function accumulate(
  fn: AggregateFunction<any>,
  rows: readonly (readonly unknown[])[],
  opts: RunOptions = {},
): unknown {
  let b = fn.init();
  if (opts.roundTrip) b = roundTrip(b);
  for (const r of rows) {
    b = fn.update(b, ...r);
    if (opts.roundTrip) b = roundTrip(b);
  }
  return b;
}

/**
 * Split `rows` into random contiguous parts, aggregate each separately, then
 * merge adjacent partial buffers in a random order (a random bracketing), so
 * the result must equal aggregating the concatenation. Buffers go through
 * msgpackr between merges when `roundTrip` is set.
 */
export function runSplit(
  fn: AggregateFunction<any>,
  rows: readonly (readonly unknown[])[],
  rnd: () => number,
  opts: RunOptions & { readonly maxParts?: number } = {},
): unknown {
  const parts: unknown[] = [];
  const maxParts = opts.maxParts ?? 8;
  const cuts = new Set<number>();
  const nParts = 1 + Math.floor(rnd() * maxParts);
  for (let i = 1; i < nParts; i++) cuts.add(Math.floor(rnd() * (rows.length + 1)));
  const bounds = [0, ...[...cuts].sort((a, b) => a - b), rows.length];
  for (let i = 0; i + 1 < bounds.length; i++)
    parts.push(accumulate(fn, rows.slice(bounds[i], bounds[i + 1]), opts));
  while (parts.length > 1) {
    const i = Math.floor(rnd() * (parts.length - 1));
    let a = parts[i];
    let b = parts[i + 1];
    if (opts.roundTrip) {
      a = roundTrip(a);
      b = roundTrip(b);
    }
    parts.splice(i, 2, fn.merge(a, b));
  }
  return fn.finish(parts[0]);
}

/** Deep equality where numbers may differ by floating-point rounding. */
export function expectClose(actual: unknown, expected: unknown, rel = 1e-9): void {
  expect(close(actual, expected, rel), `${fmt(actual)} ≉ ${fmt(expected)}`).toBe(true);
}

function close(a: unknown, b: unknown, rel: number): boolean {
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
    return a === b || Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));
  }
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => close(x, b[i], rel));
  if (a instanceof Uint8Array && b instanceof Uint8Array)
    return a.length === b.length && a.every((x, i) => x === b[i]);
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    return (
      ka.length === Object.keys(b).length &&
      ka.every((k) => close((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], rel))
    );
  }
  return Object.is(a, b) || (a === 0 && b === 0);
}

function fmt(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));
}
