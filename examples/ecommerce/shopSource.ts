/**
 * The shop generator as a replayable Millrace source: the offset is the number of blocks read
 * (a block is `blockMs` of event time; generator.ts), so a replay regenerates the same events.
 *
 *   latestOffset: blocks available now — all up to `maxBlocks`, or with `realTime`, the blocks
 *                 whose event time has passed on the wall clock (event time = wall time − lag),
 *                 at most `maxBlocksPerTrigger` more per batch
 *   getBatch(s, e): the events of blocks [s, e)
 */
import {
  type ConnectorContext,
  type Offset,
  type ReadLimit,
  type Schema,
  type Source,
  type SourceBatch,
  schema,
  t,
} from 'millrace';
import { DEFAULT_SHOP, type ShopConfig, type ShopEvent, blockDueMs, generateBlock } from './generator.ts';

/** `type` holds a ShopEventType ('view' | 'cart' | 'order' | 'pay'). */
export const shopEventSchema = schema({
  eventId: t.string,
  userId: t.long,
  sessionId: t.long,
  type: t.string,
  productId: t.long,
  amount: t.long,
  ts: t.timestamp,
});

export interface ShopSourceOptions {
  readonly name?: string;
  readonly config?: Partial<ShopConfig>;
  /** Stop after this many blocks (a finite run). */
  readonly maxBlocks?: number;
  /** Blocks become available as their event time passes on the wall clock. */
  readonly realTime?: boolean;
  /** At most this many blocks per batch. */
  readonly maxBlocksPerTrigger?: number;
}

export function shopSource(options: ShopSourceOptions = {}): Source<ShopEvent> {
  const cfg: ShopConfig = { ...DEFAULT_SHOP, ...options.config };
  const name = options.name ?? 'shop';
  let clock: ConnectorContext['clock'] | undefined;
  /** Trigger.availableNow: the block count fixed when the run started. */
  let pinned: number | undefined;
  const blockOf = (o: Offset | null): number => (typeof o === 'number' ? o : 0);
  const available = (): number => {
    let avail = options.maxBlocks ?? Number.MAX_SAFE_INTEGER;
    if (options.realTime) {
      // Block b once the clock has passed every event time it holds (blockDueMs), so event time
      // stays at or behind the clock.
      const due = Math.floor((clock!.now() - blockDueMs(0, cfg)) / cfg.blockMs) + 1;
      avail = Math.min(avail, Math.max(0, due));
    }
    return Math.min(avail, pinned ?? Number.MAX_SAFE_INTEGER);
  };
  return {
    name,
    schema: shopEventSchema as unknown as Schema<ShopEvent>,
    replayable: true,
    describe: () =>
      `ShopGenerator[seed=${cfg.seed}, ${cfg.sessionsPerBlock} sessions per ${cfg.blockMs} ms${options.realTime ? ', real time' : ''}]`,
    async open(ctx) {
      clock = ctx.clock;
    },
    async latestOffset(start, limit: ReadLimit) {
      const from = blockOf(start);
      let avail = available();
      if (limit.kind === 'default' && options.maxBlocksPerTrigger !== undefined) {
        avail = Math.min(avail, from + options.maxBlocksPerTrigger);
      }
      if (avail === Number.MAX_SAFE_INTEGER) avail = from + (options.maxBlocksPerTrigger ?? 100);
      return avail <= from ? (start ?? null) : avail;
    },
    async getBatch(start, end): Promise<SourceBatch<ShopEvent>> {
      const rows: ShopEvent[] = [];
      for (let b = blockOf(start); b < blockOf(end); b++) for (const e of generateBlock(b, cfg)) rows.push(e);
      return { rows };
    },
    async prepareForAvailableNow() {
      const now = available();
      if (now === Number.MAX_SAFE_INTEGER) {
        throw new Error(
          'shopSource: Trigger.availableNow() needs maxBlocks or realTime (an endless generator has no "now")',
        );
      }
      pinned = now;
    },
    async commit() {},
    async close() {},
  };
}
