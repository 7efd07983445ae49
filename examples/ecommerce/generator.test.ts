/** The live generator's pacing: a block offered at blockDueMs holds no event stamped in the future. */
import { describe, expect, it } from 'vitest';
import { type ConnectorContext, ManualClock, type ReadLimit } from 'millrace';
import { DEFAULT_SHOP, type ShopConfig, blockDueMs, generateBlock } from './generator.ts';
import { shopSource } from './shopSource.ts';

describe('blockDueMs', () => {
  for (const [label, cfg] of [
    ['real shop timings', DEFAULT_SHOP],
    ['the demo (1/60 time scale)', { ...DEFAULT_SHOP, timeScale: 1 / 60, baseTime: Date.UTC(2026, 0, 1) }],
  ] as [string, ShopConfig][]) {
    it(`is at or after every event time of its block (${label})`, () => {
      for (let b = 0; b < 400; b++) {
        const latest = Math.max(...generateBlock(b, cfg).map((e) => e.ts));
        expect(latest, `block ${b}`).toBeLessThanOrEqual(blockDueMs(b, cfg));
      }
      // Sessions run past their block's end: posting a block at its end (the old pacing) put events
      // ahead of the clock.
      const runsAhead = Array.from({ length: 400 }, (_, b) => b).some(
        (b) => Math.max(...generateBlock(b, cfg).map((e) => e.ts)) > cfg.baseTime + (b + 1) * cfg.blockMs,
      );
      expect(runsAhead).toBe(true);
    });
  }
});

describe('shopSource in real time', () => {
  it('offers a block only once the clock has passed its due time', async () => {
    const cfg: ShopConfig = { ...DEFAULT_SHOP, timeScale: 1 / 60 };
    const clock = new ManualClock(blockDueMs(5, cfg) - 1);
    const source = shopSource({ config: cfg, realTime: true });
    await source.open({ clock } as unknown as ConnectorContext);
    const latest = () => source.latestOffset(null, { kind: 'default' } as ReadLimit);
    expect(await latest()).toBe(5); // blocks 0–4
    clock.advance(1);
    expect(await latest()).toBe(6); // block 5 is due now
    const { rows } = await source.getBatch(null, 6, { batchId: 0 });
    expect(Math.max(...rows.map((e) => e.ts))).toBeLessThanOrEqual(clock.now());
  });
});
