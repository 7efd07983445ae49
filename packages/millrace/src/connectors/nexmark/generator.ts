/**
 * The Nexmark event generator: people, auctions and bids interleaved 1 : 3 : 46, event n a function of n alone.
 *
 * Pure and deterministic: event n's kind comes from n % 50 (0 → person, 1..3 → auction,
 * 4..49 → bid) and every random draw of event n comes from a PRNG seeded with n alone, so any
 * range [from, to) regenerates exactly and ranges can be generated independently.
 *
 * Built for speed (the engine's target is > 1M bids/s per core including generation):
 * - random strings are substrings of one precomputed pseudo-random pool (O(1) slices, no per-char work);
 * - channel names and URLs are precomputed per channel;
 * - `generateBids` / `generateAuctions` / `generatePersons` skip the events of other kinds without
 *   computing them.
 *
 * Sizes: `extra` pads each event so that its size — measured as the JSON of the row's values,
 * `JSON.stringify(Object.values(row)).length`, i.e. without field names — averages about
 * 200 bytes for people, 500 for auctions and 100 for bids (≈126 per event). Field names are left
 * out because a bid's names alone take 76 bytes of JSON, so a 100-byte bid with names is impossible.
 */
import { userError } from '../../errors/index.ts';
import type { Auction, Bid, NexmarkEvent, NexmarkKind, Person } from './model.ts';

// ---------------------------------------------------------------------------
// Configuration

export interface NexmarkConfig {
  /** Event-time rate: event n has dateTime = baseTime + floor(n * 1000 / eventsPerSecond). */
  readonly eventsPerSecond: number;
  /** Epoch ms of event 0. */
  readonly baseTime: number;
  /** When > 1, the timestamps within each group of this many events are permuted (disorder). */
  readonly disorderGroup: number;
}

/** 2025-01-01T00:00:00Z. */
export const DEFAULT_BASE_TIME = Date.UTC(2025, 0, 1);
export const DEFAULT_EVENTS_PER_SECOND = 10_000;

export const DEFAULT_NEXMARK_CONFIG: NexmarkConfig = Object.freeze({
  eventsPerSecond: DEFAULT_EVENTS_PER_SECOND,
  baseTime: DEFAULT_BASE_TIME,
  disorderGroup: 1,
});

/** A full config from partial options, validated. */
export function nexmarkConfig(options: Partial<NexmarkConfig> = {}): NexmarkConfig {
  const eventsPerSecond = options.eventsPerSecond ?? DEFAULT_EVENTS_PER_SECOND;
  const baseTime = options.baseTime ?? DEFAULT_BASE_TIME;
  const disorderGroup = options.disorderGroup ?? 1;
  if (!(typeof eventsPerSecond === 'number' && eventsPerSecond > 0 && Number.isFinite(eventsPerSecond))) {
    throw userError(
      'INVALID_OPTION',
      `nexmark: eventsPerSecond must be a positive number, got ${String(eventsPerSecond)}`,
    );
  }
  if (!Number.isSafeInteger(baseTime)) {
    throw userError(
      'INVALID_OPTION',
      `nexmark: baseTime must be an integer epoch-ms timestamp, got ${String(baseTime)}`,
    );
  }
  if (!(Number.isSafeInteger(disorderGroup) && disorderGroup >= 1)) {
    throw userError(
      'INVALID_OPTION',
      `nexmark: disorderGroup must be an integer >= 1 (1 = in order), got ${String(disorderGroup)}`,
    );
  }
  return { eventsPerSecond, baseTime, disorderGroup };
}

// ---------------------------------------------------------------------------
// Workload constants

export const FIRST_PERSON_ID = 1000;
export const FIRST_AUCTION_ID = 1000;
export const PROPORTION_TOTAL = 50;
/** Offsets within a block of 50: 0 = person, 1..3 = auctions, 4..49 = bids. */
const FIRST_BID_IN_BLOCK = 4;
const NUM_ACTIVE_PEOPLE = 1000;
const PERSON_ID_LEAD = 10;
const NUM_IN_FLIGHT_AUCTIONS = 100;
const AUCTION_ID_LEAD = 10;
const HOT_RATIO = 100;

const AVG_PERSON_SIZE = 200;
const AVG_AUCTION_SIZE = 500;
const AVG_BID_SIZE = 100;

export const NUM_CHANNELS = 10_000;
export const HOT_CHANNELS: readonly string[] = ['Google', 'Facebook', 'Baidu', 'Apple'];
export const FIRST_NAMES: readonly string[] = [
  'Peter',
  'Paul',
  'Luke',
  'John',
  'Saul',
  'Vicky',
  'Kate',
  'Julie',
  'Sarah',
  'Deiter',
  'Walter',
];
export const LAST_NAMES: readonly string[] = [
  'Shultz',
  'Abrams',
  'Spencer',
  'White',
  'Bartels',
  'Walton',
  'Smith',
  'Jones',
  'Noris',
];
export const CITIES: readonly string[] = [
  'Phoenix',
  'Los Angeles',
  'San Francisco',
  'Boise',
  'Portland',
  'Bend',
  'Redmond',
  'Seattle',
  'Kent',
  'Cheyenne',
];
export const STATES: readonly string[] = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'];

/** What kind event n is. */
export function kindOf(n: number): NexmarkKind {
  const m = n % PROPORTION_TOTAL;
  return m === 0 ? 'person' : m < FIRST_BID_IN_BLOCK ? 'auction' : 'bid';
}

/** How many events of `kind` lie in [from, to). */
export function countOfKind(kind: NexmarkKind, from: number, to: number): number {
  return countBelow(kind, to) - countBelow(kind, from);
}

function countBelow(kind: NexmarkKind, n: number): number {
  if (n <= 0) return 0;
  const blocks = Math.floor(n / PROPORTION_TOTAL);
  const m = n - blocks * PROPORTION_TOTAL;
  if (kind === 'person') return blocks + (m > 0 ? 1 : 0);
  if (kind === 'auction') return blocks * 3 + Math.min(3, Math.max(0, m - 1));
  return blocks * 46 + Math.max(0, m - FIRST_BID_IN_BLOCK);
}

// ---------------------------------------------------------------------------
// PRNG: mulberry32 steps from a state seeded by a murmur3 finaliser of n.

const INV32 = 1 / 4294967296;
let state = 0;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const HI_ZERO_MIX = fmix32(0x5bd1e995);

function seed(n: number): void {
  const hi = n < 4294967296 ? HI_ZERO_MIX : fmix32(((n / 4294967296) >>> 0) ^ 0x5bd1e995);
  state = fmix32((n >>> 0) ^ hi);
}

function next(): number {
  state = (state + 0x6d2b79f5) | 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 15), z | 1);
  z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
  return (z ^ (z >>> 14)) >>> 0;
}

/** Uniform integer in [0, bound). */
function nextInt(bound: number): number {
  return Math.floor(next() * INV32 * bound);
}

/** A stand-alone PRNG for the precomputed tables (does not touch the per-event state). */
function tablePrng(seedValue: number): () => number {
  let s = fmix32(seedValue);
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return (z ^ (z >>> 14)) >>> 0;
  };
}

// ---------------------------------------------------------------------------
// Precomputed tables (deterministic, built once at module load: a few ms).

const POOL_BITS = 20;
const MAX_SLICE = 2048;
/** Lowercase letters with about one space in 13 characters. */
const POOL: string = buildPool(0x6e65786d, (1 << POOL_BITS) + MAX_SLICE, true);
/** Lowercase letters only (emails, URL directories). */
const LETTERS_BITS = 16;
const LETTERS: string = buildPool(0x61726b21, (1 << LETTERS_BITS) + 64, false);

function buildPool(seedValue: number, length: number, spaces: boolean): string {
  const rnd = tablePrng(seedValue);
  const buf = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) {
    const r = rnd();
    buf[i] = spaces && r % 13 === 0 ? 32 : 97 + ((r >>> 8) % 26);
  }
  return buf.toString('latin1');
}

/** A random string of length [min, max] (no draw when min === max). */
function poolString(min: number, max: number): string {
  const len = min === max ? min : min + nextInt(max - min + 1);
  const off = next() >>> (32 - POOL_BITS);
  return POOL.substring(off, off + len);
}

function letters(min: number, max: number): string {
  const len = min + nextInt(max - min + 1);
  const off = next() >>> (32 - LETTERS_BITS);
  return LETTERS.substring(off, off + len);
}

/**
 * Padding so that a row whose other values take `current` bytes averages `target`:
 * length uniform in desired ± 20% (as in the Beam/Flink generators).
 */
function extra(current: number, target: number): string {
  const desired = target - current;
  if (desired <= 0) return '';
  const delta = Math.round(desired * 0.2);
  const len = desired - delta + (delta === 0 ? 0 : nextInt(2 * delta + 1));
  const off = next() >>> (32 - POOL_BITS);
  return POOL.substring(off, off + (len > MAX_SLICE ? MAX_SLICE : len));
}

/** Decimal digits of a non-negative integer (its JSON length). */
function digits(x: number): number {
  if (x < 1e4) return x < 10 ? 1 : x < 100 ? 2 : x < 1000 ? 3 : 4;
  if (x < 1e8) return x < 1e5 ? 5 : x < 1e6 ? 6 : x < 1e7 ? 7 : 8;
  return x < 1e13 ? (x < 1e9 ? 9 : x < 1e10 ? 10 : x < 1e11 ? 11 : x < 1e12 ? 12 : 13) : String(x).length;
}

const NAMES: readonly string[] = FIRST_NAMES.flatMap((f) => LAST_NAMES.map((l) => `${f} ${l}`));
const DIGITS4: readonly string[] = Array.from({ length: 10_000 }, (_, i) => String(i).padStart(4, '0'));

function tableUrl(rnd: () => number): string {
  const dir = () => {
    const len = 3 + (rnd() % 3);
    const off = rnd() >>> (32 - LETTERS_BITS);
    return LETTERS.substring(off, off + len);
  };
  return `https://nx.io/${dir()}/${dir()}/${dir()}/item?q=1`;
}

const HOT_URLS: readonly string[] = (() => {
  const rnd = tablePrng(0x686f7421);
  return HOT_CHANNELS.map(() => tableUrl(rnd));
})();
const CHANNEL_NAMES: string[] = new Array<string>(NUM_CHANNELS);
const CHANNEL_URLS: string[] = new Array<string>(NUM_CHANNELS);
/** channel.length + url.length per channel (for the size of a bid). */
const CHANNEL_SIZES = new Int32Array(NUM_CHANNELS);
const HOT_SIZES = new Int32Array(HOT_CHANNELS.length);
{
  const rnd = tablePrng(0x63686e6c);
  for (let i = 0; i < NUM_CHANNELS; i++) {
    let url = tableUrl(rnd);
    // Nine in ten channel URLs carry the channel id (q21 extracts it).
    if (rnd() % 10 !== 0) url += `&channel_id=${i}`;
    CHANNEL_NAMES[i] = `channel-${i}`;
    CHANNEL_URLS[i] = url;
    CHANNEL_SIZES[i] = CHANNEL_NAMES[i]!.length + url.length;
  }
  for (let i = 0; i < HOT_CHANNELS.length; i++) HOT_SIZES[i] = HOT_CHANNELS[i]!.length + HOT_URLS[i]!.length;
}

// ---------------------------------------------------------------------------
// Time

/** The per-call view of a config: precomputed numbers the hot loops read. */
interface Resolved {
  readonly rate: number;
  readonly base: number;
  readonly k: number;
  /** Twice the event time it takes to create NUM_IN_FLIGHT_AUCTIONS more auctions (ms, >= 1). */
  readonly expiryRange: number;
}

function resolve(config: NexmarkConfig): Resolved {
  const c = config === DEFAULT_NEXMARK_CONFIG ? config : nexmarkConfig(config);
  const eventsFor100Auctions = (NUM_IN_FLIGHT_AUCTIONS * PROPORTION_TOTAL) / 3;
  const horizon = Math.floor((eventsFor100Auctions * 1000) / c.eventsPerSecond);
  return {
    rate: c.eventsPerSecond,
    base: c.baseTime,
    k: c.disorderGroup,
    expiryRange: Math.max(1, 2 * horizon),
  };
}

/** The longest an auction stays open: `expires − dateTime` is at most this (ms). */
export function maxAuctionLifeMs(config: NexmarkConfig = DEFAULT_NEXMARK_CONFIG): number {
  return resolve(config).expiryRange;
}

let permGroup = -1;
let permK = 0;
let perm = new Int32Array(0);

/** The position whose timestamp event n carries: n itself, or its image under its group's permutation. */
function timePosition(n: number, k: number): number {
  if (k <= 1) return n;
  const g = Math.floor(n / k);
  if (g !== permGroup || k !== permK) {
    if (perm.length < k) perm = new Int32Array(k);
    for (let i = 0; i < k; i++) perm[i] = i;
    const rnd = tablePrng((g >>> 0) ^ fmix32(((g / 4294967296) >>> 0) ^ 0x7065726d));
    for (let i = k - 1; i > 0; i--) {
      const j = Math.floor(rnd() * INV32 * (i + 1));
      const tmp = perm[i]!;
      perm[i] = perm[j]!;
      perm[j] = tmp;
    }
    permGroup = g;
    permK = k;
  }
  return g * k + perm[n - g * k]!;
}

function timestampAt(n: number, c: Resolved): number {
  return c.base + Math.floor((timePosition(n, c.k) * 1000) / c.rate);
}

/** The event time of event n (with disorder applied when configured). */
export function eventTimestamp(n: number, config: NexmarkConfig = DEFAULT_NEXMARK_CONFIG): number {
  return timestampAt(n, resolve(config));
}

// ---------------------------------------------------------------------------
// Events. `block` = floor(n / 50); the PRNG must already be seeded with n.

// 10^(6 * r / 2^32) for a 32-bit r, as a product of three table entries (bits 31..21, 20..10, 9..0).
const LN_1E6 = 6 * Math.LN10;
const EXP_HI = new Float64Array(2048);
const EXP_MID = new Float64Array(2048);
const EXP_LO = new Float64Array(1024);
for (let i = 0; i < 2048; i++) {
  EXP_HI[i] = Math.exp(LN_1E6 * i * 2 ** 21 * INV32);
  EXP_MID[i] = Math.exp(LN_1E6 * i * 2 ** 10 * INV32);
  if (i < 1024) EXP_LO[i] = Math.exp(LN_1E6 * i * INV32);
}

/** round(10^(u*6) * 100), u uniform in [0, 1): 100 .. 100,000,000. */
function price(): number {
  const r = next();
  return Math.round(EXP_HI[r >>> 21]! * EXP_MID[(r >>> 10) & 2047]! * EXP_LO[r & 1023]! * 100);
}

function activePerson(block: number): number {
  const numPeople = block + 1;
  const active = numPeople < NUM_ACTIVE_PEOPLE ? numPeople : NUM_ACTIVE_PEOPLE;
  return FIRST_PERSON_ID + numPeople - active + nextInt(active + PERSON_ID_LEAD);
}

function personAt(n: number, block: number, c: Resolved): Person {
  seed(n);
  const id = FIRST_PERSON_ID + block;
  const name = NAMES[nextInt(NAMES.length)]!;
  const emailAddress = `${letters(3, 10)}@${letters(3, 8)}.com`;
  const creditCard = `${DIGITS4[nextInt(10000)]} ${DIGITS4[nextInt(10000)]} ${DIGITS4[nextInt(10000)]} ${DIGITS4[nextInt(10000)]}`;
  const city = CITIES[nextInt(CITIES.length)]!;
  const state = STATES[nextInt(STATES.length)]!;
  const dateTime = timestampAt(n, c);
  // [id,"name","email","cc","city","st",dt,"extra"]: 21 bytes of brackets, commas and quotes.
  const size =
    21 +
    digits(id) +
    name.length +
    emailAddress.length +
    creditCard.length +
    city.length +
    state.length +
    digits(dateTime);
  return { id, name, emailAddress, creditCard, city, state, dateTime, extra: extra(size, AVG_PERSON_SIZE) };
}

function auctionAt(n: number, block: number, c: Resolved): Auction {
  seed(n);
  const id = FIRST_AUCTION_ID + block * 3 + (n - block * PROPORTION_TOTAL - 1);
  const itemName = poolString(3, 19);
  const description = poolString(3, 99);
  const initialBid = price();
  const reserve = initialBid + price();
  const dateTime = timestampAt(n, c);
  const expires = dateTime + 1 + nextInt(c.expiryRange);
  const r = next();
  // Hot seller with probability 3/4: the latest person's id rounded down to a multiple of 100.
  const seller =
    (r & 3) !== 0 ? Math.floor((FIRST_PERSON_ID + block) / HOT_RATIO) * HOT_RATIO : activePerson(block);
  const category = 10 + ((r >>> 2) % 5);
  // [id,"item","desc",ib,res,dt,exp,seller,cat,"extra"]: 17 bytes of brackets, commas and quotes.
  const size =
    17 +
    digits(id) +
    itemName.length +
    description.length +
    digits(initialBid) +
    digits(reserve) +
    digits(dateTime) +
    digits(expires) +
    digits(seller) +
    2;
  return {
    id,
    itemName,
    description,
    initialBid,
    reserve,
    dateTime,
    expires,
    seller,
    category,
    extra: extra(size, AVG_AUCTION_SIZE),
  };
}

function bidAt(n: number, block: number, c: Resolved): Bid {
  seed(n);
  const r = next();
  let auction: number;
  if ((r & 1) === 0) {
    // Hot auction (1/2): the latest auction's id rounded down to a multiple of 100.
    auction = Math.floor((FIRST_AUCTION_ID + block * 3 + 2) / HOT_RATIO) * HOT_RATIO;
  } else {
    const numAuctions = block * 3 + 3;
    const inFlight = numAuctions < NUM_IN_FLIGHT_AUCTIONS ? numAuctions : NUM_IN_FLIGHT_AUCTIONS;
    auction = FIRST_AUCTION_ID + numAuctions - inFlight + nextInt(inFlight + AUCTION_ID_LEAD);
  }
  // Hot bidder (3/4): the latest person's id rounded down to a multiple of 100, plus 1.
  const bidder =
    ((r >>> 1) & 3) !== 0
      ? Math.floor((FIRST_PERSON_ID + block) / HOT_RATIO) * HOT_RATIO + 1
      : activePerson(block);
  const p = price();
  let channel: string;
  let url: string;
  let chSize: number;
  if (((r >>> 3) & 1) === 0) {
    const h = (r >>> 4) & 3;
    channel = HOT_CHANNELS[h]!;
    url = HOT_URLS[h]!;
    chSize = HOT_SIZES[h]!;
  } else {
    const ch = (r >>> 6) % NUM_CHANNELS;
    channel = CHANNEL_NAMES[ch]!;
    url = CHANNEL_URLS[ch]!;
    chSize = CHANNEL_SIZES[ch]!;
  }
  const dateTime = timestampAt(n, c);
  // [auction,bidder,price,"channel","url",dt,"extra"]: 14 bytes of brackets, commas and quotes.
  const size = 14 + digits(auction) + digits(bidder) + digits(p) + chSize + digits(dateTime);
  return { auction, bidder, price: p, channel, url, dateTime, extra: extra(size, AVG_BID_SIZE) };
}

// ---------------------------------------------------------------------------
// Public generation API

function checkRange(from: number, to: number): void {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to < from) {
    throw userError('INVALID_OPTION', `nexmark: bad event range [${String(from)}, ${String(to)})`);
  }
}

/** Event n of the interleaved stream. */
export function generateEvent(n: number, config: NexmarkConfig = DEFAULT_NEXMARK_CONFIG): NexmarkEvent {
  checkRange(n, n + 1);
  const c = resolve(config);
  const block = Math.floor(n / PROPORTION_TOTAL);
  const m = n - block * PROPORTION_TOTAL;
  if (m === 0) return { kind: 'person', person: personAt(n, block, c) };
  if (m < FIRST_BID_IN_BLOCK) return { kind: 'auction', auction: auctionAt(n, block, c) };
  return { kind: 'bid', bid: bidAt(n, block, c) };
}

/** Append the bids among events [from, to) to `out`; returns how many were appended. */
export function generateBids(
  from: number,
  to: number,
  config: NexmarkConfig = DEFAULT_NEXMARK_CONFIG,
  out: Bid[] = [],
): number {
  checkRange(from, to);
  const c = resolve(config);
  const before = out.length;
  let block = Math.floor(from / PROPORTION_TOTAL);
  let n = Math.max(from, block * PROPORTION_TOTAL + FIRST_BID_IN_BLOCK);
  while (n < to) {
    const blockEnd = (block + 1) * PROPORTION_TOTAL;
    const stop = to < blockEnd ? to : blockEnd;
    for (; n < stop; n++) out.push(bidAt(n, block, c));
    block++;
    n = block * PROPORTION_TOTAL + FIRST_BID_IN_BLOCK;
  }
  return out.length - before;
}

/** Append the auctions among events [from, to) to `out`; returns how many were appended. */
export function generateAuctions(
  from: number,
  to: number,
  config: NexmarkConfig = DEFAULT_NEXMARK_CONFIG,
  out: Auction[] = [],
): number {
  checkRange(from, to);
  const c = resolve(config);
  const before = out.length;
  let block = Math.floor(from / PROPORTION_TOTAL);
  let n = Math.max(from, block * PROPORTION_TOTAL + 1);
  while (n < to) {
    const blockEnd = block * PROPORTION_TOTAL + FIRST_BID_IN_BLOCK;
    const stop = to < blockEnd ? to : blockEnd;
    for (; n < stop; n++) out.push(auctionAt(n, block, c));
    block++;
    n = block * PROPORTION_TOTAL + 1;
  }
  return out.length - before;
}

/** Append the people among events [from, to) to `out`; returns how many were appended. */
export function generatePersons(
  from: number,
  to: number,
  config: NexmarkConfig = DEFAULT_NEXMARK_CONFIG,
  out: Person[] = [],
): number {
  checkRange(from, to);
  const c = resolve(config);
  const before = out.length;
  let block = Math.ceil(from / PROPORTION_TOTAL);
  for (let n = block * PROPORTION_TOTAL; n < to; n += PROPORTION_TOTAL, block++)
    out.push(personAt(n, block, c));
  return out.length - before;
}

/** Append every event of [from, to) in order. */
export function generateEvents(
  from: number,
  to: number,
  config: NexmarkConfig = DEFAULT_NEXMARK_CONFIG,
  out: NexmarkEvent[] = [],
): number {
  checkRange(from, to);
  const before = out.length;
  for (let n = from; n < to; n++) out.push(generateEvent(n, config));
  return out.length - before;
}
