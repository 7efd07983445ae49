/**
 * How a stateful operator's input is split into state partitions (Spark's HashPartitioning,
 * `spark.sql.shuffle.partitions`):
 *
 *   partition(row) = pmod(murmur3(key₁, …, keyₙ; seed 42), numPartitions)
 *
 * with Spark's Murmur3 over the keys' declared types (the `hash()` SQL function's), so a key lands
 * in the same partition on every run, in every process, and where Spark would put it. Every row of
 * one group (aggregate), one key (dedup, processWithState) or one equi-join key lands in one
 * partition, so the operator on partition p sees all of that key's rows and its state lives only
 * in store (operator, p).
 *
 *   operator            partition key
 *   aggregate           the grouping keys but a window; a tumbling window adds its start (a row is
 *                       in one tumbling window), a sliding window does not (a row is in several)
 *   session window      the grouping keys but the session window (sessions merge within a key)
 *   dedup               the key columns
 *   stream–stream join  the equality keys, each side over its own columns (same hash for equal values)
 *   processWithState    the key
 *
 * An operator with no such key (a global windowed count over sliding windows, a join on a time
 * range only) runs on partition 0 alone: `single`. Its other partitions get no rows but still run
 * every batch, so state layout and commits are uniform.
 */
import type { Row, Schema, DataType } from '../schema/index.ts';
import type { Expr } from '../expr/Expr.ts';
import { exprToString } from '../expr/Expr.ts';
import { compileExpr } from '../expr/codegen.ts';
import { resolveExpr } from '../expr/resolve.ts';
import { typeEquals } from '../schema/index.ts';
import {
  murmurHashDouble,
  murmurHashInt,
  murmurHashLong,
  murmurHashString,
  sparkHash,
} from '../expr/functions/misc.ts';
import { lastWindowStart } from '../expr/windows.ts';
import type { AggregateSpec } from '../operators/aggregate/StreamingAggregate.ts';
import type { NamedExpr, PlanOf } from './logical.ts';
import { isSessionWindowCall, isWindowCall } from './eventTime.ts';
import { analyzeStreamJoin } from './joinNode.ts';

/**
 * The name of this partitioning, recorded in a checkpoint's layout: a checkpoint split by another
 * hash would have a group's state in another partition. Change it with the hash.
 */
export const PARTITIONER = 'murmur3-spark-seed42';

/** Spark's seed for `hash()` and for HashPartitioning. */
const SEED = 42;

export type Partitioning =
  | {
      readonly kind: 'hash';
      /** The key terms as text, for explain. */
      readonly keys: readonly string[];
      readonly numPartitions: number;
      readonly partitionOf: (row: Row) => number;
    }
  | {
      readonly kind: 'single';
      /** Why there is no key to spread rows by, for explain. */
      readonly reason: string;
      readonly numPartitions: number;
    };

/** One term of a partition key: how to read it from a row, and how to hash its value. */
interface KeyTerm {
  readonly text: string;
  readonly value: (row: Row) => unknown;
  readonly hash: (v: unknown, seed: number) => number;
}

export function describePartitioning(p: Partitioning): string {
  return p.kind === 'hash'
    ? `hashpartitioning(${p.keys.join(', ')}, ${p.numPartitions})`
    : `SinglePartition (${p.reason}; ${p.numPartitions} partitions, rows in 0)`;
}

const pmod = (h: number, n: number): number => ((h % n) + n) % n;

function hashPartitioning(terms: readonly KeyTerm[], numPartitions: number, reason: string): Partitioning {
  if (terms.length === 0) return { kind: 'single', reason, numPartitions };
  const keys = terms.map((t) => t.text);
  if (terms.length === 1) {
    const { value, hash } = terms[0]!;
    return {
      kind: 'hash',
      keys,
      numPartitions,
      partitionOf: (row) => pmod(hash(value(row), SEED), numPartitions),
    };
  }
  return {
    kind: 'hash',
    keys,
    numPartitions,
    partitionOf: (row) => {
      let h = SEED;
      for (let i = 0; i < terms.length; i++) h = terms[i]!.hash(terms[i]!.value(row), h);
      return pmod(h, numPartitions);
    },
  };
}

/** Spark's hash of a value of a declared type (nulls leave the seed unchanged). */
function typedHash(type: DataType): (v: unknown, seed: number) => number {
  switch (type.kind) {
    case 'string':
      return (v, seed) => (v == null ? seed : murmurHashString(v as string, seed));
    case 'long':
      return (v, seed) => (v == null ? seed : murmurHashLong(v as number, seed));
    case 'double':
      return (v, seed) => (v == null ? seed : murmurHashDouble(v as number, seed));
    default:
      return (v, seed) => sparkHash(v, type, seed);
  }
}

/**
 * A hash by the value's JS kind, for a join key whose two sides have different declared types
 * (a long column equal to a double column): equal values must hash alike whatever they were declared.
 */
function valueHash(v: unknown, seed: number): number {
  if (v == null) return seed;
  switch (typeof v) {
    case 'number':
      return Number.isInteger(v) ? murmurHashLong(v, seed) : murmurHashDouble(v, seed);
    case 'string':
      return murmurHashString(v, seed);
    case 'boolean':
      return murmurHashInt(v ? 1 : 0, seed);
    default:
      return murmurHashString(JSON.stringify(v), seed);
  }
}

function exprTerm(
  e: Expr,
  schema: Schema,
  where: string,
  hash?: (v: unknown, seed: number) => number,
): KeyTerm {
  const type = resolveExpr(e, schema, where).type;
  return { text: exprToString(e), value: compileExpr(e, schema, where), hash: hash ?? typedHash(type) };
}

const unalias = (e: Expr): Expr => (e.kind === 'alias' ? e.arg : e);
const plainKeys = (keys: readonly NamedExpr[]): NamedExpr[] =>
  keys.filter((k) => !isWindowCall(unalias(k.expr)) && !isSessionWindowCall(unalias(k.expr)));

/** A streaming aggregation (bound spec at hand: its window assignment is reused). */
export function aggregatePartitioning(
  p: PlanOf<'aggregate'>,
  spec: AggregateSpec,
  numPartitions: number,
): Partitioning {
  const schema = p.input.schema;
  const terms = plainKeys(p.keys).map((k) => exprTerm(k.expr, schema, `groupBy key ${k.name}`));
  const et = spec.eventTime;
  if (et?.kind === 'window' && et.spec.sizeMs === et.spec.slideMs) {
    const { time, spec: w } = et;
    terms.push({
      text: `${p.keys[et.keyIndex]!.name}.start`,
      value: (row) => {
        const t = time(row);
        return t == null ? null : lastWindowStart(t as number, w);
      },
      hash: (v, seed) => (v == null ? seed : murmurHashLong((v as number) * 1000, seed)),
    });
  }
  return hashPartitioning(terms, numPartitions, 'no grouping key but a sliding window');
}

/**
 * The partial groups of an aggregation (`StreamingAggregate.partial`: rows `{ k, e, g }`, `g` the
 * group: key values in key order, a window key as its start): the same partition as the group's
 * rows get from `aggregatePartitioning`, so a checkpoint is read alike inline and on workers.
 */
export function partialGroupPartitioning(
  p: PlanOf<'aggregate'>,
  spec: AggregateSpec,
  numPartitions: number,
): Partitioning {
  const schema = p.input.schema;
  const et = spec.eventTime;
  const windowIndex = et?.kind === 'window' ? et.keyIndex : -1;
  const terms: KeyTerm[] = [];
  p.keys.forEach((k, i) => {
    if (i === windowIndex || isSessionWindowCall(unalias(k.expr))) return;
    const type = resolveExpr(k.expr, schema, `groupBy key ${k.name}`).type;
    terms.push({
      text: exprToString(k.expr),
      value: (row) => (row.g as unknown[])[i],
      hash: typedHash(type),
    });
  });
  if (et?.kind === 'window' && et.spec.sizeMs === et.spec.slideMs) {
    terms.push({
      text: `${p.keys[et.keyIndex]!.name}.start`,
      value: (row) => (row.g as unknown[])[et.keyIndex],
      hash: (v, seed) => (v == null ? seed : murmurHashLong((v as number) * 1000, seed)),
    });
  }
  return hashPartitioning(terms, numPartitions, 'no grouping key but a sliding window');
}

/** A session-window aggregation: by the keys beside the session window. */
export function sessionPartitioning(p: PlanOf<'aggregate'>, numPartitions: number): Partitioning {
  const schema = p.input.schema;
  const terms = plainKeys(p.keys).map((k) => exprTerm(k.expr, schema, `groupBy key ${k.name}`));
  return hashPartitioning(terms, numPartitions, 'no grouping key but the session window');
}

export function dedupPartitioning(p: PlanOf<'dedup'>, numPartitions: number): Partitioning {
  const schema = p.input.schema;
  const terms = p.columns.map((c) => exprTerm({ kind: 'col', name: c }, schema, `dropDuplicates key ${c}`));
  return hashPartitioning(terms, numPartitions, 'no key');
}

export function keyedPartitioning(p: PlanOf<'keyed'>, numPartitions: number): Partitioning {
  const schema = p.input.schema;
  const terms = p.keys.map((k) => exprTerm(k.expr, schema, 'groupByKey'));
  return hashPartitioning(terms, numPartitions, 'no key');
}

/**
 * The partition of a processWithState key value (one expression's value, or an object of the named
 * keys): the same hash as its rows get, for the initial state, which is given as keys, not rows.
 */
export function keyedKeyPartition(p: PlanOf<'keyed'>, numPartitions: number): (key: unknown) => number {
  const schema = p.input.schema;
  const hashes = p.keys.map((k) => typedHash(resolveExpr(k.expr, schema, 'groupByKey').type));
  if (p.singleKey) return (key) => pmod(hashes[0]!(key, SEED), numPartitions);
  const names = p.keys.map((k) => k.name);
  return (key) => {
    let h = SEED;
    for (let i = 0; i < names.length; i++) h = hashes[i]!((key as Record<string, unknown>)?.[names[i]!], h);
    return pmod(h, numPartitions);
  };
}

/** Both sides of a stream–stream join, by their equality keys pairwise. */
export function joinPartitioning(
  p: PlanOf<'join'>,
  numPartitions: number,
): { readonly left: Partitioning; readonly right: Partitioning } {
  const { leftKeys, rightKeys } = analyzeStreamJoin(p);
  const left: KeyTerm[] = [];
  const right: KeyTerm[] = [];
  leftKeys.forEach((lk, i) => {
    const rk = rightKeys[i]!;
    const lt = resolveExpr(lk, p.left.schema, 'join left key').type;
    const rt = resolveExpr(rk, p.right.schema, 'join right key').type;
    const hash = typeEquals(lt, rt) ? undefined : valueHash;
    left.push(exprTerm(lk, p.left.schema, 'join left key', hash));
    right.push(exprTerm(rk, p.right.schema, 'join right key', hash));
  });
  const reason = 'no equality key';
  return {
    left: hashPartitioning(left, numPartitions, reason),
    right: hashPartitioning(right, numPartitions, reason),
  };
}
