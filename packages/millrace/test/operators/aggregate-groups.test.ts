/**
 * Which rows share a group: the aggregation finds groups by their key values (nested Maps) and
 * stores them under a text made from the same values. Checked against a model that groups rows
 * by the keys' JSON/String text (how a group was defined before), over batches and restarts, on
 * both state stores; and windows whose size is not a multiple of their slide.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  count,
  createSession,
  lmdbStateStore,
  memoryStateStore,
  memoryStream,
  schema,
  sum,
  t,
  timestampSeconds,
  window,
} from '../../src/index.ts';
import { testStream } from '../../src/testing/index.ts';
import { cleanupDirs } from '../execution/helpers.ts';
import { prng } from '../state/conformance.ts';

const session = createSession();
afterEach(cleanupDirs);

const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

const STRINGS = [null, 'null', '', 'a', 'a,b', '"q"', '1', 'é\u2028'];
const LONGS = [null, 0, -0, 1, -7, 2 ** 53 - 1];
const DOUBLES = [null, NaN, -0, 0, 1.5, Infinity, -Infinity];
const BOOLS = [null, true, false];
const STRUCTS = [
  null,
  { a: null, b: null },
  { a: 'x', b: 1 },
  { a: 'x', b: null },
  { a: null, b: 1 },
  { a: '1', b: 1 },
];
const ARRAYS = [null, [], [1], [1, 2], [2, 1]];

interface Keyed {
  s: string | null;
  l: number | null;
  d: number | null;
  b: boolean | null;
  st: { a: string | null; b: number | null } | null;
  arr: number[] | null;
  n: number;
}

const nullableStruct = t.struct({ a: t.string.orNull(), b: t.long.orNull() }).orNull();
const rowSchema = schema({
  s: t.string.orNull(),
  l: t.long.orNull(),
  d: t.double.orNull(),
  b: t.boolean.orNull(),
  st: nullableStruct,
  arr: t.array(t.long).orNull(),
  n: t.long,
});

/** The model: groups by the keys' text (strings, structs and arrays as JSON; numbers, booleans as String). */
function model(
  rows: readonly Keyed[],
  keys: readonly (keyof Keyed)[],
  text: (k: keyof Keyed, v: unknown) => string,
): Record<string, unknown>[] {
  const groups = new Map<string, Record<string, unknown>>();
  for (const r of rows) {
    const id = keys.map((k) => text(k, r[k])).join(',');
    let g = groups.get(id);
    if (g === undefined) {
      g = Object.fromEntries(keys.map((k) => [k, r[k]]));
      g.count = 0;
      g.total = 0;
      groups.set(id, g);
    }
    (g.count as number)++;
    (g.total as number) += r.n;
  }
  return [...groups.values()];
}

const textOf = (k: keyof Keyed, v: unknown): string =>
  k === 's' || k === 'st' || k === 'arr' ? String(JSON.stringify(v)) : String(v);

describe('grouping keys', () => {
  for (const [store, provider] of [
    ['memory', () => memoryStateStore()],
    ['LMDB', () => lmdbStateStore()],
  ] as const) {
    it(`rows share a group exactly when their key text is the same (${store} store, batches, a restart)`, async () => {
      const rnd = prng(11);
      const rows: Keyed[] = [];
      const batch = (n: number): Keyed[] => {
        const b: Keyed[] = [];
        for (let i = 0; i < n; i++) {
          b.push({
            s: pick(rnd, STRINGS),
            l: pick(rnd, LONGS),
            d: pick(rnd, DOUBLES),
            b: pick(rnd, BOOLS),
            st: structuredClone(pick(rnd, STRUCTS)),
            arr: structuredClone(pick(rnd, ARRAYS)),
            n: Math.floor(rnd() * 100),
          });
        }
        rows.push(...b);
        return b;
      };
      for (const keys of [['s', 'l', 'b'], ['d', 'st', 'arr'], ['b', 'd'], ['st'], []] as (keyof Keyed)[][]) {
        const input = memoryStream(rowSchema);
        const grouped = session
          .readStream(input)
          .groupBy(...(keys as ['s']))
          .agg(($) => ({ count: count(), total: sum($.n) }));
        rows.length = 0;
        const b1 = batch(300);
        const b2 = batch(300);
        const after2 = model(rows, keys, textOf);
        const b3 = batch(300);
        await testStream(grouped, { outputMode: 'complete', writeOptions: { stateStore: provider() } })
          .addData(input, b1)
          .addData(input, b2)
          .checkLastBatch(after2)
          .stop()
          .start()
          .addData(input, b3)
          .checkLastBatch(model(rows, keys, textOf))
          .run();
      }
    });
  }

  it('a null struct, a struct of nulls and a missing struct are three groups', async () => {
    const input = memoryStream(schema({ st: nullableStruct, n: t.long }));
    const grouped = session.readStream(input).groupBy('st').agg({ count: count() });
    await testStream(grouped, { outputMode: 'complete' })
      .addData(input, [
        { st: null, n: 1 },
        { st: { a: null, b: null }, n: 1 },
        { st: { a: null, b: null }, n: 1 },
        { st: null, n: 1 },
        { st: { a: 'null', b: null }, n: 1 },
      ])
      .checkLastBatch([
        { st: null, count: 2 },
        { st: { a: null, b: null }, count: 2 },
        { st: { a: 'null', b: null }, count: 1 },
      ])
      .run();
  });
});

describe('windows', () => {
  /**
   * Sliding windows whose size is not a multiple of the slide (rows at the same last window
   * start can be in different numbers of windows), in append mode with late rows, against a
   * model of Spark's rules: a (row, window) pair is dropped when the window's end ≤ the batch's
   * watermark (max event time of earlier batches − delay), and each late (window, key) group of a
   * batch counts once in numRowsDroppedByWatermark (Spark counts the late groups its save step
   * receives, after partial aggregation); a window is emitted once the watermark passes its end.
   */
  for (const [sizeS, slideS, store] of [
    [5, 3, 'memory'],
    [6, 2, 'memory'],
    [4, 4, 'memory'],
    [5, 3, 'LMDB'],
  ] as const) {
    it(`size ${sizeS} s, slide ${slideS} s: every row in each of its windows, late pairs dropped (${store} store)`, async () => {
      const delayS = 4;
      const rnd = prng(sizeS * 100 + slideS);
      const input = memoryStream(schema({ s: t.long, k: t.long }));
      const counts = session
        .readStream(input)
        .withColumn('eventTime', ($) => timestampSeconds($.s))
        .withWatermark('eventTime', `${delayS} seconds`)
        .groupBy(($) => ({ w: window($.eventTime, `${sizeS} seconds`, `${slideS} seconds`), k: $.k }))
        .agg({ count: count() })
        .select(($) => ({ w: $.w, k: $.k, count: $.count }))
        .map(
          (r) => ({
            start: (r.w as { start: number }).start / 1000,
            k: r.k as number,
            count: r.count as number,
          }),
          schema({ start: t.long, k: t.long, count: t.long }),
        );
      const expected = new Map<string, number>();
      let wm = -Infinity;
      let maxT = -Infinity;
      let dropped = 0;
      const test = testStream(counts, {
        outputMode: 'append',
        writeOptions: { stateStore: store === 'LMDB' ? lmdbStateStore() : memoryStateStore() },
      });
      for (let b = 0; b < 8; b++) {
        const batch: { s: number; k: number }[] = [];
        const lateGroups = new Set<string>();
        for (let i = 0; i < 40; i++)
          batch.push({ s: Math.max(0, b * 6 + Math.floor(rnd() * 14) - 6), k: Math.floor(rnd() * 3) });
        for (const r of batch) {
          for (let start = r.s - (((r.s % slideS) + slideS) % slideS); start > r.s - sizeS; start -= slideS) {
            if (start + sizeS <= wm) {
              lateGroups.add(`${start}|${r.k}`);
              continue;
            }
            const id = `${start}|${r.k}`;
            expected.set(id, (expected.get(id) ?? 0) + 1);
          }
          maxT = Math.max(maxT, r.s);
        }
        dropped += lateGroups.size;
        wm = maxT - delayS;
        test.addData(input, batch).processAllAvailable();
      }
      expect(dropped).toBeGreaterThan(0);
      // Far ahead: every window above is emitted.
      test.addData(input, { s: 1000, k: 0 });
      const rows = [...expected].map(([id, n]) => {
        const [start, k] = id.split('|').map(Number);
        return { start: start!, k: k!, count: n };
      });
      await test
        .checkAllRows(rows)
        .assert('late (window, key) groups were counted, once per batch', (q) => {
          const total = q.recentProgress.reduce(
            (a, p) => a + p.stateOperators[0]!.numRowsDroppedByWatermark,
            0,
          );
          expect(total).toBe(dropped);
        })
        .run();
    });
  }
});
