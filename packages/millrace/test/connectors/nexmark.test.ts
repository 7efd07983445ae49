import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Auction,
  type Bid,
  type Person,
  CITIES,
  DEFAULT_BASE_TIME,
  HOT_CHANNELS,
  STATES,
  auctionSchema,
  bidSchema,
  countOfKind,
  eventTimestamp,
  generateAuctions,
  generateBids,
  generateEvent,
  generateEvents,
  generatePersons,
  kindOf,
  nexmarkConfig,
  nexmarkSource,
  personSchema,
} from '../../src/connectors/nexmark/index.ts';
import type { ConnectorContext } from '../../src/connectors/contracts.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { MillraceError } from '../../src/errors/index.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function ctx(clock = new ManualClock(1_000_000)): ConnectorContext {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'nexmark-test-'));
  dirs.push(stateDir);
  return { queryId: 'q', queryName: 'q', stateDir, clock, log: silentLogger };
}

const size = (row: object) => JSON.stringify(Object.values(row)).length;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('nexmark generator', () => {
  it('is deterministic: the same range twice, and split ranges, give the same rows', () => {
    const a: Bid[] = [];
    const b: Bid[] = [];
    generateBids(12_345, 20_000, undefined, a);
    generateBids(12_345, 20_000, undefined, b);
    expect(a).toEqual(b);
    const split: Bid[] = [];
    generateBids(12_345, 15_001, undefined, split);
    generateBids(15_001, 20_000, undefined, split);
    expect(split).toEqual(a);

    const auctions: Auction[] = [];
    const auctionsSplit: Auction[] = [];
    generateAuctions(0, 10_000, undefined, auctions);
    generateAuctions(0, 4_002, undefined, auctionsSplit);
    generateAuctions(4_002, 10_000, undefined, auctionsSplit);
    expect(auctionsSplit).toEqual(auctions);

    const persons: Person[] = [];
    const personsSplit: Person[] = [];
    generatePersons(1, 10_001, undefined, persons);
    generatePersons(1, 5_000, undefined, personsSplit);
    generatePersons(5_000, 10_001, undefined, personsSplit);
    expect(personsSplit).toEqual(persons);
  });

  it('per-kind generators agree with generateEvent', () => {
    const all: ReturnType<typeof generateEvent>[] = [];
    expect(generateEvents(1_000_000, 1_000_200, undefined, all)).toBe(200);
    expect(generateEvent(1_000_004)).toEqual(all[4]);
    const bids: Bid[] = [];
    const auctions: Auction[] = [];
    const persons: Person[] = [];
    generateBids(1_000_000, 1_000_200, undefined, bids);
    generateAuctions(1_000_000, 1_000_200, undefined, auctions);
    generatePersons(1_000_000, 1_000_200, undefined, persons);
    expect(all.flatMap((e) => (e.kind === 'bid' ? [e.bid] : []))).toEqual(bids);
    expect(all.flatMap((e) => (e.kind === 'auction' ? [e.auction] : []))).toEqual(auctions);
    expect(all.flatMap((e) => (e.kind === 'person' ? [e.person] : []))).toEqual(persons);
  });

  it('interleaves 1 person, 3 auctions and 46 bids per 50 events', () => {
    expect([0, 1, 2, 3, 4, 49, 50].map(kindOf)).toEqual([
      'person',
      'auction',
      'auction',
      'auction',
      'bid',
      'bid',
      'person',
    ]);
    for (const [from, to] of [
      [0, 5000],
      [7, 5003],
      [49, 51],
      [3, 4],
    ] as const) {
      const bids: Bid[] = [];
      const auctions: Auction[] = [];
      const persons: Person[] = [];
      expect(generateBids(from, to, undefined, bids)).toBe(countOfKind('bid', from, to));
      expect(generateAuctions(from, to, undefined, auctions)).toBe(countOfKind('auction', from, to));
      expect(generatePersons(from, to, undefined, persons)).toBe(countOfKind('person', from, to));
      expect(bids.length + auctions.length + persons.length).toBe(to - from);
    }
    expect(countOfKind('bid', 0, 5000)).toBe(4600);
    expect(countOfKind('auction', 0, 5000)).toBe(300);
    expect(countOfKind('person', 0, 5000)).toBe(100);
  });

  it('assigns dense ids and refers to existing-ish people and auctions', () => {
    const persons: Person[] = [];
    generatePersons(0, 50_000, undefined, persons);
    expect(persons.map((p) => p.id)).toEqual(persons.map((_, i) => 1000 + i));
    const auctions: Auction[] = [];
    generateAuctions(0, 50_000, undefined, auctions);
    expect(auctions.map((a) => a.id)).toEqual(auctions.map((_, i) => 1000 + i));

    // Event n in block b = floor(n/50): the latest person is 1000 + b, the latest auction 1000 + 3b + 2.
    let hotSellers = 0;
    for (const a of auctions) {
      const block = Math.floor((a.id - 1000) / 3);
      const lastPerson = 1000 + block;
      if (a.seller === Math.floor(lastPerson / 100) * 100) hotSellers++;
      const ok =
        a.seller >= Math.max(1000, lastPerson - 999) &&
        a.seller <= lastPerson + 10 &&
        a.category >= 10 &&
        a.category <= 14 &&
        a.reserve > a.initialBid &&
        a.expires > a.dateTime &&
        a.expires - a.dateTime <= 333;
      if (!ok) throw new Error(`bad auction ${JSON.stringify(a)}`);
    }
    expect(hotSellers / auctions.length).toBeGreaterThan(0.7);

    const bids: Bid[] = [];
    let hotAuctions = 0;
    let hotBidders = 0;
    const from = 5_000_000;
    generateBids(from, from + 50_000, undefined, bids);
    bids.forEach((b, i) => {
      const n = from + Math.floor(i / 46) * 50 + 4 + (i % 46);
      const block = Math.floor(n / 50);
      const lastPerson = 1000 + block;
      const lastAuction = 1000 + 3 * block + 2;
      if (b.auction === Math.floor(lastAuction / 100) * 100) hotAuctions++;
      else if (b.auction <= lastAuction - 100 || b.auction > lastAuction + 10)
        throw new Error(`bad auction in ${n}`);
      if (b.bidder === Math.floor(lastPerson / 100) * 100 + 1) hotBidders++;
      else if (b.bidder <= lastPerson - 1000 || b.bidder > lastPerson + 10)
        throw new Error(`bad bidder in ${n}`);
      if (b.dateTime !== DEFAULT_BASE_TIME + Math.floor(n / 10)) throw new Error(`bad dateTime in ${n}`);
    });
    expect(hotAuctions / bids.length).toBeGreaterThan(0.47);
    expect(hotAuctions / bids.length).toBeLessThan(0.53);
    expect(hotBidders / bids.length).toBeGreaterThan(0.72);
    expect(hotBidders / bids.length).toBeLessThan(0.78);
  });

  it('draws log-uniform prices in [100, 1e8], names, places and channels', () => {
    const bids: Bid[] = [];
    generateBids(0, 200_000, undefined, bids);
    let min = Infinity;
    let max = 0;
    const decades = new Array<number>(6).fill(0);
    for (const b of bids) {
      if (!Number.isInteger(b.price)) throw new Error(`non-integer price ${b.price}`);
      min = Math.min(min, b.price);
      max = Math.max(max, b.price);
      decades[Math.min(5, Math.floor(Math.log10(b.price / 100)))]!++;
    }
    expect(min).toBeGreaterThanOrEqual(100);
    expect(max).toBeLessThanOrEqual(100_000_000);
    for (const d of decades) expect(d / bids.length).toBeCloseTo(1 / 6, 1);

    const hot = bids.filter((b) => HOT_CHANNELS.includes(b.channel));
    expect(hot.length / bids.length).toBeGreaterThan(0.48);
    expect(hot.length / bids.length).toBeLessThan(0.52);
    let withId = 0;
    for (const b of bids) {
      if (HOT_CHANNELS.includes(b.channel)) continue;
      const m = /^channel-(\d+)$/.exec(b.channel);
      if (!m || Number(m[1]) >= 10_000) throw new Error(`bad channel ${b.channel}`);
      const id = /&channel_id=(\d+)/.exec(b.url);
      if (id) {
        withId++;
        if (id[1] !== m[1]) throw new Error(`url ${b.url} of ${b.channel}`);
      }
      if (b.url.split('/').length < 7) throw new Error(`url ${b.url} has fewer than 3 directories`);
    }
    expect(withId / (bids.length - hot.length)).toBeGreaterThan(0.85);

    const persons: Person[] = [];
    generatePersons(0, 200_000, undefined, persons);
    const bad = persons.filter(
      (p) =>
        !/^[A-Z][a-z]+ [A-Z][a-z]+$/.test(p.name) ||
        !/^[a-z]+@[a-z]+\.com$/.test(p.emailAddress) ||
        !/^\d{4} \d{4} \d{4} \d{4}$/.test(p.creditCard) ||
        !CITIES.includes(p.city) ||
        !STATES.includes(p.state) ||
        !/^[a-z ]*$/.test(p.extra),
    );
    expect(bad).toEqual([]);
    expect(new Set(persons.map((p) => p.city)).size).toBe(CITIES.length);
  });

  it('pads events to ~200/500/100 bytes (JSON of the values)', () => {
    for (const from of [0, 9_000_000]) {
      const bids: Bid[] = [];
      const auctions: Auction[] = [];
      const persons: Person[] = [];
      generateBids(from, from + 100_000, undefined, bids);
      generateAuctions(from, from + 500_000, undefined, auctions);
      generatePersons(from, from + 500_000, undefined, persons);
      expect(Math.abs(mean(persons.map(size)) / 200 - 1)).toBeLessThan(0.15);
      expect(Math.abs(mean(auctions.map(size)) / 500 - 1)).toBeLessThan(0.15);
      expect(Math.abs(mean(bids.map(size)) / 100 - 1)).toBeLessThan(0.15);
    }
  });

  it('derives event time from the event number, with optional disorder', () => {
    const cfg = nexmarkConfig({ eventsPerSecond: 1000, baseTime: 0 });
    expect([0, 1, 999, 1000].map((n) => eventTimestamp(n, cfg))).toEqual([0, 1, 999, 1000]);
    expect(eventTimestamp(25, nexmarkConfig({ eventsPerSecond: 10 }))).toBe(DEFAULT_BASE_TIME + 2500);

    const k = 10;
    const dis = nexmarkConfig({ eventsPerSecond: 1000, baseTime: 0, disorderGroup: k });
    const times = Array.from({ length: 1000 }, (_, n) => eventTimestamp(n, dis));
    let moved = 0;
    for (let g = 0; g < 100; g++) {
      const group = times.slice(g * k, (g + 1) * k);
      expect([...group].sort((x, y) => x - y)).toEqual(Array.from({ length: k }, (_, i) => g * k + i));
      if (group.some((x, i) => x !== g * k + i)) moved++;
    }
    expect(moved).toBeGreaterThan(90);
    // Random access gives the same times as sequential generation.
    expect(eventTimestamp(537, dis)).toBe(times[537]);
    const bids: Bid[] = [];
    generateBids(0, 1000, dis, bids);
    const again: Bid[] = [];
    generateBids(500, 1000, dis, again);
    expect(bids.slice(bids.length - again.length)).toEqual(again);
  });

  it('has typed schemas', () => {
    expect(bidSchema.names).toEqual(['auction', 'bidder', 'price', 'channel', 'url', 'dateTime', 'extra']);
    expect(auctionSchema.names).toEqual([
      'id',
      'itemName',
      'description',
      'initialBid',
      'reserve',
      'dateTime',
      'expires',
      'seller',
      'category',
      'extra',
    ]);
    expect(personSchema.field('dateTime')?.type.kind).toBe('timestamp');
    const [bid] = (() => {
      const out: Bid[] = [];
      generateBids(0, 5, undefined, out);
      return out;
    })();
    expect(Object.keys(bid!)).toEqual(bidSchema.names);
  });
});

describe('nexmarkSource', () => {
  it('reads batches by event-number offsets', async () => {
    const src = nexmarkSource({ kind: 'bid', maxEvents: 1_000, eventsPerTrigger: 300 });
    expect(src.name).toBe('nexmark-bid');
    expect(src.replayable).toBe(true);
    expect(src.schema).toBe(bidSchema);
    expect(src.describe()).toBe('NexmarkSource[bid, maxEvents=1000]');
    await src.open(ctx());
    expect(src.reportLatestOffset()).toBe(1000);
    const ends: number[] = [];
    let start: number | null = null;
    const rows: Bid[] = [];
    while (true) {
      const end = await src.latestOffset(start, { kind: 'default' });
      if (end === start) break;
      ends.push(end as number);
      const batch = await src.getBatch(start, end!, { batchId: ends.length - 1 });
      rows.push(...batch.rows);
      start = end as number;
    }
    expect(ends).toEqual([300, 600, 900, 1000]);
    const expected: Bid[] = [];
    generateBids(0, 1000, undefined, expected);
    expect(rows).toEqual(expected);
    // Replay gives the same rows.
    expect((await src.getBatch(300, 600, { batchId: 1 })).rows).toEqual(
      expected.slice(countOfKind('bid', 0, 300), countOfKind('bid', 0, 600)),
    );
    // `all` ignores eventsPerTrigger.
    expect(await src.latestOffset(null, { kind: 'all' })).toBe(1000);
    await src.close();
  });

  it('returns null when nothing was ever available, and serves other kinds', async () => {
    const empty = nexmarkSource({ kind: 'auction', maxEvents: 0 });
    await empty.open(ctx());
    expect(await empty.latestOffset(null, { kind: 'default' })).toBeNull();

    const people = nexmarkSource({
      kind: 'person',
      name: 'people',
      maxEvents: 500,
      baseTime: 0,
      eventsPerSecond: 1,
    });
    expect(people.name).toBe('people');
    await people.open(ctx());
    const batch = await people.getBatch(null, 500, { batchId: 0 });
    expect(batch.rows.map((p) => p.id)).toEqual(Array.from({ length: 10 }, (_, i) => 1000 + i));
    expect(batch.rows.map((p) => p.dateTime)).toEqual(Array.from({ length: 10 }, (_, i) => i * 50_000));
    const auctions = nexmarkSource({ kind: 'auction', maxEvents: 500 });
    await auctions.open(ctx());
    expect((await auctions.getBatch(100, 200, { batchId: 0 })).rows).toHaveLength(6);
  });

  it('fixes its target for availableNow and refuses unbounded reads of everything', async () => {
    const clock = new ManualClock(1_000_000);
    const paced = nexmarkSource({ kind: 'bid', wallRate: 1000, eventsPerTrigger: 400 });
    expect(paced.describe()).toBe('NexmarkSource[bid, maxEvents=unbounded, wallRate=1000/s]');
    const c = ctx(clock);
    await paced.open(c);
    expect(await paced.latestOffset(null, { kind: 'default' })).toBeNull();
    clock.advance(1_000);
    expect(paced.reportLatestOffset()).toBe(1000);
    expect(await paced.latestOffset(null, { kind: 'default' })).toBe(400);
    expect(await paced.latestOffset(400, { kind: 'all' })).toBe(1000);
    await paced.prepareForAvailableNow();
    clock.advance(5_000);
    expect(await paced.latestOffset(800, { kind: 'default' })).toBe(1000);
    expect(await paced.latestOffset(1000, { kind: 'default' })).toBe(1000);
    expect(paced.reportLatestOffset()).toBe(1000);

    // A restart keeps the pacing schedule (start time kept in the state directory).
    const again = nexmarkSource({ kind: 'bid', wallRate: 1000, eventsPerTrigger: 100_000 });
    await again.open(c);
    expect(await again.latestOffset(1000, { kind: 'default' })).toBe(6000);

    const bounded = nexmarkSource({ kind: 'bid', maxEvents: 2_000 });
    await bounded.open(ctx());
    await bounded.prepareForAvailableNow();
    expect(await bounded.latestOffset(null, { kind: 'default' })).toBe(2_000);

    const unbounded = nexmarkSource({ kind: 'bid', eventsPerTrigger: 10 });
    await unbounded.open(ctx());
    expect(await unbounded.latestOffset(5, { kind: 'default' })).toBe(15);
    expect(unbounded.reportLatestOffset()).toBeNull();
    await expect(unbounded.latestOffset(null, { kind: 'all' })).rejects.toThrow(MillraceError);
    await expect(unbounded.prepareForAvailableNow()).rejects.toThrow(/maxEvents/);
  });

  it('validates options and offsets', async () => {
    expect(() => nexmarkSource({ kind: 'bids' as 'bid' })).toThrow(MillraceError);
    expect(() => nexmarkSource({ kind: 'bid', eventsPerTrigger: 0 })).toThrow(/eventsPerTrigger/);
    expect(() => nexmarkSource({ kind: 'bid', maxEvents: 1.5 })).toThrow(/maxEvents/);
    expect(() => nexmarkSource({ kind: 'bid', eventsPerSecond: -1 })).toThrow(/eventsPerSecond/);
    expect(() => nexmarkSource({ kind: 'bid', disorderGroup: 0 })).toThrow(/disorderGroup/);
    const src = nexmarkSource({ kind: 'bid', maxEvents: 10 });
    await src.open(ctx());
    await expect(src.getBatch('x', 5, { batchId: 0 })).rejects.toThrow(/event number/);
    await expect(src.getBatch(5, 3, { batchId: 0 })).rejects.toThrow(/before its start/);
  });
});
