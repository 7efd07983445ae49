/**
 * A realistic shop event generator, deterministic by seed: users in sessions of page views, cart
 * adds, orders and payments, with think times between events, abandonment, a few hot products, and
 * events that arrive out of order or late.
 *
 * The stream is cut into blocks of `blockMs` of event time. Block b holds the events of the
 * sessions that start in it (in their arrival order) — generated from (seed, b) alone, so any
 * block can be regenerated exactly: the source's offset is a block number.
 *
 *   block b:  sessions start in [b·blockMs, (b+1)·blockMs) of event time
 *             session: view ─(think)─ view ─ cart ─ … ─ order ─ pay        (each step may stop: abandonment)
 *             arrival order = event time + a small random delay (out of order by up to `disorderMs`)
 *             + a few late events: a view stamped `lateByMs` before the block
 *
 * A session's later events are emitted with its block, so the stream runs ahead of the block by
 * up to a session's length: a watermark delay of at least `maxOutOfOrderMs(cfg)` keeps every
 * session event on time, and only the stragglers late (`lateByMs`, an hour by default, is past a 30-minute session gap too).
 * All durations scale with `timeScale` (1 = real shop timings; the demo runs at 1/60).
 */
import { prng } from 'millrace/testing';
export type ShopEventType = 'view' | 'cart' | 'order' | 'pay';

export interface ShopEvent {
  /** `<block>-<n>`: unique, stable across regenerations. */
  eventId: string;
  userId: number;
  sessionId: number;
  type: ShopEventType;
  productId: number;
  /** Price for views and carts; order and payment total for orders and payments. */
  amount: number;
  /** Event time, epoch ms. */
  ts: number;
}

export interface ShopConfig {
  readonly seed: number;
  /** Multiplies every duration below (think times, disorder, lateness; blockMs is not scaled). */
  readonly timeScale: number;
  /** Epoch ms of block 0's start. */
  readonly baseTime: number;
  /** Event time per block. */
  readonly blockMs: number;
  /** Sessions starting per block. */
  readonly sessionsPerBlock: number;
  readonly users: number;
  readonly products: number;
  /** The first `hotProducts` products get `hotShare` of the views. */
  readonly hotProducts: number;
  readonly hotShare: number;
  /** Think time between a session's events, ms (uniform). */
  readonly thinkMs: readonly [number, number];
  /** Arrival delay (out of order) up to this many ms. */
  readonly disorderMs: number;
  /** Share of extra late views per block, and how late they are. */
  readonly lateShare: number;
  readonly lateByMs: number;
}

export const DEFAULT_SHOP: ShopConfig = {
  seed: 42,
  timeScale: 1,
  baseTime: Date.UTC(2025, 0, 1),
  blockMs: 1_000,
  sessionsPerBlock: 20,
  users: 5_000,
  products: 500,
  hotProducts: 5,
  hotShare: 0.3,
  thinkMs: [1_000, 30_000],
  disorderMs: 2_000,
  lateShare: 0.01,
  lateByMs: 60 * 60_000,
};

const MAX_VIEWS = 8;

/** How far (event time) the stream can run ahead of the oldest event still to come: block + longest session + disorder. */
export function maxOutOfOrderMs(cfg: ShopConfig): number {
  const steps = 2 * MAX_VIEWS + 1; // views and cart adds, then order → pay
  return cfg.blockMs + (steps * cfg.thinkMs[1] + cfg.disorderMs) * cfg.timeScale;
}

/**
 * When block b may be posted so that none of its events is stamped after the wall clock: the
 * block's start plus the longest its sessions' events can run ahead of it. A live generator waits
 * for it, so event time stays at or behind the clock (event-time lag is never negative).
 */
export function blockDueMs(b: number, cfg: ShopConfig): number {
  return cfg.baseTime + b * cfg.blockMs + maxOutOfOrderMs(cfg);
}

/** A product's price in cents: fixed per product. */
export function priceOf(productId: number): number {
  return 199 + ((productId * 2654435761) % 20_000);
}

/** The events of block b, in arrival order. */
export function generateBlock(b: number, cfg: ShopConfig = DEFAULT_SHOP): ShopEvent[] {
  const rnd = prng(Math.imul(cfg.seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 1, 0xc2b2ae35));
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const blockStart = cfg.baseTime + b * cfg.blockMs;
  const k = cfg.timeScale;
  const think = () => Math.round(int(cfg.thinkMs[0], cfg.thinkMs[1]) * k);
  const product = () =>
    rnd() < cfg.hotShare ? int(0, cfg.hotProducts - 1) : int(cfg.hotProducts, cfg.products - 1);
  const staged: { e: ShopEvent; arrival: number }[] = [];
  let n = 0;
  const push = (e: Omit<ShopEvent, 'eventId'>, arrival: number) =>
    staged.push({ e: { eventId: `${b}-${n++}`, ...e }, arrival });

  for (let s = 0; s < cfg.sessionsPerBlock; s++) {
    const userId = int(1, cfg.users);
    const sessionId = b * cfg.sessionsPerBlock + s;
    let t = blockStart + Math.floor(rnd() * cfg.blockMs);
    const cart: number[] = [];
    const views = int(1, MAX_VIEWS);
    const at = (ts: number) => ts + Math.floor(rnd() * cfg.disorderMs * k);
    for (let v = 0; v < views; v++) {
      const p = product();
      push({ userId, sessionId, type: 'view', productId: p, amount: priceOf(p), ts: t }, at(t));
      t += think();
      if (rnd() < 0.25) {
        cart.push(p);
        push({ userId, sessionId, type: 'cart', productId: p, amount: priceOf(p), ts: t }, at(t));
        t += think();
      }
      if (rnd() < 0.1) break; // left the site
    }
    if (cart.length === 0 || rnd() < 0.4) continue; // abandoned the cart
    const total = cart.reduce((a, p) => a + priceOf(p), 0);
    const first = cart[0]!;
    push({ userId, sessionId, type: 'order', productId: first, amount: total, ts: t }, at(t));
    t += think();
    if (rnd() < 0.15) continue; // never paid
    push({ userId, sessionId, type: 'pay', productId: first, amount: total, ts: t }, at(t));
  }
  // A few stragglers: views stamped long before this block, arriving now.
  const late = Math.floor(cfg.sessionsPerBlock * cfg.lateShare + rnd());
  for (let i = 0; i < late; i++) {
    const ts = blockStart - Math.round(cfg.lateByMs * k) + Math.floor(rnd() * cfg.blockMs);
    const p = product();
    // Stragglers come from guests (user ids above `users`, one per straggler): a late view never
    // joins a signed-in user's session.
    push(
      { userId: guestId(b, i), sessionId: -1, type: 'view', productId: p, amount: priceOf(p), ts },
      blockStart + Math.floor(rnd() * cfg.blockMs),
    );
  }
  // Arrival order within the block (a session's later events arrive in later blocks' time range,
  // but are emitted with their session: that is the out-of-order part between blocks).
  staged.sort((x, y) => x.arrival - y.arrival || (x.e.eventId < y.e.eventId ? -1 : 1));
  return staged.map((x) => x.e);
}

/** The user id of straggler i of block b: a guest, unique. */
export function guestId(b: number, i: number): number {
  return 1_000_000 + b * 100 + i;
}

/** Events of blocks [from, to). */
export function generateBlocks(from: number, to: number, cfg: ShopConfig = DEFAULT_SHOP): ShopEvent[] {
  const out: ShopEvent[] = [];
  for (let b = from; b < to; b++) for (const e of generateBlock(b, cfg)) out.push(e);
  return out;
}

/** Sessions per block that give about `eventsPerSecond` events per second of event time. */
export function sessionsFor(eventsPerSecond: number, blockMs: number): number {
  // About 4.6 events per session on average with the defaults (measured by the tests).
  return Math.max(1, Math.round((eventsPerSecond * blockMs) / 1000 / 4.6));
}
