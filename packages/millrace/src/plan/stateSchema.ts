/**
 * What a stateful operator keeps in the state store, as plain data the checkpoint records
 * (checkpoint/layout.ts) so a restart can refuse state it would misread instead of failing
 * mid-batch (Spark's StateSchemaCompatibilityChecker).
 *
 *   node                         key fields                              value fields
 *   aggregate                    the grouping keys                       each aggregate: function text, result type
 *   aggregate, session_window    the grouping keys (the session's too)   each aggregate: function text, result type
 *   dedup                        the dedup columns                       "seen": what is stored per key (the mode)
 *   join (stream–stream)         the equality keys                       both sides' columns (rows are buffered whole)
 *   keyed (processWithState)     the key (its fields, for an object key) "state", "timers" (the time mode), "ttl"
 *
 * A field's `function` says how it is made when its name and type do not tell: an aggregate's
 * function (sum(x) and max(x) are both long but cannot read each other's buffers), a window key's
 * spec (a group stores its window's start; the end is start + size), a key column whose event time
 * prefixes the store keys ('event time': with a watermark the layout of the keys changes).
 */
import { type Expr, exprToString } from '../expr/Expr.ts';
import { resolveExpr } from '../expr/resolve.ts';
import { sessionKeyIndex } from '../operators/session/bindSession.ts';
import { type Schema, typeToString } from '../schema/index.ts';
import { aggToString } from './bindAggregate.ts';
import { eventTimeKeyOf, isWindowCall } from './eventTime.ts';
import { analyzeStreamJoin } from './joinNode.ts';
import { type LogicalPlan, type PlanOf, watermarkedColumns } from './logical.ts';

/** One field of a key or value: JSON-plain, written to the checkpoint. */
export interface StateField {
  readonly name: string;
  /** As `typeToString` prints it. */
  readonly type: string;
  /** How the field is made, where its name and type do not tell (see above); absent otherwise. */
  readonly function?: string;
}

export type StateOperatorKind = 'aggregate' | 'sessionAggregate' | 'dedup' | 'join' | 'keyed';

export interface OperatorStateInfo {
  readonly id: string;
  readonly kind: StateOperatorKind;
  /**
   * How the operator lays its state out in a store (STATE_FORMATS); absent in a layout: 1. Bump it
   * when an operator stores its keys or values another way, so old checkpoints are refused, not misread.
   */
  readonly format?: number;
  readonly keySchema: readonly StateField[];
  readonly valueSchema: readonly StateField[];
  /** The id was given with `.uid()` (not derived from the operator's position). */
  readonly named?: boolean;
  /**
   * In a layout: the first batch this operator ran in (it was added to a running query then); its
   * store's versions count from there (version = batch id − since). Absent: 0.
   */
  readonly since?: number;
}

/** The logical nodes that hold state. */
export type StatefulPlan = PlanOf<'aggregate' | 'dedup' | 'join' | 'keyed'>;

export function isStatefulPlan(p: LogicalPlan): p is StatefulPlan {
  return p.kind === 'aggregate' || p.kind === 'dedup' || p.kind === 'join' || p.kind === 'keyed';
}

/** The state layout of one stateful node, planned as operator `operatorId`. */
/**
 * Each operator kind's state format, in either store. aggregate 2: a group is one flat array (key
 * values, then buffers) under `<padded end>|<key text>` (2026-11; format 1 kept key and buffers
 * apart).
 */
export const STATE_FORMATS: Readonly<Record<StateOperatorKind, number>> = {
  aggregate: 2,
  sessionAggregate: 1,
  dedup: 1,
  join: 1,
  keyed: 1,
};

export function operatorStateInfo(node: StatefulPlan, operatorId: string): OperatorStateInfo {
  const info = fieldsOf(node, operatorId);
  return { ...info, format: STATE_FORMATS[info.kind], ...(node.uid === undefined ? {} : { named: true }) };
}

function fieldsOf(node: StatefulPlan, operatorId: string): OperatorStateInfo {
  switch (node.kind) {
    case 'aggregate':
      return aggregateInfo(node, operatorId);
    case 'dedup':
      return dedupInfo(node, operatorId);
    case 'join':
      return joinInfo(node, operatorId);
    case 'keyed':
      return keyedInfo(node, operatorId);
  }
}

function field(name: string, type: string, fn?: string): StateField {
  // No `function: undefined` key: the info is compared and written as JSON.
  return fn === undefined ? { name, type } : { name, type, function: fn };
}

const unalias = (e: Expr): Expr => (e.kind === 'alias' ? e.arg : e);

function aggregateInfo(p: PlanOf<'aggregate'>, id: string): OperatorStateInfo {
  const session = sessionKeyIndex(p) >= 0;
  // As bindAggregate: the first window key prefixes the store keys with its end; without one, a
  // watermarked time column key does. A session aggregate keys its store by the other keys' text.
  const windowIndex = session ? -1 : p.keys.findIndex((k) => isWindowCall(unalias(k.expr)));
  const etKey = session || windowIndex >= 0 ? null : eventTimeKeyOf(p);
  const keySchema = p.keys.map(({ name, expr }, i) => {
    const type = typeToString(p.schema.require(name, 'state schema').type);
    if (i === windowIndex) return field(name, type, exprToString(unalias(expr)));
    if (etKey?.kind === 'column' && etKey.keyIndex === i) return field(name, type, 'event time');
    return field(name, type);
  });
  const valueSchema = p.aggs.map(({ name, agg }) =>
    field(name, typeToString(p.schema.require(name, 'state schema').type), aggToString(agg)),
  );
  return { id, kind: session ? 'sessionAggregate' : 'aggregate', keySchema, valueSchema };
}

/** The modes of bindDedup.ts: what a key's store entry holds, and whether event time prefixes it. */
function dedupInfo(p: PlanOf<'dedup'>, id: string): OperatorStateInfo {
  const schema = p.input.schema;
  const timeColumn = p.withinWatermark
    ? undefined
    : p.columns.find((c) => watermarkedColumns(p.input).has(c));
  const keySchema = p.columns.map((c) =>
    field(c, typeOf(schema, c), c === timeColumn ? 'event time' : undefined),
  );
  const seen = p.withinWatermark
    ? field('seen', 'timestamp', 'dropDuplicatesWithinWatermark') // first event time + delay
    : timeColumn !== undefined
      ? field('seen', 'timestamp', 'dropDuplicates') // the event time
      : field('seen', 'boolean', 'dropDuplicates');
  return { id, kind: 'dedup', keySchema, valueSchema: [seen] };
}

function joinInfo(p: PlanOf<'join'>, id: string): OperatorStateInfo {
  const { leftKeys, rightKeys } = analyzeStreamJoin(p);
  const keySchema = leftKeys.map((l, i) => {
    const r = rightKeys[i]!;
    const [ln, rn] = [exprToString(l), exprToString(r)];
    const lt = typeToString(resolveExpr(l, p.left.schema, 'join').type);
    const rt = typeToString(resolveExpr(r, p.right.schema, 'join').type);
    return field(ln === rn ? ln : `${ln} = ${rn}`, lt === rt ? lt : `${lt} = ${rt}`);
  });
  const side = (s: Schema, prefix: string) =>
    s.fields.map((f) => field(`${prefix}.${f.name}`, typeToString(f.type)));
  return {
    id,
    kind: 'join',
    keySchema,
    valueSchema: [...side(p.left.schema, 'left'), ...side(p.right.schema, 'right')],
  };
}

function keyedInfo(p: PlanOf<'keyed'>, id: string): OperatorStateInfo {
  const schema = p.input.schema;
  const keyType = (e: Expr) => typeToString(resolveExpr(e, schema, 'groupByKey').type);
  // A single key is stored as its value, an object key as an object: name them apart.
  const keySchema = p.singleKey
    ? [field(p.keys[0]!.name, keyType(p.keys[0]!.expr))]
    : p.keys.map((k) => field(`key.${k.name}`, keyType(k.expr)));
  const o = p.options;
  const valueSchema = [
    // The user's value: its shape is not declared, so only its presence is recorded.
    field('state', 'any'),
    // Timers are stored as times of the time mode's clock: another mode would misread them.
    field('timers', 'timestamp', `timeMode=${o.timeMode}`),
    // With a TTL each key has an expiry index entry; without, none.
    ...(o.ttlMs === undefined ? [] : [field('ttl', 'timestamp')]),
  ];
  return { id, kind: 'keyed', keySchema, valueSchema };
}

function typeOf(schema: Schema, column: string): string {
  return typeToString(schema.require(column, 'state schema').type);
}
