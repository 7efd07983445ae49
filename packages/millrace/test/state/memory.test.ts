/**
 * The memory store: the shared conformance suite (with the default and a
 * small snapshot interval) plus what is specific to its files and cache.
 */
import { readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryStateStore, type StateStore, type StateStoreProvider } from '../../src/state/index.ts';
import { describeStateStoreConformance, expectCode } from './conformance.ts';

/** Truncate the newest delta in half (a torn write). */
async function tearNewestDelta(dir: string): Promise<void> {
  const deltas = (await readdir(dir))
    .filter((f) => f.endsWith('.delta'))
    .sort((a, b) => parseInt(b) - parseInt(a));
  const file = path.join(dir, deltas[0]!);
  const size = (await readFile(file)).length;
  await truncate(file, Math.floor(size / 2));
}

describeStateStoreConformance('memory', () => memoryStateStore({ snapshotMinIntervalMs: 0 }), {
  corrupt: tearNewestDelta,
});
describeStateStoreConformance(
  'memory (snapshot every 3)',
  () => memoryStateStore({ snapshotInterval: 3, snapshotMinIntervalMs: 0 }),
  {
    corrupt: async (dir) => {
      const file = path.join(dir, '2.delta');
      await writeFile(
        file,
        Buffer.concat([Buffer.from('v2\n'), Buffer.from([0xc1, 0xff, 0x00, 0x13, 0x37])]),
      );
    },
  },
);

describe('memory state store', () => {
  let stateDir: string;
  let dir: string;
  const providers: StateStoreProvider[] = [];
  const provider = (snapshotInterval?: number): StateStoreProvider => {
    const p = memoryStateStore(
      snapshotInterval === undefined
        ? { snapshotMinIntervalMs: 0 }
        : { snapshotInterval, snapshotMinIntervalMs: 0 },
    );
    providers.push(p);
    return p;
  };
  const open = (p: StateStoreProvider, version: number): Promise<StateStore> =>
    p.open({ stateDir, operatorId: 'op', partition: 0, version });
  const files = async (): Promise<string[]> =>
    (await readdir(dir)).sort((a, b) => parseInt(a) - parseInt(b) || a.localeCompare(b));
  /** Commit versions from..to-1 → from+1..to, each putting `k<version>`. */
  const commitUpTo = async (p: StateStoreProvider, from: number, to: number): Promise<void> => {
    for (let v = from; v < to; v++) {
      const s = await open(p, v);
      s.put(`k${v + 1}`, v + 1);
      s.put('last', v + 1);
      await s.commit();
    }
  };

  beforeEach(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'millrace-memstate-'));
    dir = path.join(stateDir, 'op', '0');
  });
  afterEach(async () => {
    for (const p of providers.splice(0)) await p.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('rejects a bad snapshotInterval', async () => {
    await expectCode(() => memoryStateStore({ snapshotInterval: 0 }), 'INVALID_OPTION');
    await expectCode(() => memoryStateStore({ snapshotInterval: 2.5 }), 'INVALID_OPTION');
  });

  it('writes one delta per version and a snapshot every snapshotInterval versions', async () => {
    const p = provider(3);
    await commitUpTo(p, 0, 7);
    expect(await files()).toEqual([
      '1.delta',
      '2.delta',
      '3.delta',
      '3.snapshot',
      '4.delta',
      '5.delta',
      '6.delta',
      '6.snapshot',
      '7.delta',
    ]);
    const text = await readFile(path.join(dir, '1.delta'));
    expect(text.subarray(0, 3).toString()).toBe('v2\n');
  });

  it('snapshotMinIntervalMs: at most one snapshot per interval, whatever the batch rate', async () => {
    const p = memoryStateStore({ snapshotInterval: 2, snapshotMinIntervalMs: 60_000 });
    providers.push(p);
    await commitUpTo(p, 0, 7);
    const names = await files();
    expect(names.filter((f) => f.endsWith('.snapshot'))).toEqual(['2.snapshot']);
    expect(names.filter((f) => f.endsWith('.delta'))).toHaveLength(7);
    // Everything still loads after a restart (snapshot 2 + deltas 3..7).
    await p.close();
    const again = provider(2);
    expect((await open(again, 7)).get('last')).toBe(7);
    await expectCode(() => memoryStateStore({ snapshotMinIntervalMs: -1 }), 'INVALID_OPTION');
  });

  it('loads from the newest snapshot ≤ V plus the deltas after it', async () => {
    let p = provider(3);
    await commitUpTo(p, 0, 8);
    await p.close();
    p = provider(3);
    const s8 = await open(p, 8);
    expect(s8.metrics().custom).toMatchObject({ cacheHit: 0, snapshotLoaded: 1, deltasLoaded: 2 });
    expect(s8.get('last')).toBe(8);
    s8.abort();
    const s6 = await open(p, 6);
    expect(s6.metrics().custom).toMatchObject({ snapshotLoaded: 1, deltasLoaded: 0 });
    expect(s6.get('k7')).toBeUndefined();
    s6.abort();
    const s2 = await open(p, 2);
    expect(s2.metrics().custom).toMatchObject({ snapshotLoaded: 0, deltasLoaded: 2 });
    s2.abort();
  });

  it('reuses the loaded map: opening V right after committing V reads no file', async () => {
    const p = provider();
    await commitUpTo(p, 0, 3);
    const s = await open(p, 3);
    expect(s.metrics().custom).toMatchObject({ cacheHit: 1, deltasLoaded: 0, snapshotLoaded: 0 });
    s.put('x', 1);
    s.abort();
    const again = await open(p, 3);
    expect(again.metrics().custom.cacheHit).toBe(1);
    expect(again.get('x')).toBeUndefined();
    // Even a corrupt file is not read on a cache hit.
    await writeFile(path.join(dir, '3.delta'), 'garbage');
    again.abort();
    expect((await open(p, 3)).get('last')).toBe(3);
  });

  it('an aborted batch that changed more than adding keys is undone by reloading the version', async () => {
    const p = provider();
    await commitUpTo(p, 0, 3);
    const changes: ((s: StateStore) => unknown)[] = [
      (s) => s.delete('k1'),
      (s) => s.put('k2', 'changed'),
      (s) => s.getForUpdate('last'),
    ];
    for (const change of changes) {
      const s = await open(p, 3);
      s.put('added', 1);
      change(s);
      s.abort();
      const again = await open(p, 3);
      expect(again.metrics().custom.cacheHit).toBe(0);
      expect(Object.fromEntries(again.range())).toEqual({ k1: 1, k2: 2, k3: 3, last: 3 });
      again.abort();
    }
  });

  it('a delta replays the batch in order: deleted and put again, put and deleted, put many times', async () => {
    let p = provider();
    await commitUpTo(p, 0, 1); // k1, last
    const s = await open(p, 1);
    s.delete('k1');
    s.put('k1', 'back');
    s.put('gone', 1);
    s.delete('gone');
    for (let i = 0; i < 1000; i++) s.put('hot', { i });
    s.delete('last');
    s.put('last', 'again');
    s.delete('last');
    expect(await s.commit()).toBe(2);
    // Puts the Map no longer holds are left out of the delta when keys were put again that often.
    expect(s.metrics().custom.keysWritten).toBe(2);
    expect(s.metrics().custom.bytesWritten).toBeLessThan(200);
    p = provider();
    const back = await open(p, 2);
    expect(back.metrics().custom).toMatchObject({ cacheHit: 0, deltasLoaded: 2 });
    expect(Object.fromEntries(back.range())).toEqual({ hot: { i: 999 }, k1: 'back' });
    expect(back.metrics().numKeys).toBe(2);
  });

  it('a store superseded during its commit leaves the version it was opened at to the newer store', async () => {
    for (const inPlace of [false, true]) {
      const p = provider();
      await commitUpTo(p, 0, 2);
      const first = await open(p, 2);
      first.put('first', 1);
      if (inPlace) first.getForUpdate('k1');
      first.delete('k2');
      const committing = first.commit();
      const second = await open(p, 2);
      expect(await committing).toBe(3);
      expect(Object.fromEntries(second.range())).toEqual({ k1: 1, k2: 2, last: 2 });
      second.put('second', 2);
      expect(await second.commit()).toBe(3);
      expect(Object.fromEntries((await open(provider(), 3)).range())).toEqual({
        k1: 1,
        k2: 2,
        last: 2,
        second: 2,
      });
    }
  });

  it('names the missing delta of a broken chain', async () => {
    let p = provider(5);
    await commitUpTo(p, 0, 8);
    await p.close();
    await rm(path.join(dir, '7.delta'));
    p = provider(5);
    const e = await expectCode(() => open(p, 8), 'CHECKPOINT_CORRUPT');
    expect(e.message).toContain(path.join(dir, '7.delta'));
    expect(e.message).toMatch(/snapshot 5 and deltas 6\.\.8/);
    expect(e.context.file).toBe(path.join(dir, '7.delta'));
    expect((await open(p, 6)).get('last')).toBe(6);
  });

  it('fails clearly on a garbage, torn, foreign or wrong-version file', async () => {
    let p = provider();
    await commitUpTo(p, 0, 2);
    await p.close();
    const f = path.join(dir, '2.delta');
    const good = await readFile(f);
    const cases: [Buffer, string, RegExp][] = [
      [good.subarray(0, good.length - 3), 'CHECKPOINT_CORRUPT', /cannot be decoded/],
      [good.subarray(0, 2), 'CHECKPOINT_CORRUPT', /does not start with "v2"/],
      [Buffer.from('hello world'), 'CHECKPOINT_CORRUPT', /does not start with "v2"/],
      [
        Buffer.concat([Buffer.from('v2\n'), Buffer.from([0x93, 0xa5])]),
        'CHECKPOINT_CORRUPT',
        /cannot be decoded/,
      ],
      [
        Buffer.concat([Buffer.from('v2\n'), Buffer.from([0x2a])]),
        'CHECKPOINT_CORRUPT',
        /does not hold the delta of version 2/,
      ],
      [
        Buffer.concat([Buffer.from('v9\n'), good.subarray(3)]),
        'CHECKPOINT_UNSUPPORTED_VERSION',
        /starts with "v9"/,
      ],
    ];
    // A valid delta of another version in the wrong place.
    cases.push([
      await readFile(path.join(dir, '1.delta')),
      'CHECKPOINT_CORRUPT',
      /does not hold the delta of version 2/,
    ]);
    for (const [bytes, code, message] of cases) {
      await writeFile(f, bytes);
      p = provider();
      const e = await expectCode(() => open(p, 2), code);
      expect(e.message).toMatch(message);
      expect(e.message).toContain(f);
      await p.close();
    }
  });

  it('a replay across a snapshot boundary deletes the abandoned timeline, stale snapshot included', async () => {
    let p = provider(3);
    await commitUpTo(p, 0, 7);
    p = provider(3);
    const s = await open(p, 4); // replay batch 4: version 5 again
    s.put('replayed', true);
    expect(await s.commit()).toBe(5);
    expect(await files()).toEqual(['1.delta', '2.delta', '3.delta', '3.snapshot', '4.delta', '5.delta']);
    const s5 = await open(p, 5);
    s5.put('six', 6);
    expect(await s5.commit()).toBe(6);
    expect(await files()).toContain('6.snapshot');
    p = provider(3);
    const s6 = await open(p, 6);
    expect(s6.get('replayed')).toBe(true);
    expect(s6.get('six')).toBe(6);
    expect(s6.get('k6')).toBeUndefined();
    expect(s6.get('last')).toBe(4);
  });

  it('cleanup keeps the snapshot the oldest kept version needs and removes the rest', async () => {
    const p = provider(5);
    await commitUpTo(p, 0, 13);
    await writeFile(path.join(dir, `.3.delta.999999.${Date.now() - 3600_000}.tmp`), 'leftover');
    await p.cleanup({ stateDir, operatorId: 'op', partition: 0, minVersionToKeep: 7 });
    expect(await files()).toEqual([
      '5.snapshot',
      '6.delta',
      '7.delta',
      '8.delta',
      '9.delta',
      '10.delta',
      '10.snapshot',
      '11.delta',
      '12.delta',
      '13.delta',
    ]);
    await p.cleanup({ stateDir, operatorId: 'op', partition: 0, minVersionToKeep: 3 }); // nothing older to drop
    expect((await files()).length).toBe(10);
    for (let v = 5; v <= 13; v++) expect((await open(p, v)).get('last')).toBe(v);
    const e = await expectCode(() => open(p, 4), 'CHECKPOINT_CORRUPT');
    expect(e.message).toMatch(/removed by cleanup/);
    expect(e.message).toMatch(/oldest version that can be loaded is 5/);
  });

  it('does not read the files again for range() after commits (sorted index kept up to date)', async () => {
    const p = provider();
    let v = 0;
    for (let b = 0; b < 5; b++) {
      const s = await open(p, v);
      for (let i = 0; i < 200; i++) s.put(`k${(b * 37 + i * 13) % 500}`, b);
      if (b > 1) for (let i = 0; i < 50; i++) s.delete(`k${(i * 7) % 500}`);
      const keys = [...s.range()].map(([k]) => k);
      expect(keys).toEqual([...keys].sort());
      expect(new Set(keys).size).toBe(keys.length);
      expect(keys.length).toBe(s.metrics().numKeys);
      v = await s.commit();
    }
  });

  // A bound that catches O(n) per operation (minutes for 200k), not a speed target: it must hold on a
  // loaded 2-core machine too (it hit 1.08 s at load 13 with a 1 s bound).
  it('keeps get/put O(1): 200k puts and gets in a batch take seconds, not minutes', async () => {
    const p = provider();
    const s = await open(p, 0);
    const n = 200_000;
    let t = performance.now();
    for (let i = 0; i < n; i++) s.put(`key-${i}`, [i, i * 2]);
    const putMs = performance.now() - t;
    await s.commit();
    const s1 = await open(p, 1);
    t = performance.now();
    let found = 0;
    for (let i = 0; i < n; i++) if (s1.get(`key-${i}`) !== undefined) found++;
    const getMs = performance.now() - t;
    expect(found).toBe(n);
    expect(putMs).toBeLessThan(5000);
    expect(getMs).toBeLessThan(5000);
    expect(s1.metrics().numKeys).toBe(n);
    const mem = s1.metrics().memoryUsedBytes;
    expect(mem).toBeGreaterThan(n * 40);
    expect(mem).toBeLessThan(n * 1000);
  });
});
