/**
 * Watermark tracking, as Spark's WatermarkTracker:
 *   per withWatermark node: wm = max(wm, maxEventTimeSeen - delay), once it saw rows; a node that
 *   has seen no rows yet counts as 0 (so under 'min' the global watermark waits for every input);
 *   global = min over all nodes (policy 'min', default) or max (policy 'max');
 *   the global watermark never goes backwards. A batch uses the watermark computed after the
 *   previous batch. Starts at 0.
 * A restart restores only the global watermark (it is in the offsets log); the nodes start again
 * from "no rows seen", as Spark's tracker, which is rebuilt from the plan.
 */
import type { WatermarkSpec } from '../plan/physical.ts';
import type { EventTimeStats } from '../operators/pipeline.ts';

export type WatermarkPolicy = 'min' | 'max';

export class WatermarkTracker {
  /** Per watermark node (slot): its watermark once it saw rows. */
  private perSlot = new Map<number, number>();
  private global = 0;

  constructor(
    private readonly specs: readonly WatermarkSpec[],
    readonly policy: WatermarkPolicy,
  ) {}

  get current(): number {
    return this.global;
  }

  /** The nodes' watermarks (those that saw rows), by slot: recorded in the offsets log for inspection. */
  get slots(): Record<string, number> {
    return Object.fromEntries(this.perSlot);
  }

  /** After a restart: the global watermark from the offsets log; every node starts unseen again. */
  restore(globalMs: number): void {
    this.global = globalMs;
    this.perSlot = new Map();
  }

  /** Fold one batch's event-time statistics in; returns whether the global watermark moved. */
  update(stats: readonly EventTimeStats[]): boolean {
    if (this.specs.length === 0) return false;
    for (const spec of this.specs) {
      const s = stats[spec.slot];
      if (!s || s.count === 0) continue;
      const candidate = s.max - spec.delayMs;
      const prev = this.perSlot.get(spec.slot);
      if (prev === undefined || candidate > prev) this.perSlot.set(spec.slot, candidate);
    }
    const values = this.specs.map((spec) => this.perSlot.get(spec.slot) ?? 0);
    const next = this.policy === 'min' ? Math.min(...values) : Math.max(...values);
    if (next > this.global) {
      this.global = next;
      return true;
    }
    return false;
  }
}
