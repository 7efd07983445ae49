/**
 * The memory store at scale, with the limits lowered so the unit suite needs no millions of keys:
 * a map split into shards (maxShardSize), snapshots in frames (snapshotChunkEntries) written a step
 * per commit (snapshotStepMs 0: one frame per commit), crashes in the middle of a snapshot, and the
 * errors for state too large.
 */
import { readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  memoryStateStore,
  type MemoryStateStoreOptions,
  type StateStore,
  type StateStoreProvider,
} from '../../src/state/index.ts';
import { hashKey, ShardedMap } from '../../src/state/memory/ShardedMap.ts';
import { commitFailure } from '../../src/state/memory/MemoryStateStoreProvider.ts';
import { createPackr, encodeFile } from '../../src/state/memory/files.ts';
import { describeStateStoreConformance, expectCode, prng } from './conformance.ts';

/** Every limit as low as it goes: shards of 4 keys, frames of 2 entries, one frame per commit. */
const TINY: MemoryStateStoreOptions = {
  snapshotInterval: 2,
  snapshotMinIntervalMs: 0,
  snapshotStepMs: 0,
  snapshotPace: 0,
  snapshotChunkEntries: 2,
  maxShardSize: 4,
};

// Frames of 4: a snapshot of the suite's few keys takes a few commits, so cleanup finds snapshots to keep.
describeStateStoreConformance('memory (sharded map, incremental snapshots)', () =>
  memoryStateStore({ ...TINY, snapshotChunkEntries: 4 }),
);

describe('ShardedMap', () => {
  it('behaves as one Map through splits (random puts and deletes)', () => {
    const rnd = prng(7);
    const sharded = new ShardedMap<number>(8);
    const model = new Map<string, number>();
    let mismatches = 0;
    for (let i = 0; i < 20_000; i++) {
      const k = `k${Math.floor(rnd() * 3000)}`;
      if (rnd() < 0.3) {
        if (sharded.delete(k) !== model.delete(k)) mismatches++;
      } else {
        if (sharded.set(k, i) === model.has(k)) mismatches++;
        model.set(k, i);
      }
    }
    expect(mismatches).toBe(0);
    expect(sharded.size).toBe(model.size);
    expect(sharded.splits).toBeGreaterThan(100);
    // No shard above its limit, each key in exactly one shard.
    const shards = sharded.shards();
    for (const m of shards) expect(m.size).toBeLessThan(8);
    expect(shards.reduce((n, m) => n + m.size, 0)).toBe(model.size);
    expect(new Map(sharded.entries())).toEqual(model);
    for (const [k, v] of model) expect(sharded.get(k)).toBe(v);
    expect(sharded.has('absent')).toBe(false);
  });

  it('stays one Map (no hashing) below its limit', () => {
    const m = new ShardedMap<number>(1000);
    for (let i = 0; i < 999; i++) m.set(`k${i}`, i);
    expect(m.shards()).toHaveLength(1);
    expect(m.splits).toBe(0);
    m.set('k999', 999);
    expect(m.shards()).toHaveLength(2);
  });

  it('spreads splits over the growth instead of splitting every shard in the same batch', () => {
    // One limit for all shards: 15 splits (each a copy of a full shard) within 1,000 inserts.
    const m = new ShardedMap<number>(1000);
    const at: number[] = [];
    for (let i = 0; i < 64_000; i++) {
      const before = m.splits;
      m.set(`k${i}`, i);
      if (m.splits !== before) at.push(i);
    }
    let densest = 0;
    for (let i = 0; i < at.length; i++) {
      let n = 0;
      while (i + n < at.length && at[i + n]! - at[i]! < 1000) n++;
      densest = Math.max(densest, n);
    }
    expect(densest).toBeLessThanOrEqual(8);
  });

  it('hashes keys that differ only at the end into both halves', () => {
    const low = new Set<number>();
    for (let i = 0; i < 64; i++) low.add(hashKey(`000000001700000000|user-${i}`) & 7);
    expect(low.size).toBe(8);
  });
});

describe('memory state store at scale', () => {
  let stateDir: string;
  let dir: string;
  const providers: StateStoreProvider[] = [];
  const provider = (options: MemoryStateStoreOptions = TINY): StateStoreProvider => {
    const p = memoryStateStore(options);
    providers.push(p);
    return p;
  };
  const open = (p: StateStoreProvider, version: number): Promise<StateStore> =>
    p.open({ stateDir, operatorId: 'op', partition: 0, version });
  const names = async (): Promise<string[]> => (await readdir(dir)).sort();
  const snapshots = async (): Promise<string[]> => (await names()).filter((f) => f.endsWith('.snapshot'));
  const contents = (s: StateStore): Record<string, unknown> => Object.fromEntries(s.range());

  beforeEach(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'millrace-memlarge-'));
    dir = path.join(stateDir, 'op', '0');
  });
  afterEach(async () => {
    for (const p of providers.splice(0)) await p.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  /**
   * Batches of random puts and deletes over `keys` keys; returns the model of every version.
   * With TINY a snapshot of ~100 keys takes ~50 commits, so several batches change the map under it.
   */
  const run = async (
    p: StateStoreProvider,
    batches: number,
    keys: number,
    seed: number,
    models: Map<string, unknown>[] = [new Map()],
  ): Promise<Map<string, unknown>[]> => {
    const rnd = prng(seed);
    for (let b = 0; b < batches; b++) {
      const v = models.length - 1;
      const m = new Map(models[v]!);
      const s = await open(p, v);
      for (let i = 0; i < 12; i++) {
        const k = `key-${Math.floor(rnd() * keys)}`;
        if (rnd() < 0.3) {
          s.delete(k);
          m.delete(k);
        } else if (rnd() < 0.5 && m.has(k)) {
          const val = s.getForUpdate(k) as { n: number };
          val.n++;
          s.put(k, val);
          m.set(k, { n: val.n });
        } else {
          s.put(k, { n: b * 100 + i });
          m.set(k, { n: b * 100 + i });
        }
      }
      expect(await s.commit()).toBe(v + 1);
      models.push(m);
    }
    return models;
  };

  const expectVersion = async (p: StateStoreProvider, version: number, model: Map<string, unknown>) => {
    const s = await open(p, version);
    expect(contents(s), `version ${version}`).toEqual(Object.fromEntries(model));
    expect(s.metrics().numKeys).toBe(model.size);
    s.abort();
  };

  it('writes a snapshot over many commits while batches change the state, and every version loads exactly', async () => {
    const p = provider();
    const models = await run(p, 100, 100, 1);
    const snaps = await snapshots();
    // Snapshots span versions (base-upTo): each took several commits.
    const spans = snaps.map((f) => /^(\d+)-(\d+)\.snapshot$/.exec(f)).filter((m) => m !== null);
    expect(spans.length, snaps.join(', ')).toBeGreaterThan(1);
    for (const m of spans) expect(Number(m[2]) - Number(m[1])).toBeGreaterThan(10);
    await p.close();
    const again = provider();
    for (let v = 100; v >= 0; v -= 7) await expectVersion(again, v, models[v]!);
    const latest = await open(again, 100);
    expect(latest.metrics().custom.snapshotLoaded).toBe(1);
    expect(latest.metrics().custom.deltasLoaded).toBeLessThan(100);
  });

  it('snapshotPace: each commit encodes at least pace × the keys it wrote, so snapshots keep up with deltas', async () => {
    const p = provider({ ...TINY, snapshotPace: 2, snapshotInterval: 10 });
    let s = await open(p, 0);
    for (let i = 0; i < 200; i++) s.put(`k${i}`, i);
    await s.commit();
    for (let v = 1; v < 40; v++) {
      s = await open(p, v);
      for (let i = 0; i < 10; i++) s.put(`k${(v * 10 + i) % 200}`, v);
      await s.commit();
    }
    // 200 keys at ≥ 2 × 10 entries per commit: a snapshot started at 10 ends by 10 + 200 / 20.
    const spans = (await snapshots()).map((f) => /^(\d+)-(\d+)\.snapshot$/.exec(f)!);
    expect(spans.length).toBeGreaterThan(0);
    for (const m of spans) expect(Number(m[2]) - Number(m[1])).toBeLessThanOrEqual(10);
  });

  it('a crash in the middle of a snapshot loses nothing: the temp file is ignored and removed', async () => {
    // One entry per commit: the snapshot started at version 2 is still being written at 30.
    const p = provider({ ...TINY, snapshotChunkEntries: 1 });
    const models = await run(p, 30, 120, 2);
    const temps = (await readdir(dir)).filter((f) => f.endsWith('.tmp'));
    expect(temps, 'a snapshot in progress').toHaveLength(1);
    expect(await snapshots()).toEqual([]);
    // The process dies: no close, a new provider (another process) reads the directory.
    const other = provider({ ...TINY, snapshotInterval: 1000 });
    await expectVersion(other, 30, models[30]!);
    const more = await run(other, 15, 120, 3, models);
    // Pretend the temp file is another process's (cleanup spares only this process's young ones).
    const renamed = temps[0]!.replace(`.${process.pid}.`, '.1.');
    await writeFile(path.join(dir, renamed), await readFile(path.join(dir, temps[0]!)));
    await rm(path.join(dir, temps[0]!));
    await other.cleanup({ stateDir, operatorId: 'op', partition: 0, minVersionToKeep: 40 });
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    await expectVersion(provider(), 45, more[45]!);
  });

  it('a snapshot cut short or damaged is refused as CHECKPOINT_CORRUPT, naming the file', async () => {
    const p = provider({ ...TINY, snapshotStepMs: 1000 });
    await run(p, 4, 50, 4);
    await p.close();
    const snap = (await snapshots()).at(-1);
    expect(snap).toBe('4.snapshot');
    const file = path.join(dir, snap!);
    const good = await readFile(file);
    expect(good.subarray(0, 3).toString()).toBe('v3\n');
    for (const [bytes, pattern] of [
      [good.subarray(0, good.length - 9), /ends (before its trailer|inside a frame)|cannot be decoded/],
      [good.subarray(0, 40), /ends before its trailer|cannot be decoded/],
      [Buffer.concat([good.subarray(0, 7), Buffer.from([0xc1, 0xc1, 0xc1])]), /cannot be decoded/],
    ] as const) {
      await writeFile(file, bytes);
      const e = await expectCode(() => open(provider(), 4), 'CHECKPOINT_CORRUPT');
      expect(e.message).toContain(file);
      expect(e.message).toMatch(pattern);
    }
    await writeFile(file, Buffer.concat([Buffer.from('v7\n'), good.subarray(3)]));
    await expectCode(() => open(provider(), 4), 'CHECKPOINT_UNSUPPORTED_VERSION');
  });

  it('loads a snapshot written before frames (format v2)', async () => {
    const p = provider({ snapshotInterval: 1000, snapshotMinIntervalMs: 0 });
    const models = await run(p, 6, 30, 5);
    await p.close();
    const old = encodeFile(createPackr(), ['snapshot', 4, new Map(models[4]!)]);
    await writeFile(path.join(dir, '4.snapshot'), old);
    for (const f of ['1.delta', '2.delta', '3.delta', '4.delta']) await rm(path.join(dir, f));
    const again = provider();
    await expectVersion(again, 6, models[6]!);
  });

  it('a replay while a snapshot is in progress drops the snapshot, and the replayed timeline loads', async () => {
    const p = provider();
    const models = await run(p, 20, 120, 6);
    expect((await readdir(dir)).some((f) => f.endsWith('.tmp'))).toBe(true);
    // Replay from version 12 with different changes: versions 13.. of the old timeline go.
    const replayed = await run(p, 30, 120, 7, models.slice(0, 13));
    await p.close();
    const again = provider();
    for (const v of [13, 20, 30, 42]) await expectVersion(again, v, replayed[v]!);
  });

  it('holds more keys than one shard, across splits, snapshots and restarts', async () => {
    const options = { ...TINY, maxShardSize: 64, snapshotChunkEntries: 100, snapshotStepMs: 1000 };
    let p = provider(options);
    let s = await open(p, 0);
    for (let i = 0; i < 5000; i++) s.put(`k${i}`, [i, i * 2]);
    await s.commit();
    s = await open(p, 1);
    for (let i = 0; i < 5000; i += 2) s.delete(`k${i}`);
    await s.commit();
    expect(await snapshots()).toEqual(['2.snapshot']);
    await p.close();
    p = provider(options);
    s = await open(p, 2);
    expect(s.metrics().numKeys).toBe(2500);
    expect(s.get('k4999')).toEqual([4999, 9998]);
    expect(s.get('k4998')).toBeUndefined();
    expect([...s.range({ prefix: 'k499' })].map(([k]) => k)).toEqual([
      'k499',
      'k4991',
      'k4993',
      'k4995',
      'k4997',
      'k4999',
    ]);
  });

  it('refuses a commit whose state passes maxHeapFraction of the heap, leaving the version as it was', async () => {
    const p = provider({ ...TINY, maxHeapFraction: 1e-9 });
    const s = await open(p, 0);
    s.put('a', 1);
    await s.commit(); // the size estimate starts with this commit
    const s1 = await open(p, 1);
    s1.put('b', 2);
    const e = await expectCode(() => s1.commit(), 'STATE_TOO_LARGE');
    expect(e.domain).toBe('user');
    expect(e.message).toMatch(/lmdbStateStore\(\)/);
    expect(e.message).toMatch(/state partitions/);
    expect(e.message).toMatch(/was not committed/);
    expect(contents(await open(provider(), 1))).toEqual({ a: 1 });
  });

  it('names an engine limit as state too large, not a disk problem', () => {
    const mapLimit = commitFailure(
      new RangeError('Map maximum size exceeded'),
      7,
      'agg',
      2,
      '/cp/state',
      9e6,
    );
    expect(mapLimit.code).toBe('STATE_TOO_LARGE');
    expect(mapLimit.message).toMatch(/Map maximum size exceeded/);
    expect(mapLimit.message).toMatch(/lmdbStateStore\(\)/);
    expect(mapLimit.message).not.toMatch(/disk/);
    expect(mapLimit.retryable).toBe(false);
    const full = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    const disk = commitFailure(full, 7, 'agg', 2, '/cp/state', 10);
    expect(disk.code).toBe('STATE_COMMIT_FAILED');
    expect(disk.message).toMatch(/free disk space/);
  });

  it('rejects bad options', async () => {
    for (const bad of [
      { snapshotStepMs: -1 },
      { snapshotPace: -0.5 },
      { snapshotChunkEntries: 0 },
      { snapshotChunkEntries: 1.5 },
      { maxShardSize: 1 },
      { maxHeapFraction: Number.NaN },
    ]) {
      await expectCode(() => memoryStateStore(bad), 'INVALID_OPTION');
    }
  });

  it('a torn delta after the snapshot still fails loudly (the snapshot does not hide it)', async () => {
    const p = provider({ ...TINY, snapshotStepMs: 1000 });
    await run(p, 5, 20, 8);
    await p.close();
    const f = path.join(dir, '5.delta');
    await truncate(f, 5);
    await expectCode(() => open(provider(), 5), 'CHECKPOINT_CORRUPT');
  });
});
