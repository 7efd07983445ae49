/**
 * The generator sources (rateSource, ratePerBatchSource, nexmarkSource)
 * through the shared source conformance suite. They make their own records, so
 * the fixtures have no append(): the suite checks that what arrives is a
 * gap-free, duplicate-free prefix of the generated sequence.
 */
import {
  type Bid,
  type RateRow,
  generateEvent,
  nexmarkConfig,
  nexmarkSource,
  ratePerBatchSource,
  rateSource,
} from 'millrace';
import { sourceConformance } from 'millrace/testing/conformance';

const noBadRecords = { notApplicable: 'a generator makes no malformed records' } as const;
const noOutage = { notApplicable: 'a generator has no external system' } as const;

sourceConformance('rateSource', {
  order: 'total',
  badRecords: noBadRecords,
  outage: noOutage,
  async create(ctx) {
    // Rows become due with the wall clock: fast enough that every case gets its rows in well under a second.
    const rowsPerSecond = ctx.testCase === 'largeBatch' ? 500_000 : 20_000;
    return {
      source: () => rateSource({ name: 'rate', rowsPerSecond }),
      index: (row: RateRow) => row.value,
    };
  },
});

const T0 = Date.UTC(2025, 0, 1);

sourceConformance('ratePerBatchSource', {
  order: 'total',
  badRecords: noBadRecords,
  outage: noOutage,
  async create(ctx) {
    const rowsPerBatch = ctx.testCase === 'largeBatch' ? ctx.sizes.largeBatch : 40;
    return {
      source: () =>
        ratePerBatchSource({
          name: 'rate-mb',
          rowsPerBatch,
          startTimestamp: T0,
          advanceMillisPerBatch: 1000,
        }),
      index: (row: RateRow) => row.value,
      // Batch b (counted from the checkpoint's first batch) holds values [b·n, (b+1)·n) at T0 + b s.
      expectedRow: (i) => ({ timestamp: T0 + Math.floor(i / rowsPerBatch) * 1000, value: i }),
    };
  },
});

// Event n of the Nexmark stream has dateTime = n with one event per millisecond from epoch 0;
// of every 50 events, numbers 4..49 are bids (46 per block).
const config = nexmarkConfig({ eventsPerSecond: 1000, baseTime: 0 });
const bidEvent = (i: number) => Math.floor(i / 46) * 50 + 4 + (i % 46);
const bidIndex = (n: number) => Math.floor(n / 50) * 46 + (n % 50) - 4;

sourceConformance('nexmarkSource (bids)', {
  order: 'total',
  badRecords: noBadRecords,
  outage: noOutage,
  async create(ctx) {
    const eventsPerTrigger =
      ctx.testCase === 'largeBatch' ? Math.ceil((ctx.sizes.largeBatch * 50) / 46) + 50 : 200;
    return {
      source: () =>
        nexmarkSource({
          name: 'bids',
          kind: 'bid',
          eventsPerSecond: 1000,
          baseTime: 0,
          eventsPerTrigger,
          chunkEvents: 7_000,
        }),
      index: (row: Bid) => bidIndex(row.dateTime),
      expectedRow: (i) => {
        const e = generateEvent(bidEvent(i), config);
        if (e.kind !== 'bid') throw new Error(`event ${bidEvent(i)} is a ${e.kind}, not a bid`);
        return e.bid;
      },
    };
  },
});
