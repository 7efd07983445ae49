/**
 * Watermark tracking (Spark's WatermarkTracker):
 *   per withWatermark node: wm = max(wm, maxEventTimeSeen - delay), only once it saw rows;
 *   global = min over the nodes that saw rows (policy 'min', default) or max (policy 'max');
 *   the global watermark never goes backwards. A batch uses the watermark computed
 *   after the previous batch. Starts at 0, as in Spark.
 */
import type { WatermarkSpec } from '../plan/physical.ts';
import type { EventTimeStats } from '../operators/pipeline.ts';

export type WatermarkPolicy = 'min' | 'max';

export class WatermarkTracker {
  private perSlot = new Map<number, number>();
  private global = 0;

  constructor(
    private readonly specs: readonly WatermarkSpec[],
    private readonly policy: WatermarkPolicy,
  ) {}

  get current(): number {
    return this.global;
  }

  get slots(): Record<string, number> {
    return Object.fromEntries(this.perSlot);
  }

  restore(globalMs: number, slots: Readonly<Record<string, number>>): void {
    this.global = globalMs;
    this.perSlot = new Map(Object.entries(slots).map(([k, v]) => [Number(k), v]));
  }

  /** Fold one batch's event-time statistics in; returns whether the global watermark moved. */
  update(stats: readonly EventTimeStats[]): boolean {
    for (const spec of this.specs) {
      const s = stats[spec.slot];
      if (!s || s.count === 0) continue;
      const candidate = s.max - spec.delayMs;
      const prev = this.perSlot.get(spec.slot);
      if (prev === undefined || candidate > prev) this.perSlot.set(spec.slot, candidate);
    }
    if (this.perSlot.size === 0) return false;
    const values = [...this.perSlot.values()];
    const next = this.policy === 'min' ? Math.min(...values) : Math.max(...values);
    if (next > this.global) {
      this.global = next;
      return true;
    }
    return false;
  }
}
