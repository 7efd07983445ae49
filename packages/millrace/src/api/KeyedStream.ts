/**
 * KeyedStream: the result of `groupByKey(…)`, waiting for `processWithState`
 * (Spark's KeyValueGroupedDataset with flatMapGroupsWithState / transformWithState).
 *
 *   events.withWatermark('time', '10 seconds')
 *     .groupByKey('userId')
 *     .processWithState<{ n: number }, { userId: string; n: number }>({
 *       outputSchema: schema({ userId: t.string, n: t.long }),
 *       outputMode: 'update',
 *       timeMode: 'eventTime',
 *       process(userId, rows, state, ctx) {
 *         const n = (state.get()?.n ?? 0) + rows.length;
 *         state.set({ n });
 *         ctx.registerTimer(ctx.watermarkMs + 60_000);
 *         return [{ userId, n }];
 *       },
 *       onTimer(userId, timer, state) { state.remove(); },
 *     })
 */
import type { NamedExpr } from '../plan/logical.ts';
import { keyedNode } from '../plan/keyedNode.ts';
import type { ProcessWithStateOptions } from '../operators/keyed/types.ts';
import { Stream } from './Stream.ts';

export class KeyedStream<R, K> {
  /** @internal — use `stream.groupByKey(...)`. */
  constructor(
    private readonly stream: Stream<R>,
    private readonly keys: readonly NamedExpr[],
    private readonly singleKey: boolean,
  ) {}

  /**
   * Run `process(key, rows, state, ctx)` for each key with rows in a batch, and
   * `onTimer(key, timer, state, ctx)` for each due timer, keeping per-key state
   * `S` in the query's state store. Emits the rows both return, typed `O`.
   */
  processWithState<S, O>(options: ProcessWithStateOptions<K, R, S, O>): Stream<O> {
    return new Stream<O>(
      this.stream.session,
      keyedNode(
        this.stream.plan,
        this.keys,
        this.singleKey,
        options as ProcessWithStateOptions<any, any, any, any>,
      ),
    );
  }
}
