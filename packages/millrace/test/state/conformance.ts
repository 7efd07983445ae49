/**
 * The state store contract (src/state/StateStore.ts) as one suite every
 * store runs: `describeStateStoreConformance('memory', () => memoryStateStore())`.
 *
 * Each test gets a fresh state directory. "Restart" means a new provider
 * instance on the same directory (the old one closed), so everything checked
 * after a restart went through the store's files.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MillraceError } from '../../src/errors/index.ts';
import type { StateStore, StateStoreProvider } from '../../src/state/index.ts';
import { prng } from '../../src/testing/prng.ts';

export interface ConformanceOptions {
  /** Damage the newest committed version's data in a partition directory (a torn or garbled file). */
  readonly corrupt?: (partitionDir: string) => Promise<void>;
}

const OP = 'agg';

export { prng };

/** Expect `fn` to throw (or reject with) a MillraceError with `code`, and return it. */
export async function expectCode(fn: () => unknown, code: string): Promise<MillraceError> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected a MillraceError ${code}`).toBeInstanceOf(MillraceError);
  const me = err as MillraceError;
  expect(me.code, me.message).toBe(code);
  return me;
}

const sortedEntries = (m: ReadonlyMap<string, unknown>): [string, unknown][] =>
  [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

export function describeStateStoreConformance(
  name: string,
  makeProvider: () => StateStoreProvider,
  options: ConformanceOptions = {},
): void {
  describe(`state store conformance: ${name}`, () => {
    let stateDir: string;
    const providers: StateStoreProvider[] = [];

    const provider = (): StateStoreProvider => {
      const p = makeProvider();
      providers.push(p);
      return p;
    };
    /** Close `p` and return a new provider on the same directory (a process restart). */
    const restart = async (p: StateStoreProvider): Promise<StateStoreProvider> => {
      await p.close();
      return provider();
    };
    const open = (
      p: StateStoreProvider,
      version: number,
      partition = 0,
      operatorId = OP,
    ): Promise<StateStore> => p.open({ stateDir, operatorId, partition, version });
    const all = (s: StateStore, o?: Parameters<StateStore['range']>[0]): [string, unknown][] => [
      ...s.range(o),
    ];
    /** Commit one batch of changes on top of `version`; returns the new version. */
    const batch = async (
      p: StateStoreProvider,
      version: number,
      changes: Record<string, unknown>,
      partition = 0,
    ): Promise<number> => {
      const s = await open(p, version, partition);
      for (const [k, v] of Object.entries(changes)) {
        if (v === undefined) s.delete(k);
        else s.put(k, v);
      }
      return s.commit();
    };

    beforeEach(async () => {
      stateDir = await mkdtemp(path.join(tmpdir(), `millrace-state-${name}-`));
    });
    afterEach(async () => {
      for (const p of providers.splice(0)) await p.close();
      await rm(stateDir, { recursive: true, force: true });
    });

    it('reports its kind', () => {
      expect(typeof provider().kind).toBe('string');
      expect(provider().kind.length).toBeGreaterThan(0);
    });

    it('can be used again after close (a query restarted with the same provider object)', async () => {
      const p = provider();
      const v1 = await batch(p, 0, { a: 1 });
      const before = await open(p, v1);
      await p.close();
      // A store opened before close() is dead; the provider itself opens again.
      await expect(async () => before.get('a')).rejects.toMatchObject({ code: 'STATE_STORE_NOT_OPEN' });
      const s = await open(p, v1);
      expect(s.get('a')).toBe(1);
      s.put('b', 2);
      expect(await s.commit()).toBe(v1 + 1);
      const again = await open(p, v1 + 1);
      expect(all(again)).toEqual([
        ['a', 1],
        ['b', 2],
      ]);
      again.abort();
    });

    it('is empty at version 0', async () => {
      const s = await open(provider(), 0);
      expect(s.version).toBe(0);
      expect(s.operatorId).toBe(OP);
      expect(s.partition).toBe(0);
      expect(s.get('a')).toBeUndefined();
      expect(all(s)).toEqual([]);
      expect(s.metrics().numKeys).toBe(0);
      s.abort();
    });

    it('puts, gets and deletes within a batch', async () => {
      const s = await open(provider(), 0);
      s.put('a', 1);
      s.put('b', { n: 2 });
      expect(s.get('a')).toBe(1);
      expect(s.get('b')).toEqual({ n: 2 });
      s.put('a', 10);
      expect(s.get('a')).toBe(10);
      s.delete('a');
      expect(s.get('a')).toBeUndefined();
      s.delete('never-there');
      expect(s.get('never-there')).toBeUndefined();
      s.put('a', 11);
      expect(s.get('a')).toBe(11);
      expect(s.metrics().numKeys).toBe(2);
      expect(all(s)).toEqual([
        ['a', 11],
        ['b', { n: 2 }],
      ]);
      s.abort();
    });

    it('commit gives version + 1, and reopening that version sees the data (same provider and after a restart)', async () => {
      let p = provider();
      const s = await open(p, 0);
      s.put('a', 1);
      s.put('', 'empty key');
      expect(await s.commit()).toBe(1);
      const s1 = await open(p, 1);
      expect(s1.version).toBe(1);
      expect(s1.get('a')).toBe(1);
      expect(s1.get('')).toBe('empty key');
      s1.put('b', 2);
      s1.delete('a');
      expect(await s1.commit()).toBe(2);
      p = await restart(p);
      const s2 = await open(p, 2);
      expect(s2.get('a')).toBeUndefined();
      expect(s2.get('b')).toBe(2);
      expect(s2.get('')).toBe('empty key');
      expect(s2.metrics().numKeys).toBe(2);
      s2.abort();
    });

    it('commits an empty batch as a new version', async () => {
      let p = provider();
      expect(await batch(p, 0, { a: 1 })).toBe(1);
      expect(await batch(p, 1, {})).toBe(2);
      expect(await batch(p, 2, {})).toBe(3);
      p = await restart(p);
      const s = await open(p, 3);
      expect(all(s)).toEqual([['a', 1]]);
    });

    it('abort discards the batch, also for the next open on the same provider', async () => {
      const p = provider();
      await batch(p, 0, { a: 1, b: 2 });
      const s = await open(p, 1);
      s.put('a', 100);
      s.put('c', 3);
      s.delete('b');
      s.abort();
      s.abort(); // idempotent
      const again = await open(p, 1);
      expect(again.get('a')).toBe(1);
      expect(again.get('b')).toBe(2);
      expect(again.get('c')).toBeUndefined();
      expect(all(again)).toEqual([
        ['a', 1],
        ['b', 2],
      ]);
      expect(again.metrics().numKeys).toBe(2);
      again.put('d', 4);
      expect(await again.commit()).toBe(2);
      const s2 = await open(p, 2);
      expect(all(s2)).toEqual([
        ['a', 1],
        ['b', 2],
        ['d', 4],
      ]);
    });

    it('getForUpdate: a value changed in place and put back commits; an abort, a failure or a newer open undoes it', async () => {
      const p = provider();
      await batch(p, 0, { g: { n: 1, tags: ['a'] }, h: { n: 10, tags: [] } });
      // Commit: the change is in the new version, also after a restart.
      const s = await open(p, 1);
      const g = s.getForUpdate('g') as { n: number; tags: string[] };
      g.n++;
      g.tags.push('b');
      s.put('g', g);
      expect(s.getForUpdate('missing')).toBeUndefined();
      expect(await s.commit()).toBe(2);
      expect((await open(p, 2)).get('g')).toEqual({ n: 2, tags: ['a', 'b'] });
      const p2 = await restart(p);
      expect((await open(p2, 2)).get('g')).toEqual({ n: 2, tags: ['a', 'b'] });
      // Abort after an in-place change: version 2 is as committed.
      const a = await open(p2, 2);
      (a.getForUpdate('g') as { n: number }).n = 99;
      (a.getForUpdate('h') as { tags: string[] }).tags.push('x');
      a.abort();
      const after = await open(p2, 2);
      expect(after.get('g')).toEqual({ n: 2, tags: ['a', 'b'] });
      expect(after.get('h')).toEqual({ n: 10, tags: [] });
      // A newer open of the same version supersedes the changing store: it sees version 2 as committed.
      const first = await open(p2, 2);
      (first.getForUpdate('h') as { n: number }).n = -1;
      const second = await open(p2, 2);
      expect(second.get('h')).toEqual({ n: 10, tags: [] });
      // Within a batch, getForUpdate after put returns the put value.
      second.put('h', { n: 11, tags: [] });
      expect(second.getForUpdate('h')).toEqual({ n: 11, tags: [] });
      expect(await second.commit()).toBe(3);
      // A failed commit (a value that cannot be stored) also undoes in-place changes.
      const f = await open(p2, 3);
      (f.getForUpdate('g') as { n: number }).n = 1000;
      f.put('g', (f.getForUpdate('g') as object) ?? null);
      f.put('bad', Symbol('not storable'));
      await expectCode(() => f.commit(), 'STATE_VALUE_INVALID');
      expect((await open(p2, 3)).get('g')).toEqual({ n: 2, tags: ['a', 'b'] });
    });

    it('a store cannot be used after commit or abort, and abort after commit changes nothing', async () => {
      const p = provider();
      const s = await open(p, 0);
      s.put('a', 1);
      await s.commit();
      s.abort();
      await expectCode(() => s.get('a'), 'STATE_STORE_NOT_OPEN');
      await expectCode(() => s.put('a', 2), 'STATE_STORE_NOT_OPEN');
      await expectCode(() => s.commit(), 'STATE_STORE_NOT_OPEN');
      expect(s.metrics().numKeys).toBe(1);
      const s1 = await open(p, 1);
      expect(s1.get('a')).toBe(1);
      s1.abort();
      await expectCode(() => s1.range(), 'STATE_STORE_NOT_OPEN');
      await expectCode(() => s1.commit(), 'STATE_STORE_NOT_OPEN');
    });

    it('opening the same operator/partition again supersedes the earlier store', async () => {
      const p = provider();
      await batch(p, 0, { a: 1 });
      const first = await open(p, 1);
      first.put('a', 99);
      const second = await open(p, 1);
      await expectCode(() => first.get('a'), 'STATE_STORE_NOT_OPEN');
      await expectCode(() => first.commit(), 'STATE_STORE_NOT_OPEN');
      expect(second.get('a')).toBe(1);
      second.put('b', 2);
      expect(await second.commit()).toBe(2);
      expect(all(await open(p, 2))).toEqual([
        ['a', 1],
        ['b', 2],
      ]);
    });

    it('rejects undefined values, non-string keys and keys with lone surrogates', async () => {
      const s = await open(provider(), 0);
      await expectCode(() => s.put('a', undefined), 'STATE_VALUE_INVALID');
      await expectCode(() => s.put(42 as unknown as string, 1), 'STATE_KEY_INVALID');
      await expectCode(() => s.put('a\uD800', 1), 'STATE_KEY_INVALID');
      s.put(JSON.stringify(['a\uD800']), 1); // JSON.stringify escapes lone surrogates
      expect(s.get(JSON.stringify(['a\uD800']))).toBe(1);
      s.abort();
    });

    it('a value that cannot be stored fails the commit and leaves every version as it was', async () => {
      let p = provider();
      const base: Record<string, unknown> = {};
      for (let i = 0; i < 30; i++) base[`k${String(i).padStart(2, '0')}`] = i;
      await batch(p, 0, base);
      const s = await open(p, 1);
      for (let i = 0; i < 30; i++) s.put(`k${String(i).padStart(2, '0')}`, -i);
      for (let i = 0; i < 10; i++) s.delete(`k${String(i).padStart(2, '0')}`);
      s.put('new', 1);
      s.put('zzz', Symbol('not storable'));
      await expectCode(() => s.commit(), 'STATE_VALUE_INVALID');
      await expectCode(() => s.get('k00'), 'STATE_STORE_NOT_OPEN');
      const unchanged = async (q: StateStoreProvider): Promise<void> => {
        const s1 = await open(q, 1);
        expect(Object.fromEntries(s1.range())).toEqual(base);
        expect(s1.metrics().numKeys).toBe(30);
        s1.abort();
        await expectCode(() => open(q, 2), 'CHECKPOINT_CORRUPT');
      };
      await unchanged(p);
      await unchanged((p = await restart(p)));
      expect(await batch(p, 1, { k00: 'after' })).toBe(2);
      expect((await open(p, 2)).get('k00')).toBe('after');
    });

    it('keeps operators and partitions apart', async () => {
      const p = provider();
      await batch(p, 0, { k: 'p0' }, 0);
      await batch(p, 0, { k: 'p1' }, 1);
      const other = await p.open({ stateDir, operatorId: 'other', partition: 0, version: 0 });
      other.put('k', 'other');
      await other.commit();
      expect((await open(p, 1, 0)).get('k')).toBe('p0');
      expect((await open(p, 1, 1)).get('k')).toBe('p1');
      expect((await p.open({ stateDir, operatorId: 'other', partition: 0, version: 1 })).get('k')).toBe(
        'other',
      );
    });

    it('a replayed batch sees the older version, leaves newer ones alone until it commits, then overwrites them', async () => {
      let p = provider();
      await batch(p, 0, { a: 1 }); // v1
      await batch(p, 1, { a: 2, b: 1 }); // v2
      await batch(p, 2, { c: 1, a: undefined }); // v3

      const replay = await open(p, 1);
      expect(all(replay)).toEqual([['a', 1]]);
      expect(replay.metrics().numKeys).toBe(1);
      replay.abort();
      // Opening (and aborting) an old version destroys nothing.
      expect(all(await open(p, 3))).toEqual([
        ['b', 1],
        ['c', 1],
      ]);
      expect(all(await open(p, 2))).toEqual([
        ['a', 2],
        ['b', 1],
      ]);

      p = await restart(p); // like a crash after state commit, before commits/1 was written
      const again = await open(p, 1);
      expect(again.get('a')).toBe(1);
      expect(again.get('b')).toBeUndefined();
      again.put('a', 10);
      again.put('z', 26);
      expect(await again.commit()).toBe(2);

      const v2 = await open(p, 2);
      expect(all(v2)).toEqual([
        ['a', 10],
        ['z', 26],
      ]);
      expect(v2.metrics().numKeys).toBe(2);
      v2.abort();
      // The abandoned version 3 is gone: it must not mix with the new timeline.
      await expectCode(() => open(p, 3), 'CHECKPOINT_CORRUPT');

      await batch(p, 2, { y: 25 }); // a new v3
      p = await restart(p);
      expect(all(await open(p, 3))).toEqual([
        ['a', 10],
        ['y', 25],
        ['z', 26],
      ]);
      expect(all(await open(p, 1))).toEqual([['a', 1]]);
    });

    it('replays from version 0', async () => {
      let p = provider();
      await batch(p, 0, { a: 1 });
      await batch(p, 1, { b: 2 });
      p = await restart(p);
      const s = await open(p, 0);
      expect(all(s)).toEqual([]);
      expect(s.metrics().numKeys).toBe(0);
      s.put('c', 3);
      expect(await s.commit()).toBe(1);
      expect(all(await open(p, 1))).toEqual([['c', 3]]);
    });

    it('fails clearly for a version that was never committed', async () => {
      const p = provider();
      await expectCode(() => open(p, 1), 'CHECKPOINT_CORRUPT');
      await batch(p, 0, { a: 1 });
      const e = await expectCode(() => open(p, 5), 'CHECKPOINT_CORRUPT');
      expect(e.message).toMatch(/version 5/);
      expect(e.message).toMatch(/newest/);
    });

    it('rejects bad open arguments', async () => {
      const p = provider();
      await expectCode(
        () => p.open({ stateDir, operatorId: OP, partition: 0, version: -1 }),
        'INVALID_ARGUMENT',
      );
      await expectCode(
        () => p.open({ stateDir, operatorId: OP, partition: 0, version: 1.5 }),
        'INVALID_ARGUMENT',
      );
      await expectCode(
        () => p.open({ stateDir, operatorId: '../x', partition: 0, version: 0 }),
        'INVALID_ARGUMENT',
      );
      await expectCode(
        () => p.open({ stateDir, operatorId: OP, partition: -1, version: 0 }),
        'INVALID_ARGUMENT',
      );
    });

    describe('range', () => {
      const committed: Record<string, unknown> = {
        'b/2': 'b2',
        'a/1': 'a1',
        'b/1': 'b1',
        'c/1': 'c1',
        a: 'a',
        'b/3': 'b3',
        'b\uFFFF': 'bmax',
        'b/\uD83D\uDE00': 'astral', // U+1F600: code units D83D DE00, before U+E000 in UTF-16 order
        'b/\uE000': 'private use',
        '': 'empty',
        '\u0000x': 'nul',
        é: 'e-acute',
      };

      const model = (changes: Record<string, unknown>): Map<string, unknown> => {
        const m = new Map(Object.entries(committed));
        for (const [k, v] of Object.entries(changes)) {
          if (v === undefined) m.delete(k);
          else m.set(k, v);
        }
        return m;
      };

      const setup = async (): Promise<StateStoreProvider> => {
        const p = provider();
        await batch(p, 0, committed);
        return p;
      };

      const changes: Record<string, unknown> = {
        'b/15': 'new in overlay', // between b/1 and b/2
        'b/2': 'updated',
        'b/3': undefined, // deleted
        'c/0': 'new before c/1',
        zz: 'new at the end',
        '0': 'new near the start',
        'not-there': undefined,
      };

      it('returns committed entries in UTF-16 code unit order', async () => {
        for (const p of [await setup(), await restart(await setup())]) {
          const s = await open(p, 1);
          expect(all(s)).toEqual(sortedEntries(model({})));
          s.abort();
        }
      });

      it('merges this batch’s puts and deletes in order', async () => {
        const s = await open(await setup(), 1);
        for (const [k, v] of Object.entries(changes)) {
          if (v === undefined) s.delete(k);
          else s.put(k, v);
        }
        const m = model(changes);
        expect(all(s)).toEqual(sortedEntries(m));
        expect(s.metrics().numKeys).toBe(m.size);
        // and the same after commit + reopen
        await s.commit();
        expect(all(await open(providers[providers.length - 1]!, 2))).toEqual(sortedEntries(m));
      });

      it('filters by prefix, start and end (with overlay changes)', async () => {
        const s = await open(await setup(), 1);
        for (const [k, v] of Object.entries(changes)) {
          if (v === undefined) s.delete(k);
          else s.put(k, v);
        }
        const m = sortedEntries(model(changes));
        const cases: { prefix?: string; start?: string; end?: string }[] = [
          { prefix: 'b/' },
          { prefix: 'b' },
          { prefix: 'c/' },
          { prefix: 'q' },
          { prefix: '' },
          { prefix: '\u0000' },
          { prefix: 'b/\uD83D' },
          { start: 'b/1' },
          { end: 'b/2' },
          { start: 'b/1', end: 'b/3' },
          { start: 'b/15', end: 'b/15\u0000' },
          { start: 'c', end: 'b' },
          { start: 'b', end: 'b' },
          { start: 'a', end: 'c' },
          { prefix: 'b/', start: 'b/2' },
          { prefix: 'b/', end: 'b/3' },
          { prefix: 'b/', start: 'a', end: 'zzz' },
          { prefix: 'a', start: 'b' },
          { start: '\uFFFF' },
          { end: '' },
          { start: '' },
        ];
        for (const c of cases) {
          const expected = m.filter(
            ([k]) =>
              (c.start === undefined || k >= c.start) &&
              (c.end === undefined || k < c.end) &&
              (c.prefix === undefined || k.startsWith(c.prefix)),
          );
          expect(all(s, c), JSON.stringify(c)).toEqual(expected);
        }
        s.abort();
      });

      it('allows deleting keys while iterating (eviction)', async () => {
        const p = await setup();
        const s = await open(p, 1);
        s.put('b/0', 'new');
        const evicted: string[] = [];
        for (const [k] of s.range({ prefix: 'b/' })) {
          evicted.push(k);
          s.delete(k);
        }
        const expected = [...model({ 'b/0': 'new' }).keys()].filter((k) => k.startsWith('b/')).sort();
        expect(evicted).toEqual(expected);
        expect(all(s, { prefix: 'b/' })).toEqual([]);
        await s.commit();
        const s2 = await open(p, 2);
        expect(all(s2, { prefix: 'b' })).toEqual([['b\uFFFF', 'bmax']]);
        expect(s2.metrics().numKeys).toBe(Object.keys(committed).length - expected.length + 1);
      });

      it('stays correct across many batches (range index kept up to date)', async () => {
        const rnd = prng(7);
        const p = provider();
        const m = new Map<string, unknown>();
        let v = 0;
        for (let b = 0; b < 15; b++) {
          const s = await open(p, v);
          for (let i = 0; i < 40; i++) {
            const k = `k${Math.floor(rnd() * 60)}`;
            if (rnd() < 0.3) {
              s.delete(k);
              m.delete(k);
            } else {
              s.put(k, b * 100 + i);
              m.set(k, b * 100 + i);
            }
          }
          expect(all(s)).toEqual(sortedEntries(m));
          expect(all(s, { start: 'k2', end: 'k4' })).toEqual(
            sortedEntries(m).filter(([k]) => k >= 'k2' && k < 'k4'),
          );
          v = await s.commit();
        }
      });
    });

    it('round-trips values', async () => {
      const values: Record<string, unknown> = {
        int: 42,
        negative: -7,
        float: 3.25,
        big: 2 ** 53 - 1,
        tiny: 5e-324,
        nan: NaN,
        inf: Infinity,
        negInf: -Infinity,
        str: 'héllo \uD83D\uDE00',
        emptyStr: '',
        t: true,
        f: false,
        nil: null,
        arr: [1, 'two', [3, [4]], null, { five: 5 }],
        nested: { a: { b: { c: [1, 2, { d: 'deep' }] } }, e: null },
        map: new Map<unknown, unknown>([
          ['x', 1],
          [2, { y: [1, 2] }],
        ]),
        set: new Set([1, 'a', 3]),
        bytes: new Uint8Array([0, 1, 2, 255]),
        emptyBytes: new Uint8Array(0),
        date: new Date(1_700_000_000_000),
        aggregate: [
          ['key', 3],
          [10, 2.5, null],
        ],
      };
      let p = provider();
      const s = await open(p, 0);
      for (const [k, v] of Object.entries(values)) s.put(k, v);
      for (const [k, v] of Object.entries(values)) expect(s.get(k), k).toEqual(v);
      await s.commit();
      p = await restart(p);
      const back = await open(p, 1);
      for (const [k, v] of Object.entries(values)) expect(back.get(k), k).toEqual(v);
      expect((back.get('map') as Map<unknown, unknown>) instanceof Map).toBe(true);
      expect((back.get('set') as Set<unknown>) instanceof Set).toBe(true);
      expect((back.get('bytes') as Uint8Array) instanceof Uint8Array).toBe(true);
      expect(Object.fromEntries(back.range())).toEqual(values);
      // -0 is stored as 0 (msgpack has no negative zero integer).
      back.put('negZero', -0);
      await back.commit();
      p = await restart(p);
      expect(Math.abs((await open(p, 2)).get('negZero') as number)).toBe(0);
    });

    it('counts keys (numKeys) through puts, deletes, commits, restarts and replays', async () => {
      let p = provider();
      const s = await open(p, 0);
      for (let i = 0; i < 100; i++) s.put(`k${i}`, i);
      expect(s.metrics().numKeys).toBe(100);
      s.delete('k0');
      s.delete('absent');
      s.put('k1', 'again');
      expect(s.metrics().numKeys).toBe(99);
      await s.commit();
      expect(s.metrics().numKeys).toBe(99);
      expect(s.metrics().commitTimeMs).toBeGreaterThanOrEqual(0);
      expect(s.metrics().memoryUsedBytes).toBeGreaterThan(0);
      for (const v of Object.values(s.metrics().custom)) expect(typeof v).toBe('number');

      const s1 = await open(p, 1);
      expect(s1.metrics().numKeys).toBe(99);
      for (let i = 0; i < 50; i++) s1.delete(`k${i}`);
      s1.put('new', 1);
      s1.delete('k0'); // already gone
      expect(s1.metrics().numKeys).toBe(99 - 49 + 1);
      await s1.commit();
      p = await restart(p);
      expect((await open(p, 2)).metrics().numKeys).toBe(51);
      expect((await open(p, 1)).metrics().numKeys).toBe(99);
    });

    it('loads every version exactly (random batches, restarts, replays)', async () => {
      const rnd = prng(1234);
      let p = provider();
      const models: Map<string, unknown>[] = [new Map()];
      let v = 0;
      for (let b = 0; b < 27; b++) {
        if (b % 9 === 8) p = await restart(p);
        if (b % 11 === 10) {
          // a replay two versions back
          v -= 2;
          models.length = v + 1;
        }
        const m = new Map(models[v]!);
        const s = await open(p, v);
        const n = Math.floor(rnd() * 30);
        for (let i = 0; i < n; i++) {
          const k = `key-${Math.floor(rnd() * 50)}`;
          if (rnd() < 0.25) {
            s.delete(k);
            m.delete(k);
          } else {
            const val = { b, i, tags: new Set([b]) };
            s.put(k, val);
            m.set(k, val);
          }
        }
        if (rnd() < 0.15) {
          s.abort();
          continue;
        }
        v = await s.commit();
        models[v] = m;
      }
      p = await restart(p);
      for (let version = v; version >= 0; version--) {
        const s = await open(p, version);
        expect(all(s), `version ${version}`).toEqual(sortedEntries(models[version]!));
        expect(s.metrics().numKeys, `version ${version}`).toBe(models[version]!.size);
        s.abort();
      }
    });

    it('cleanup keeps every version ≥ minVersionToKeep loadable; older ones fail clearly', async () => {
      const p = provider();
      const models: Map<string, unknown>[] = [new Map()];
      let v = 0;
      for (let b = 0; b < 25; b++) {
        const m = new Map(models[v]!);
        const changes: Record<string, unknown> = { counter: b, [`k${b}`]: b };
        if (b % 4 === 3) changes[`k${b - 2}`] = undefined;
        for (const [k, val] of Object.entries(changes)) {
          if (val === undefined) m.delete(k);
          else m.set(k, val);
        }
        v = await batch(p, v, changes);
        models[v] = m;
      }
      await p.cleanup({ stateDir, operatorId: OP, partition: 0, minVersionToKeep: 15 });
      await p.cleanup({ stateDir, operatorId: OP, partition: 0, minVersionToKeep: 15 }); // idempotent
      const check = async (q: StateStoreProvider): Promise<void> => {
        for (let version = 15; version <= 25; version++) {
          const s = await open(q, version);
          expect(all(s), `version ${version}`).toEqual(sortedEntries(models[version]!));
          s.abort();
        }
        for (const old of [1, 5]) {
          const e = await expectCode(() => open(q, old), 'CHECKPOINT_CORRUPT');
          expect(e.message).toMatch(new RegExp(`version ${old}\\b`));
        }
      };
      await check(p);
      await check(await restart(p));
      // Still committable after cleanup, from the newest and from a replayed version.
      const q = providers[providers.length - 1]!;
      expect(await batch(q, 25, { after: 1 })).toBe(26);
      expect(await batch(q, 20, { replayed: 1 })).toBe(21);
      expect((await open(q, 21)).get('replayed')).toBe(1);
      // Cleanup of a partition that never existed is a no-op.
      await q.cleanup({ stateDir, operatorId: 'nothing', partition: 3, minVersionToKeep: 10 });
    });

    if (options.corrupt !== undefined) {
      const corrupt = options.corrupt;
      it('fails with CHECKPOINT_CORRUPT on damaged data', async () => {
        let p = provider();
        await batch(p, 0, { a: 1 });
        await batch(p, 1, { b: 2 });
        await p.close();
        await corrupt(path.join(stateDir, OP, '0'));
        p = provider();
        const e = await expectCode(() => open(p, 2), 'CHECKPOINT_CORRUPT');
        expect(e.message).toContain(path.join(stateDir, OP, '0'));
        expect(e.domain).toBe('user');
      });
    }
  });
}
