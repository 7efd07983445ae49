/**
 * Physical plan: what the executor runs. Fully bound when created — pipeline
 * functions are already compiled, watermark slots assigned, one operator
 * instance made per state partition — nothing is "filled in later".
 * Consecutive stateless logical nodes fuse into one `pipeline` node (one
 * generated loop).
 *
 * With more than one state partition, an `exchange` node sits under each
 * stateful operator (under each side of a join): it splits the rows by the
 * operator's key (plan/partitioning.ts), and the operator runs once per
 * partition over its share, with its state at (operatorId, partition):
 *
 *   scan ─► pipeline ─► exchange(hash(key) pmod P) ─┬─► operator[0] (store op/0) ─┐
 *                                                   ├─► operator[1] (store op/1) ─┼─► pipeline ─► sink
 *                                                   └─► operator[P-1]  …          ─┘
 *
 * With one partition there is nothing to exchange and no exchange node: rows
 * stream from the source through the operator as they always did.
 */
import { userError } from '../errors/index.ts';
import type { Source } from '../connectors/contracts.ts';
import { JSON_TYPE, LONG, STRING, Schema } from '../schema/index.ts';
import type { Expr } from '../expr/Expr.ts';
import { columnUses } from '../expr/rewrite.ts';
import { isWindowCall } from './eventTime.ts';
import { type PipelineFn, type PipelineStep, compilePipeline } from '../operators/pipeline.ts';
import type { LogicalPlan, PlanKind, PlanOf } from './logical.ts';
import { optimize } from './optimizer.ts';
import { type BatchTime, bindBatchTime } from './batchTime.ts';
import { StreamingAggregate } from '../operators/aggregate/StreamingAggregate.ts';
import type { StatefulOperator } from '../operators/StatefulOperator.ts';
import { bindAggregate, aggToString } from './bindAggregate.ts';
import { SessionAggregate } from '../operators/session/SessionAggregate.ts';
import { bindSession, sessionKeyIndex } from '../operators/session/bindSession.ts';
import { Deduplicate } from '../operators/dedup/Deduplicate.ts';
import { bindDedup, describeDedupMode } from './bindDedup.ts';
import { KeyedProcess } from '../operators/keyed/KeyedProcess.ts';
import { bindKeyed, keyedOptionsString } from './keyedNode.ts';
import { exprToString } from '../expr/Expr.ts';
import { StreamJoin } from '../operators/join/StreamJoin.ts';
import { type LookupTable, lookupJoinFn } from '../operators/join/lookupJoin.ts';
import { bindLookupJoin, bindStreamJoin } from './bindJoin.ts';
import { describeJoin } from './joinNode.ts';
import {
  type Partitioning,
  aggregatePartitioning,
  dedupPartitioning,
  joinPartitioning,
  keyedKeyPartition,
  keyedPartitioning,
  partialGroupPartitioning,
  sessionPartitioning,
} from './partitioning.ts';
import { type OperatorStateInfo, type StatefulPlan, operatorStateInfo } from './stateSchema.ts';

export type PhysicalPlan =
  | { readonly kind: 'scan'; readonly source: Source<any>; readonly schema: Schema }
  | {
      readonly kind: 'pipeline';
      readonly input: PhysicalPlan;
      readonly steps: readonly PipelineStep[];
      readonly run: PipelineFn;
      readonly schema: Schema;
    }
  | { readonly kind: 'union'; readonly inputs: readonly PhysicalPlan[]; readonly schema: Schema }
  | {
      /**
       * An aggregation's rows of this task folded into partial groups before its exchange (Spark's
       * partial aggregate): the exchange then moves groups, not rows. On worker threads only.
       */
      readonly kind: 'partialAggregate';
      readonly input: PhysicalPlan;
      /** The operator whose spec folds (its `partial()`); the final instances merge. */
      readonly operator: StreamingAggregate;
      readonly schema: Schema;
    }
  | {
      /** Rows split into state partitions for the stateful operator above (only with > 1 partition). */
      readonly kind: 'exchange';
      readonly input: PhysicalPlan;
      readonly partitioning: Partitioning;
      readonly schema: Schema;
      /** Between worker threads, only these columns cross (what the operator reads); absent: all. */
      readonly carries?: Schema;
    }
  | {
      readonly kind: 'stateful';
      readonly input: PhysicalPlan;
      /** The instance of partition 0: its id and spec describe every partition's. */
      readonly operator: StatefulOperator;
      /** One instance per state partition (`partitions[0] === operator`). */
      readonly partitions: readonly StatefulOperator[];
      readonly describe: string;
      readonly schema: Schema;
    }
  | {
      /** A stream–stream join: the operator reads the left input's chunks, then the right's. */
      readonly kind: 'join';
      readonly left: PhysicalPlan;
      readonly right: PhysicalPlan;
      readonly operator: StreamJoin;
      readonly partitions: readonly StreamJoin[];
      readonly describe: string;
      readonly schema: Schema;
    };

/** A stateful operator of the query with its instance per state partition. */
export interface PartitionedOperator {
  readonly operatorId: string;
  /** What its state holds (kind, key and value fields): recorded in the checkpoint, checked at start. */
  readonly stateInfo: OperatorStateInfo;
  /** `partitions[p]` runs partition p; its state is at (operatorId, p). */
  readonly partitions: readonly StatefulOperator[];
}

export interface PhysicalPlanOptions {
  /** State partitions (Spark's spark.sql.shuffle.partitions). Default 1. */
  readonly numPartitions?: number;
  /**
   * The plan runs as several tasks (worker threads), each reading part of the input: every
   * stateful operator reads through an exchange, even with one partition, so its rows meet.
   */
  readonly distributed?: boolean;
}

export interface WatermarkSpec {
  readonly slot: number;
  readonly column: string;
  readonly delayMs: number;
}

export interface PhysicalQuery {
  readonly root: PhysicalPlan;
  /** State partitions of every stateful operator (fixed for a checkpoint). */
  readonly numPartitions: number;
  /** Stateful operators, in plan order (their ids name their state). */
  readonly statefulOperators: readonly PartitionedOperator[];
  /**
   * How far behind the query's watermark each stateful operator's input watermark is (ms; absent: 0).
   * A stream–stream join with a time range emits rows whose event times trail the watermark by up
   * to the range, so what reads its output sees the watermark that much later (Spark 3.5's
   * watermark propagation: a join's output watermark is the minimum of its sides' state watermarks).
   */
  readonly watermarkDelays: ReadonlyMap<string, number>;
  /** What `current_timestamp()` reads; the executor sets it to each batch's timestamp. */
  readonly batchTime: BatchTime;
  readonly sources: readonly Source<any>[];
  readonly watermarks: readonly WatermarkSpec[];
  /** Static tables of stream–table joins; the executor loads (and refreshes) them before a batch. */
  readonly lookupTables: readonly LookupTable[];
}

/** Un-compiled pipeline while planning; finalised into a `pipeline` node. */
type Draft =
  | { readonly kind: 'node'; readonly node: PhysicalPlan }
  | {
      readonly kind: 'steps';
      readonly input: PhysicalPlan;
      readonly steps: PipelineStep[];
      readonly schema: Schema;
    };

/** Aggregates whose buffer is a number or two: a partial group is no bigger than a row. */
const SMALL_BUFFERS = new Set(['count', 'sum', 'min', 'max', 'avg', 'mean', 'first', 'last', 'count_if']);

/**
 * Whether folding each task's rows into partial groups before the exchange moves less than the
 * rows would: only when a row lands in one group (no sliding window: a row is in size/slide of them,
 * so partial groups could outnumber the rows) and every buffer is small (a distinct set or a list
 * would travel whole). Otherwise the exchange carries the rows, pruned to the columns used.
 */
function partialAggregationPays(p: PlanOf<'aggregate'>): boolean {
  const unalias = (e: Expr): Expr => (e.kind === 'alias' ? e.arg : e);
  for (const k of p.keys) {
    const e = unalias(k.expr);
    if (isWindowCall(e)) {
      const size = e.args[1];
      const slide = e.args[2];
      if (size?.kind !== 'lit' || slide?.kind !== 'lit' || size.value !== slide.value) return false;
    }
  }
  return p.aggs.every(({ agg }) => !agg.def && !agg.distinct && SMALL_BUFFERS.has(agg.name));
}

/** Rows of partial groups between a partial aggregate and its exchange: store key, event-time end, group. */
const PARTIAL_GROUPS = new Schema([
  { name: 'k', type: STRING, nullable: false },
  { name: 'e', type: LONG, nullable: false },
  { name: 'g', type: JSON_TYPE, nullable: false },
]);

export function planPhysical(logical: LogicalPlan, options: PhysicalPlanOptions = {}): PhysicalQuery {
  const numPartitions = options.numPartitions ?? 1;
  const distributed = options.distributed ?? false;
  const watermarks: WatermarkSpec[] = [];
  const sources: Source<any>[] = [];
  const statefulOperators: PartitionedOperator[] = [];
  const lookupTables: LookupTable[] = [];

  /**
   * A stateful operator's id: the user's `.uid()`, else its kind and position (the number of
   * stateful operators below and before it), which changes when operators are added upstream.
   */
  const idOf = (node: StatefulPlan, kind: string): string =>
    node.uid ?? `${kind}-${statefulOperators.length}`;
  /** One instance per partition (operators keep per-partition caches, e.g. the earliest expiry). */
  const instances = <T extends StatefulOperator>(node: StatefulPlan, make: () => T): T[] => {
    const all = Array.from({ length: numPartitions }, make);
    const operatorId = all[0]!.operatorId;
    if (statefulOperators.some((o) => o.operatorId === operatorId)) {
      throw userError(
        'INVALID_PLAN',
        `two stateful operators have the id ${JSON.stringify(operatorId)}: give each its own uid()`,
      );
    }
    statefulOperators.push({ operatorId, stateInfo: operatorStateInfo(node, operatorId), partitions: all });
    return all;
  };
  /** The input of a stateful operator, split by its key when there is more than one partition. */
  const exchange = (input: PhysicalPlan, partitioning: () => Partitioning, carries?: Schema): PhysicalPlan =>
    numPartitions === 1 && !distributed
      ? input
      : {
          kind: 'exchange',
          input,
          partitioning: partitioning(),
          schema: input.schema,
          ...(distributed && carries ? { carries } : {}),
        };

  const finish = (d: Draft): PhysicalPlan =>
    d.kind === 'node'
      ? d.node
      : { kind: 'pipeline', input: d.input, steps: d.steps, run: compilePipeline(d.steps), schema: d.schema };

  const extend = (input: Draft, step: PipelineStep, schema: Schema): Draft =>
    input.kind === 'steps'
      ? { kind: 'steps', input: input.input, steps: [...input.steps, step], schema }
      : { kind: 'steps', input: input.node, steps: [step], schema };

  const visit = (p: LogicalPlan): Draft => planners[p.kind](p as never);

  /**
   * The columns an aggregation reads, when they are fewer than its input's: between worker threads
   * its exchange carries only these (every row crossing threads is copied; a URL or a payload
   * beside them would be copied for nothing). The operator reads columns by name, so rows with
   * only these fields suit it; rows staying in their thread are not touched.
   */
  const columnsRead = (p: PlanOf<'aggregate'>): Schema | undefined => {
    const used = new Set<string>();
    const use = (e: Expr) => {
      for (const c of columnUses(e).keys()) used.add(c);
    };
    for (const k of p.keys) use(k.expr);
    for (const { agg } of p.aggs) {
      agg.args.forEach(use);
      if (agg.filter) use(agg.filter);
    }
    const fields = p.input.schema.fields;
    if (used.size >= fields.length || ![...used].every((c) => fields.some((f) => f.name === c)))
      return undefined;
    return new Schema(fields.filter((f) => used.has(f.name)));
  };

  const planners: { [K in PlanKind]: (p: PlanOf<K>) => Draft } = {
    source: (p) => {
      if (!sources.includes(p.source)) sources.push(p.source);
      return { kind: 'node', node: { kind: 'scan', source: p.source, schema: p.schema } };
    },
    project: (p) =>
      extend(visit(p.input), { kind: 'project', exprs: p.exprs, inputSchema: p.input.schema }, p.schema),
    filter: (p) =>
      extend(
        visit(p.input),
        { kind: 'filter', condition: p.condition, inputSchema: p.input.schema },
        p.schema,
      ),
    map: (p) =>
      extend(
        visit(p.input),
        { kind: 'map', name: p.name, fn: p.fn, flat: p.flat, inputSchema: p.input.schema },
        p.schema,
      ),
    watermark: (p) => {
      const slot = watermarks.length;
      watermarks.push({ slot, column: p.column, delayMs: p.delayMs });
      return extend(
        visit(p.input),
        { kind: 'watermark', column: p.column, slot, inputSchema: p.input.schema },
        p.schema,
      );
    },
    union: (p) => ({
      kind: 'node',
      node: { kind: 'union', inputs: p.inputs.map((i) => finish(visit(i))), schema: p.schema },
    }),
    aggregate: (p) => {
      // A session_window key needs its own operator (sessions merge); other aggregations share one.
      const session = sessionKeyIndex(p) >= 0;
      const upstream = finish(visit(p.input));
      const carries = columnsRead(p);
      let input: PhysicalPlan;
      let partitions: StatefulOperator[];
      if (session) {
        const spec = bindSession(p, idOf(p, 'sessionAggregate'));
        partitions = instances(p, () => new SessionAggregate(spec));
        input = exchange(upstream, () => sessionPartitioning(p, numPartitions), carries);
      } else if (distributed && partialAggregationPays(p)) {
        // Partial groups per task, exchanged, merged into the partitions' state (Spark's partial/final).
        const spec = bindAggregate(p, idOf(p, 'aggregate'));
        const final = { ...spec, mergesPartials: true };
        partitions = instances(p, () => new StreamingAggregate(final));
        const partial: PhysicalPlan = {
          kind: 'partialAggregate',
          input: upstream,
          operator: new StreamingAggregate(spec),
          schema: PARTIAL_GROUPS,
        };
        input = exchange(partial, () => partialGroupPartitioning(p, spec, numPartitions));
      } else {
        const spec = bindAggregate(p, idOf(p, 'aggregate'));
        partitions = instances(p, () => new StreamingAggregate(spec));
        input = exchange(upstream, () => aggregatePartitioning(p, spec, numPartitions), carries);
      }
      const operator = partitions[0]!;
      const keys = p.keys.map((k) =>
        k.expr.kind === 'col' && k.expr.name === k.name ? k.name : `${exprToString(k.expr)} AS ${k.name}`,
      );
      const aggs = p.aggs.map((a) => `${aggToString(a.agg)} AS ${a.name}`);
      const describe = `${session ? 'SessionWindowAggregate' : 'StatefulAggregate'} ${operator.operatorId} keys=[${keys.join(', ')}] aggs=[${aggs.join(', ')}]`;
      return {
        kind: 'node',
        node: { kind: 'stateful', input, operator, partitions, describe, schema: p.schema },
      };
    },
    dedup: (p) => {
      const input = exchange(finish(visit(p.input)), () => dedupPartitioning(p, numPartitions));
      const spec = bindDedup(p, idOf(p, 'dedup'));
      const partitions = instances(p, () => new Deduplicate(spec));
      const operator = partitions[0]!;
      const name = p.withinWatermark ? 'StreamingDeduplicateWithinWatermark' : 'StreamingDeduplicate';
      const describe = `${name} ${operator.operatorId} keys=[${p.columns.join(', ')}] ${describeDedupMode(operator.spec)}`;
      return {
        kind: 'node',
        node: { kind: 'stateful', input, operator, partitions, describe, schema: p.schema },
      };
    },
    lookupJoin: (p) => {
      const spec = bindLookupJoin(p);
      lookupTables.push(spec.table);
      return extend(
        visit(p.input),
        {
          kind: 'map',
          name: `LookupJoin[${describeJoin(p)}, table ${p.table.name}]`,
          fn: lookupJoinFn(spec),
          flat: true,
          inputSchema: p.input.schema,
        },
        p.schema,
      );
    },
    join: (p) => {
      const sides = numPartitions === 1 && !distributed ? undefined : joinPartitioning(p, numPartitions);
      const left = exchange(finish(visit(p.left)), () => sides!.left);
      const right = exchange(finish(visit(p.right)), () => sides!.right);
      const spec = bindStreamJoin(p, idOf(p, 'join'));
      const partitions = instances(p, () => new StreamJoin(spec));
      const operator = partitions[0]!;
      const { left: l, right: r } = operator.spec;
      const bound = (by: number | undefined) =>
        by === undefined ? 'unbounded' : `time <= watermark - ${by} ms`;
      const describe = `StreamingSymmetricHashJoin ${operator.operatorId} ${describeJoin(p)}, left state: ${bound(l.evictBelowWatermarkBy)}, right state: ${bound(r.evictBelowWatermarkBy)}`;
      return {
        kind: 'node',
        node: { kind: 'join', left, right, operator, partitions, describe, schema: p.schema },
      };
    },
    keyed: (p) => {
      const input = exchange(finish(visit(p.input)), () => keyedPartitioning(p, numPartitions));
      const suffix = p.options.name ? `-${p.options.name}` : '';
      const bound = bindKeyed(p, p.uid ?? `processWithState-${statefulOperators.length}${suffix}`);
      // Every partition reads the initial state (keeping its own keys): ask the user's function once.
      const init = bound.initialState;
      const spec =
        numPartitions > 1 && typeof init === 'function' ? { ...bound, initialState: once(init) } : bound;
      const keyPartition = keyedKeyPartition(p, numPartitions);
      let next = 0;
      const partitions = instances(p, () => {
        const partition = next++;
        return new KeyedProcess(spec, (key) => numPartitions === 1 || keyPartition(key) === partition);
      });
      const operator = partitions[0]!;
      const describe = `TransformWithState ${operator.operatorId} key=[${operator.spec.keyDescription}] ${keyedOptionsString(p)}`;
      return {
        kind: 'node',
        node: { kind: 'stateful', input, operator, partitions, describe, schema: p.schema },
      };
    },
  };

  const batchTime: BatchTime = { ms: 0 };
  const root = finish(visit(bindBatchTime(optimize(logical), batchTime)));
  return {
    root,
    numPartitions,
    sources,
    watermarks,
    statefulOperators,
    watermarkDelays: watermarkDelaysOf(root),
    batchTime,
    lookupTables,
  };
}

/**
 * The input watermark delay of every stateful operator under `root`:
 *
 *   source ── wm ──► aggregate / dedup / keyed ── wm ──► …         (output watermark = input)
 *   source ── wm ──► join, left ∈ [right − lower, right + upper] ── wm − max(lower, upper, 0) ──► …
 *
 * A join's left rows still in state have `time > wm − lower`, its right rows `time > wm − upper`
 * (see operators/join/StreamJoin.ts), so no output row is older than the smaller of the two: the
 * output watermark. A side that is never evicted gives no bound (Spark ignores it too). A union
 * reads the slowest of its inputs.
 */
export function watermarkDelaysOf(root: PhysicalPlan): Map<string, number> {
  const delays = new Map<string, number>();
  const outputDelay = (node: PhysicalPlan): number => {
    switch (node.kind) {
      case 'scan':
        return 0;
      case 'union':
        return Math.max(0, ...node.inputs.map(outputDelay));
      case 'pipeline':
      case 'exchange':
      case 'partialAggregate':
        return outputDelay(node.input);
      case 'stateful': {
        const d = outputDelay(node.input);
        if (d > 0) delays.set(node.operator.operatorId, d);
        return d;
      }
      case 'join': {
        const d = Math.max(outputDelay(node.left), outputDelay(node.right));
        if (d > 0) delays.set(node.operator.operatorId, d);
        const { left, right } = node.operator.spec;
        const bounds = [left.evictBelowWatermarkBy, right.evictBelowWatermarkBy].filter(
          (b): b is number => b !== undefined,
        );
        return d + Math.max(0, ...bounds);
      }
    }
  };
  outputDelay(root);
  return delays;
}

/** `fn`'s first result (or failure), for every later call too. */
function once<T>(fn: () => T): () => T {
  let result: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  return () => {
    if (result === undefined) {
      try {
        result = { ok: true, value: fn() };
      } catch (error) {
        result = { ok: false, error };
      }
    }
    if (result.ok) return result.value;
    throw result.error;
  };
}
