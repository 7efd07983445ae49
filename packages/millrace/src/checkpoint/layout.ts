/**
 * The state layout a checkpoint was written with, and whether a query can read it: a pure
 * decision, as recovery.ts. `Checkpoint.readLayout()` gathers the recorded layout; the planner
 * gives the current one (plan/stateSchema.ts).
 *
 * State is found by position: an operator's id is its kind and index in the plan, its store
 * keys and values are laid out by its fields. A query whose stateful operators moved or changed
 * would read another operator's state, or buffers of another shape, and fail mid-batch (or, worse,
 * not fail). So a restart compares what the checkpoint recorded with what the query plans:
 *
 *   recorded vs current                               result
 *   ───────────────────────────────────────────────   ──────────────────────────────────────────
 *   numPartitions differ                              CHECKPOINT_MISMATCH: state is split by it,
 *                                                     fixed when the checkpoint was created
 *   another partitioner (hash)                        CHECKPOINT_MISMATCH: a group's state would be
 *                                                     looked for in another partition
 *   recorded has no operators                         compatible: no state to misread (a query
 *                                                     that was stateless); new operators start empty
 *   an id recorded, not current (or current, not      STATE_SCHEMA_INCOMPATIBLE: operators were
 *   recorded), or one id of another kind              added, removed or moved
 *   same id and kind, another state format            STATE_SCHEMA_INCOMPATIBLE: written by another
 *                                                     Millrace version that stored it differently
 *   same id and kind, key or value fields differ      STATE_SCHEMA_INCOMPATIBLE, listing the fields
 *   (added, removed, other type or function, order)   added, removed, changed or reordered
 *   otherwise                                         compatible (null)
 *
 * Checks run in that order and the first that fails is reported, with every operator it
 * concerns. Nullability is not compared: stored values carry no declared nullability.
 *
 *   layout    v1 | {"numPartitions","partitioner"} | [{"id","kind","format","keySchema","valueSchema"}, …]
 */
import { type MillraceError, userError } from '../errors/index.ts';
import type { OperatorStateInfo, StateField } from '../plan/stateSchema.ts';
import { decode, encode } from './format.ts';

export type { OperatorStateInfo, StateField, StateOperatorKind } from '../plan/stateSchema.ts';

export interface StateLayout {
  /** State partitions (Spark's spark.sql.shuffle.partitions), fixed when the checkpoint is created. */
  readonly numPartitions: number;
  /** How rows are hashed to partitions (plan/partitioning.ts PARTITIONER); absent: the first one. */
  readonly partitioner?: string;
  /** The stateful operators, in plan order. */
  readonly operators: readonly OperatorStateInfo[];
}

const KINDS = new Set(['aggregate', 'sessionAggregate', 'dedup', 'join', 'keyed']);

export function encodeLayout(layout: StateLayout): string {
  return encode([
    {
      numPartitions: layout.numPartitions,
      ...(layout.partitioner ? { partitioner: layout.partitioner } : {}),
    },
    layout.operators,
  ]);
}

export function decodeLayout(text: string, file: string): StateLayout {
  const [head, operators] = decode(text, file, 2);
  const numPartitions = (head as { numPartitions?: unknown } | null)?.numPartitions;
  if (typeof numPartitions !== 'number' || !Number.isInteger(numPartitions) || numPartitions < 1) {
    throw corrupt(file, `its partition count is ${JSON.stringify(numPartitions)}, not a positive integer`);
  }
  if (!Array.isArray(operators)) throw corrupt(file, 'its second line is not a list of operators');
  operators.forEach((op, i) => {
    const why = invalidOperator(op);
    if (why !== null) throw corrupt(file, `operator ${i} ${why}`);
  });
  const partitioner = (head as { partitioner?: unknown }).partitioner;
  if (partitioner !== undefined && typeof partitioner !== 'string') {
    throw corrupt(file, `its partitioner is ${JSON.stringify(partitioner)}, not a name`);
  }
  return {
    numPartitions,
    ...(partitioner ? { partitioner } : {}),
    operators: operators as OperatorStateInfo[],
  };
}

function invalidOperator(op: unknown): string | null {
  if (op === null || typeof op !== 'object') return 'is not an object';
  const o = op as Record<string, unknown>;
  if (typeof o.id !== 'string') return 'has no id';
  if (typeof o.kind !== 'string' || !KINDS.has(o.kind))
    return `(${o.id}) has an unknown kind ${JSON.stringify(o.kind)}`;
  if (
    o.format !== undefined &&
    !(typeof o.format === 'number' && Number.isInteger(o.format) && o.format >= 1)
  )
    return `(${o.id}) has a malformed state format ${JSON.stringify(o.format)}`;
  if (
    o.since !== undefined &&
    !(typeof o.since === 'number' && Number.isSafeInteger(o.since) && o.since >= 0)
  )
    return `(${o.id}) has a malformed first batch ${JSON.stringify(o.since)}`;
  for (const part of ['keySchema', 'valueSchema'] as const) {
    const fields = o[part];
    const ok =
      Array.isArray(fields) &&
      fields.every(
        (f: unknown) =>
          f !== null &&
          typeof f === 'object' &&
          typeof (f as StateField).name === 'string' &&
          typeof (f as StateField).type === 'string' &&
          ['string', 'undefined'].includes(typeof (f as StateField).function),
      );
    if (!ok) return `(${o.id}) has a malformed ${part}`;
  }
  return null;
}

function corrupt(file: string, what: string): MillraceError {
  return userError(
    'CHECKPOINT_CORRUPT',
    `checkpoint file ${file} is not a valid state layout: ${what}; ` +
      `move the checkpoint directory aside to start over, or restore it from a backup`,
    { file },
  );
}

/** Whether a query planned with `current` can use the state recorded as `recorded`; the error if not. */
export function checkLayout(
  recorded: StateLayout,
  current: StateLayout,
  checkpointDir: string,
): MillraceError | null {
  if (recorded.numPartitions !== current.numPartitions) {
    const n = recorded.numPartitions;
    return userError(
      'CHECKPOINT_MISMATCH',
      `the checkpoint at ${checkpointDir} was created with ${n} state partitions, but this query asks for ` +
        `${current.numPartitions}; the number is fixed when a checkpoint is created (state is split by it). ` +
        `Run the query with \`partitions: ${n}\`, or start a new checkpointLocation (its state starts empty)`,
      { checkpoint: checkpointDir },
    );
  }
  if (recorded.partitioner && current.partitioner && recorded.partitioner !== current.partitioner) {
    return userError(
      'CHECKPOINT_MISMATCH',
      `the checkpoint at ${checkpointDir} split its state by the hash "${recorded.partitioner}", this version of ` +
        `Millrace by "${current.partitioner}": a group's state would be looked for in another partition. ` +
        'Start a new checkpointLocation (its state starts empty), or run the version that wrote it',
      { checkpoint: checkpointDir },
    );
  }
  if (recorded.operators.length === 0) return null;
  return (
    operatorsMismatch(recorded.operators, current.operators, checkpointDir) ??
    formatMismatch(recorded.operators, current.operators, checkpointDir) ??
    schemaMismatch(recorded.operators, current.operators, checkpointDir)
  );
}

/** The same operators, their state stored another way (by another Millrace version). */
function formatMismatch(
  recorded: readonly OperatorStateInfo[],
  current: readonly OperatorStateInfo[],
  dir: string,
): MillraceError | null {
  const now = new Map(current.map((op) => [op.id, op]));
  const problems: string[] = [];
  const ids: string[] = [];
  for (const r of recorded) {
    const c = now.get(r.id);
    if (c && (r.format ?? 1) !== (c.format ?? 1)) {
      ids.push(r.id);
      problems.push(
        `${r.id}'s state is in format ${r.format ?? 1}, this version of Millrace reads format ${c.format ?? 1}`,
      );
    }
  }
  if (problems.length === 0) return null;
  return userError(
    'STATE_SCHEMA_INCOMPATIBLE',
    `the checkpoint at ${dir} holds state this version cannot read: ${problems.join('; ')}. ` +
      'Start a new checkpointLocation (its state starts empty), or run the version that wrote it',
    { checkpoint: dir, operator: ids.join(', ') },
  );
}

const describe = (op: OperatorStateInfo) => `${op.id} (${op.kind})`;
const list = (ops: readonly OperatorStateInfo[]) =>
  ops.length === 0 ? 'none' : ops.map(describe).join(', ');

function operatorsMismatch(
  recorded: readonly OperatorStateInfo[],
  current: readonly OperatorStateInfo[],
  dir: string,
): MillraceError | null {
  const now = new Map(current.map((op) => [op.id, op]));
  const before = new Map(recorded.map((op) => [op.id, op]));
  const problems: string[] = [];
  const ids: string[] = [];
  for (const r of recorded) {
    const c = now.get(r.id);
    if (c === undefined) {
      problems.push(`${describe(r)} is in the checkpoint but not in this query`);
      ids.push(r.id);
    } else if (c.kind !== r.kind) {
      problems.push(`${r.id} was ${article(r.kind)} and is now ${article(c.kind)}`);
      ids.push(r.id);
    }
  }
  // An operator added to the query starts with empty state. That is safe only when every operator
  // that keeps its state is named with uid(): a positional id (`aggregate-1`) may now belong to
  // another operator that moved up one place, and would read that one's state.
  const added = current.filter((c) => !before.has(c.id));
  const unnamed = current.filter((c) => before.has(c.id) && !c.named);
  if (added.length > 0 && (problems.length > 0 || unnamed.length > 0)) {
    for (const c of added) {
      problems.push(`${describe(c)} is new`);
      ids.push(c.id);
    }
  }
  if (problems.length === 0) return null;
  return userError(
    'STATE_SCHEMA_INCOMPATIBLE',
    `the stateful operators of this query do not match the state in checkpoint ${dir} ` +
      `(the checkpoint has ${list(recorded)}; this query has ${list(current)}): ${problems.join('; ')}. ` +
      `A stateful operator (aggregation, dropDuplicates, stream–stream join, processWithState) finds its ` +
      `state by its id: its position and kind, or the name given with .uid("…"). Operators may be added ` +
      `(their state starts empty) when every other one is named with uid(), but none may be removed, ` +
      `renamed or change kind. Undo the change, or use a new checkpointLocation (its state starts empty)`,
    { checkpoint: dir, operator: ids.join(', ') },
  );
}

/**
 * The layout to record for `current` over a checkpoint that recorded `recorded` (already checked):
 * operators it keeps carry their `since`; operators added now start at batch `nextBatchId`.
 */
export function mergeLayout(
  recorded: StateLayout | undefined,
  current: StateLayout,
  nextBatchId: number,
): StateLayout {
  const before = new Map((recorded?.operators ?? []).map((op) => [op.id, op]));
  const operators = current.operators.map((op): OperatorStateInfo => {
    const r = before.get(op.id);
    const since = r === undefined ? (recorded === undefined ? 0 : nextBatchId) : (r.since ?? 0);
    return since === 0 ? op : { ...op, since };
  });
  return { ...current, operators };
}

/** Operators whose state began after batch 0: the batch each first ran in, by id. */
export function addedAt(layout: StateLayout): Record<string, number> {
  const out: Record<string, number> = {};
  for (const op of layout.operators) if (op.since) out[op.id] = op.since;
  return out;
}

function schemaMismatch(
  recorded: readonly OperatorStateInfo[],
  current: readonly OperatorStateInfo[],
  dir: string,
): MillraceError | null {
  const now = new Map(current.map((op) => [op.id, op]));
  const problems: string[] = [];
  const ids: string[] = [];
  for (const r of recorded) {
    const c = now.get(r.id)!;
    const changes = [
      ...diffFields('key', r.keySchema, c.keySchema),
      ...diffFields('value', r.valueSchema, c.valueSchema),
    ];
    if (changes.length > 0) {
      problems.push(`${r.id}: ${changes.join('; ')}`);
      ids.push(r.id);
    }
  }
  if (problems.length === 0) return null;
  return userError(
    'STATE_SCHEMA_INCOMPATIBLE',
    `the state in checkpoint ${dir} was written by stateful operators that differ from this query's, ` +
      `and this query cannot read it. ${problems.join('. ')}. An operator's grouping keys, aggregates, ` +
      `deduplication columns and mode, join keys and sides, and keyed state's key, time mode and TTL must ` +
      `stay the same across restarts of one checkpoint. Undo the change, or use a new checkpointLocation ` +
      `(its state starts empty)`,
    { checkpoint: dir, operator: ids.join(', ') },
  );
}

/** What changed between two field lists, one phrase per field, e.g. `value field "n" (count(*): long) added`. */
export function diffFields(
  part: 'key' | 'value',
  recorded: readonly StateField[],
  current: readonly StateField[],
): string[] {
  const before = new Map(recorded.map((f) => [f.name, f]));
  const now = new Map(current.map((f) => [f.name, f]));
  const out: string[] = [];
  for (const f of current) {
    if (!before.has(f.name)) out.push(`${part} field "${f.name}" (${show(f)}) added`);
  }
  for (const f of recorded) {
    const c = now.get(f.name);
    if (c === undefined) out.push(`${part} field "${f.name}" (${show(f)}) removed`);
    else if (c.type !== f.type || c.function !== f.function) {
      out.push(`${part} field "${f.name}" changed from ${show(f)} to ${show(c)}`);
    }
  }
  // Fields are stored by position: the same fields in another order are read into the wrong slots.
  const kept = recorded.filter((f) => now.has(f.name)).map((f) => f.name);
  const keptNow = current.filter((f) => before.has(f.name)).map((f) => f.name);
  if (kept.join('\u0000') !== keptNow.join('\u0000')) {
    out.push(`${part} fields reordered from (${kept.join(', ')}) to (${keptNow.join(', ')})`);
  }
  return out;
}

function show(f: StateField): string {
  return f.function === undefined ? f.type : `${f.function}: ${f.type}`;
}

function article(kind: string): string {
  return `${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind}`;
}
