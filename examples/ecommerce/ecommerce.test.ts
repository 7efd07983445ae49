/**
 * The e-commerce queries against an independent computation (reference.ts) over the same
 * generated events: 20 minutes of shop traffic at 1/10 speed, in 30-second batches.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Trigger, createSession, memorySink } from 'millrace';
import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DEFAULT_SHOP, type ShopConfig, generateBlock, maxOutOfOrderMs } from './generator.ts';
import { scaledQueries, shopQueries } from './queries.ts';
import { referenceResults } from './reference.ts';
import { shopSource } from './shopSource.ts';

const cfg: ShopConfig = { ...DEFAULT_SHOP, timeScale: 0.1 };
const q = scaledQueries(0.1);
const BLOCKS = 1200;
const PER_BATCH = 30;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const canon = (rows: readonly object[]) => rows.map((r) => JSON.stringify(r, Object.keys(r).sort())).sort();

describe('e-commerce queries', () => {
  it('the generator: deterministic, sessions with abandonment, hot products, out-of-order and late events', () => {
    expect(generateBlock(7, cfg)).toEqual(generateBlock(7, cfg));
    const events = Array.from({ length: 300 }, (_, b) => generateBlock(b, cfg)).flat();
    const byType = (t: string) => events.filter((e) => e.type === t).length;
    expect(byType('view')).toBeGreaterThan(byType('cart'));
    expect(byType('cart')).toBeGreaterThan(byType('order'));
    expect(byType('order')).toBeGreaterThan(byType('pay'));
    expect(byType('pay')).toBeGreaterThan(0);
    const hot = events.filter((e) => e.type === 'view' && e.productId < cfg.hotProducts).length;
    expect(hot / byType('view')).toBeGreaterThan(0.2);
    let outOfOrder = 0;
    for (let i = 1; i < events.length; i++) if (events[i]!.ts < events[i - 1]!.ts) outOfOrder++;
    expect(outOfOrder).toBeGreaterThan(100);
    expect(events.filter((e) => e.sessionId === -1).length).toBeGreaterThan(0); // stragglers
    expect(q.watermarkMs).toBeGreaterThanOrEqual(maxOutOfOrderMs(cfg));
    expect(events.length / 300).toBeGreaterThan(60);
  });

  it('event counts, sessions, funnel and top products equal the reference computation', async () => {
    const batches = Array.from({ length: BLOCKS / PER_BATCH }, (_, i) =>
      Array.from({ length: PER_BATCH }, (_, j) => generateBlock(i * PER_BATCH + j, cfg)).flat(),
    );
    const expected = referenceResults(batches, q);
    const session = createSession();
    const source = (name: string) =>
      session.readStream(
        shopSource({ name, config: cfg, maxBlocks: BLOCKS, maxBlocksPerTrigger: PER_BATCH }),
      );
    for (const name of ['eventCounts', 'sessions', 'funnel', 'topProducts'] as const) {
      const sink = memorySink();
      const dir = mkdtempSync(path.join(tmpdir(), `millrace-shop-${name}-`));
      dirs.push(dir);
      const stream = shopQueries(source(name), q)[name];
      const query = await stream
        .writeStream({
          sink,
          checkpointLocation: dir,
          outputMode: 'append',
          trigger: Trigger.availableNow(),
        })
        .start();
      await query.awaitTermination();
      expect(query.exception).toBeNull();
      const got = sink.allRows();
      const want = expected[name] as object[];
      expect(want.length, `${name}: the reference has rows`).toBeGreaterThan(0);
      expect(canon(got), name).toEqual(canon(want));
    }
    // Some stragglers were late and dropped, so the check covers lateness too.
    expect(batches.flat().filter((e) => e.sessionId === -1).length).toBeGreaterThan(10);
  }, 60_000);
});
