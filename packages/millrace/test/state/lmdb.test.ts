/**
 * The LMDB store: the shared conformance suite plus what is specific to it
 * (undo records, on-disk figures, key limits, the key encoding).
 */
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lmdbStateStore, type StateStore, type StateStoreProvider } from '../../src/state/index.ts';
import { encodeKey, readKey } from '../../src/state/lmdb/keys.ts';
import { describeStateStoreConformance, expectCode, prng } from './conformance.ts';

describeStateStoreConformance('lmdb', () => lmdbStateStore(), {
  corrupt: async (dir) => {
    const garbage = Buffer.alloc(64 * 1024);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919) & 0xff;
    await writeFile(path.join(dir, 'lmdb', 'data.mdb'), garbage);
  },
});

// Tiny transactions: every multi-key commit and replay runs the chunked path and its recovery.
describeStateStoreConformance('lmdb (4 keys per transaction)', () =>
  lmdbStateStore({ maxKeysPerTransaction: 4 }),
);

describe('lmdb key encoding', () => {
  it('orders bytes like UTF-16 code units and round-trips every code unit', () => {
    const rnd = prng(99);
    const alphabet = [
      '',
      'a',
      'z',
      '\u0000',
      '\u007f',
      '\u0080',
      '\u07ff',
      '\u0800',
      '\uD7FF',
      '\uD800',
      '\uDBFF',
      '\uDC00',
      '\uDFFF',
      '\uE000',
      '\uFFFF',
      '\uD83D\uDE00',
      '\uDBFF\uDFFF',
      'é',
      '한',
    ];
    const keys: string[] = [];
    for (let i = 0; i < 3000; i++) {
      let s = '';
      const n = Math.floor(rnd() * 5);
      for (let j = 0; j < n; j++) s += alphabet[Math.floor(rnd() * alphabet.length)]!;
      keys.push(s);
    }
    for (const k of keys) expect(readKey(encodeKey(k))).toBe(k);
    const byString = [...keys].sort();
    const byBytes = [...keys].sort((a, b) => Buffer.compare(encodeKey(a), encodeKey(b)));
    expect(byBytes).toEqual(byString);
  });
});

describe('lmdb state store', () => {
  let stateDir: string;
  const providers: StateStoreProvider[] = [];
  const provider = (): StateStoreProvider => {
    const p = lmdbStateStore();
    providers.push(p);
    return p;
  };
  const open = (p: StateStoreProvider, version: number): Promise<StateStore> =>
    p.open({ stateDir, operatorId: 'op', partition: 0, version });

  beforeEach(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'millrace-lmdbstate-'));
  });
  afterEach(async () => {
    for (const p of providers.splice(0)) await p.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('rejects bad options', async () => {
    await expectCode(() => lmdbStateStore({ mapSize: 10 }), 'INVALID_OPTION');
    await expectCode(() => lmdbStateStore({ pageSize: 1000 }), 'INVALID_OPTION');
    await expectCode(() => lmdbStateStore({ maxKeysPerTransaction: 0 }), 'INVALID_OPTION');
  });

  it('keeps undo records only for versions that can still be reopened', async () => {
    const p = provider();
    let v = 0;
    for (let b = 0; b < 10; b++) {
      const s = await open(p, v);
      for (let i = 0; i < 10; i++) s.put(`k${b}-${i}`, i);
      v = await s.commit();
      expect(s.metrics().custom.undoEntries).toBe(10 * (b + 1));
    }
    await p.cleanup({ stateDir, operatorId: 'op', partition: 0, minVersionToKeep: 8 });
    const s = await open(p, 10);
    // versions 9 and 10 can still be rolled back to 8
    expect(s.metrics().custom.undoEntries).toBe(20);
    expect(s.metrics().numKeys).toBe(100);
    s.abort();
    const s8 = await open(p, 8);
    expect(s8.metrics().numKeys).toBe(80);
    expect(s8.metrics().custom.rolledBackVersions).toBe(2);
    s8.abort();
    await expectCode(() => open(p, 7), 'CHECKPOINT_CORRUPT');
    // cleanup beyond the newest version keeps the newest loadable
    await p.cleanup({ stateDir, operatorId: 'op', partition: 0, minVersionToKeep: 100 });
    const s10 = await open(p, 10);
    expect(s10.metrics().numKeys).toBe(100);
    expect(s10.metrics().custom.undoEntries).toBe(0);
  });

  it('reports on-disk size as memoryUsedBytes', async () => {
    const p = provider();
    const s = await open(p, 0);
    for (let i = 0; i < 5000; i++) s.put(`key-${i}`, { count: i, sum: i * 1.5 });
    await s.commit();
    const m = s.metrics();
    expect(m.numKeys).toBe(5000);
    expect(m.memoryUsedBytes).toBeGreaterThan(5000 * 10);
    expect(m.custom.diskBytes).toBeGreaterThanOrEqual(m.memoryUsedBytes);
    expect(m.custom.keysWritten).toBe(5000);
  });

  it('rejects keys longer than LMDB allows, with a clear message', async () => {
    const p = provider();
    const s = await open(p, 0);
    const ok = 'x'.repeat(1968);
    s.put(ok, 1);
    const e = await expectCode(() => s.put('y'.repeat(1970), 1), 'STATE_KEY_TOO_LARGE');
    expect(e.message).toMatch(/limit of 1969/);
    await expectCode(() => s.put('é'.repeat(1000), 1), 'STATE_KEY_TOO_LARGE');
    expect(s.get('y'.repeat(5000))).toBeUndefined();
    await s.commit();
    const s1 = await open(p, 1);
    expect(s1.get(ok)).toBe(1);
    expect([...s1.range({ start: 'x'.repeat(3000) })]).toEqual([]);
    expect([...s1.range({ end: 'x'.repeat(3000) })].map(([k]) => k)).toEqual([ok]);
    expect([...s1.range({ prefix: 'x'.repeat(1968) })].map(([k]) => k)).toEqual([ok]);
  });

  it('returns fresh copies from get (mutating one does not change the state)', async () => {
    const p = provider();
    const s = await open(p, 0);
    s.put('a', { n: [1] });
    await s.commit();
    const s1 = await open(p, 1);
    (s1.get('a') as { n: number[] }).n.push(2);
    expect(s1.get('a')).toEqual({ n: [1] });
    s1.abort();
  });

  it('fails with CHECKPOINT_CORRUPT (not a crash) on zeroed, truncated or half-garbled data files', async () => {
    let p = provider();
    let v = 0;
    for (let b = 0; b < 3; b++) {
      const s = await open(p, v);
      for (let i = 0; i < 3000; i++) s.put(`k${b}-${i}`, { i, pad: 'x'.repeat(20) });
      v = await s.commit();
    }
    await p.close();
    const file = path.join(stateDir, 'op', '0', 'lmdb', 'data.mdb');
    const good = await readFile(file);
    const damage: [string, () => Promise<void>, RegExp][] = [
      ['zeros', () => writeFile(file, Buffer.alloc(good.length)), /meta page is missing/],
      ['tiny', () => truncate(file, 100), /truncated \(100 bytes\)/],
      ['one page', () => truncate(file, 4096), /truncated/],
      ['roots cut off', () => truncate(file, 3 * 4096), /page \d+ is missing/],
      [
        'second meta garbled',
        async () => {
          const b = Buffer.from(good);
          b.fill(0x5a, 4096 + 24, 4096 + 40);
          await writeFile(file, b);
        },
        /bad magic number/,
      ],
    ];
    for (const [what, damageIt, message] of damage) {
      await writeFile(file, good);
      await damageIt();
      p = provider();
      const e = await expectCode(() => open(p, 3), 'CHECKPOINT_CORRUPT');
      expect(e.message, what).toMatch(message);
      expect(e.message).toContain(file);
      await p.close();
    }
    await writeFile(file, good);
    p = provider();
    expect((await open(p, 3)).metrics().numKeys).toBe(9000);
  });

  it('detects two stores committing the same partition from different providers', async () => {
    const p = provider();
    const s = await open(p, 0);
    s.put('a', 1);
    await s.commit();
    const a = await open(p, 1);
    const q = provider();
    const b = await open(q, 1);
    b.put('b', 1);
    await b.commit();
    a.put('a', 2);
    const e = await expectCode(() => a.commit(), 'INTERNAL');
    expect(e.message).toMatch(/changed since version 1 was opened/);
  });
});
