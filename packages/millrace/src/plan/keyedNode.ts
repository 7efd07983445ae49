/**
 * The logical `keyed` node (groupByKey(…).processWithState(…)): validated
 * when made, bound to the operator's spec at planning time
 * (operators/keyed/KeyedProcess.ts).
 */
import { createHash } from 'node:crypto';
import { userError } from '../errors/index.ts';
import { compileExpr } from '../expr/codegen.ts';
import { exprToString } from '../expr/Expr.ts';
import { resolveExpr } from '../expr/resolve.ts';
import { encodeValue } from '../operators/dedup/keyEncoding.ts';
import type { KeyedProcessSpec } from '../operators/keyed/KeyedProcess.ts';
import type { ProcessWithStateOptions } from '../operators/keyed/types.ts';
import { Schema } from '../schema/index.ts';
import { parseDuration } from '../util/durations.ts';
import { type LogicalPlan, type NamedExpr, type PlanOf, watermarkedColumns } from './logical.ts';

const WHERE = 'processWithState';
const TIME_MODES = ['none', 'processingTime', 'eventTime'];

export function keyedNode(
  input: LogicalPlan,
  keys: readonly NamedExpr[],
  singleKey: boolean,
  options: ProcessWithStateOptions<any, any, any, any>,
): LogicalPlan {
  if (options === null || typeof options !== 'object') {
    throw userError(
      'INVALID_ARGUMENT',
      `${WHERE}: give an options object { outputSchema, outputMode, timeMode, process(key, rows, state, ctx) }`,
    );
  }
  const {
    name,
    outputSchema,
    outputMode,
    timeMode,
    ttl,
    process,
    onTimer,
    initialState,
    handleInitialState,
  } = options;
  const where = name === undefined ? WHERE : `${WHERE} "${name}"`;
  if (name !== undefined && (typeof name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(name))) {
    throw userError(
      'INVALID_ARGUMENT',
      `${WHERE}: the name ${JSON.stringify(name)} names state in the checkpoint; use 1–64 letters, digits, '_' or '-'`,
    );
  }
  if (typeof process !== 'function')
    throw userError('INVALID_ARGUMENT', `${where}: give process(key, rows, state, ctx)`);
  if (onTimer !== undefined && typeof onTimer !== 'function')
    throw userError('INVALID_ARGUMENT', `${where}: onTimer must be a function`);
  if (
    initialState !== undefined &&
    typeof initialState !== 'function' &&
    typeof (initialState as Iterable<unknown>)?.[Symbol.iterator] !== 'function'
  ) {
    throw userError(
      'INVALID_ARGUMENT',
      `${where}: initialState must be an iterable of [key, state] pairs (e.g. an array or a Map) or a function returning one`,
    );
  }
  if (handleInitialState !== undefined && typeof handleInitialState !== 'function')
    throw userError('INVALID_ARGUMENT', `${where}: handleInitialState must be a function`);
  if (handleInitialState !== undefined && initialState === undefined)
    throw userError('INVALID_ARGUMENT', `${where}: handleInitialState is given but initialState is not`);
  if (!(outputSchema instanceof Schema)) {
    throw userError(
      'INVALID_ARGUMENT',
      `${where}: give outputSchema, e.g. schema({ userId: t.string, total: t.long })`,
    );
  }
  if (outputMode !== 'append' && outputMode !== 'update') {
    throw userError(
      'INVALID_OUTPUT_MODE',
      `${where}: outputMode must be 'append' or 'update', got ${JSON.stringify(outputMode)}` +
        (outputMode === ('complete' as string)
          ? ' — keyed state keeps no result table to re-emit in complete mode'
          : ''),
    );
  }
  if (!TIME_MODES.includes(timeMode)) {
    throw userError(
      'INVALID_ARGUMENT',
      `${where}: timeMode must be one of ${TIME_MODES.join(', ')}, got ${JSON.stringify(timeMode)}`,
    );
  }
  if (timeMode === 'eventTime' && watermarkedColumns(input).size === 0) {
    throw userError(
      'INVALID_PLAN',
      `${where}: timeMode 'eventTime' needs a watermark on the input; call withWatermark('<event time column>', '<delay>') before groupByKey`,
    );
  }
  let ttlMs: number | undefined;
  if (ttl !== undefined) {
    ttlMs = parseDuration(ttl, `${where} ttl`);
    if (ttlMs <= 0) throw userError('INVALID_DURATION', `${where}: ttl must be positive`);
  }
  if (keys.length === 0) throw userError('INVALID_PLAN', 'groupByKey: give a key');
  for (const k of keys) resolveExpr(k.expr, input.schema, 'groupByKey');
  return {
    kind: 'keyed',
    input,
    keys,
    singleKey,
    options: {
      name,
      outputSchema,
      outputMode,
      timeMode,
      ttlMs,
      process,
      onTimer,
      initialState,
      handleInitialState,
    },
    schema: outputSchema as Schema,
  };
}

/** How explain shows the key. */
export function keyedKeyString(p: PlanOf<'keyed'>): string {
  return p.keys
    .map((k) =>
      k.expr.kind === 'col' && (p.singleKey || k.expr.name === k.name)
        ? k.expr.name
        : `${exprToString(k.expr)} AS ${k.name}`,
    )
    .join(', ');
}

/** How explain shows the options. */
export function keyedOptionsString(p: PlanOf<'keyed'>): string {
  const o = p.options;
  return (
    `outputMode=${o.outputMode}, timeMode=${o.timeMode}` +
    (o.ttlMs === undefined ? '' : `, ttl=${o.ttlMs} ms`) +
    (o.onTimer ? ', onTimer' : '') +
    (o.initialState ? ', initialState' : '')
  );
}

const MAX_PLAIN_KEY = 512;

function encodeKey(key: unknown): string {
  const s = encodeValue(key);
  return s.length <= MAX_PLAIN_KEY ? s : `#${createHash('sha256').update(s).digest('base64url')}`;
}

export function bindKeyed(p: PlanOf<'keyed'>, operatorId: string): KeyedProcessSpec {
  const schema = p.input.schema;
  const fns = p.keys.map((k) => compileExpr(k.expr, schema, 'groupByKey'));
  let keyOf: (row: any) => unknown;
  if (p.singleKey) keyOf = fns[0]!;
  else {
    const names = p.keys.map((k) => k.name);
    keyOf = (row) => {
      const key: Record<string, unknown> = {};
      for (let i = 0; i < names.length; i++) key[names[i]!] = fns[i]!(row);
      return key;
    };
  }
  const o = p.options;
  return {
    operatorId,
    keyDescription: keyedKeyString(p),
    keyOf,
    encodeKey,
    timeMode: o.timeMode,
    ttlMs: o.ttlMs,
    process: o.process,
    onTimer: o.onTimer,
    initialState: o.initialState,
    handleInitialState: o.handleInitialState,
  };
}
