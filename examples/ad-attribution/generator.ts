/**
 * Ad traffic, deterministic by seed: impressions of a few ads, and the clicks some of them get.
 *
 *   impression  impAt uniform over the run; ~`impressionsPerMinute` per minute; a random ad and user
 *   click       for a share of impressions (per ad: `clickRate`), one click at impAt + delay:
 *                 most within [1 s, 10 min] (attributable), `unattributableShare` of them 10–15 min
 *                 after the impression (too late to count), `skewedShare` 1–30 s before it (clock
 *                 skew: not attributable either)
 *   arrival     event time + up to `disorderMs` (out of order, within the watermark delay), and for
 *               a few events (`lateShare`, `lateClickShare`) `lateByMs` more (1–20 min: a phone
 *               that was offline): most arrive after the watermark passed them
 *
 * Only what has *arrived* within the run's `minutes` is part of it (a click that would arrive
 * after the end has not happened yet). The run is cut into one-minute blocks of arrival time;
 * block m holds the events arriving in minute m, in arrival order. A source's offset is a block
 * number, so a batch is "the next k minutes of traffic".
 */
import { prng } from 'millrace/testing';
export interface Impression {
  impressionId: string;
  adId: number;
  userId: number;
  /** Event time, epoch ms. */
  impAt: number;
}

export interface Click {
  clickId: string;
  impressionId: string;
  /** Event time, epoch ms. */
  clickAt: number;
}

export interface Ad {
  readonly adId: number;
  readonly campaign: string;
  /** Micro-dollars (integers, so sums are exact). */
  readonly costPerImpression: number;
  /** Share of this ad's impressions that get a click. */
  readonly clickRate: number;
}

/** Three campaigns of two ads each; the campaigns table (attribution.ts) is made from this list. */
export const ADS: readonly Ad[] = [
  { adId: 101, campaign: 'spring-sale', costPerImpression: 2_500, clickRate: 0.3 },
  { adId: 102, campaign: 'spring-sale', costPerImpression: 2_500, clickRate: 0.22 },
  { adId: 201, campaign: 'running-shoes', costPerImpression: 4_000, clickRate: 0.18 },
  { adId: 202, campaign: 'running-shoes', costPerImpression: 3_500, clickRate: 0.12 },
  { adId: 301, campaign: 'brand-video', costPerImpression: 1_200, clickRate: 0.06 },
  { adId: 302, campaign: 'brand-video', costPerImpression: 1_200, clickRate: 0.04 },
];

export interface TrafficConfig {
  readonly seed: number;
  /** Epoch ms where the run starts (a multiple of 5 minutes keeps the windows tidy). */
  readonly baseTime: number;
  /** Minutes of arrival time in the run (= blocks). */
  readonly minutes: number;
  readonly impressionsPerMinute: number;
  readonly users: number;
  /** Share of clicks that come 10–15 minutes after their impression. */
  readonly unattributableShare: number;
  /** Share of clicks stamped 1–30 s before their impression (clock skew; not attributable either). */
  readonly skewedShare: number;
  /** Arrival delay, uniform in [0, disorderMs). */
  readonly disorderMs: number;
  /** Share of impressions, and of clicks, that arrive late; how much later (uniform in the range). */
  readonly lateShare: number;
  readonly lateClickShare: number;
  readonly lateByMs: readonly [number, number];
}

export const DEFAULT_TRAFFIC: TrafficConfig = {
  seed: 7,
  baseTime: Date.UTC(2025, 2, 1, 9, 0),
  minutes: 45,
  impressionsPerMinute: 40,
  users: 2_000,
  unattributableShare: 0.1,
  skewedShare: 0.04,
  disorderMs: 20_000,
  lateShare: 0.015,
  lateClickShare: 0.08,
  lateByMs: [60_000, 20 * 60_000],
};

const MINUTE = 60_000;

export interface Traffic {
  /** Every impression that arrived in the run, in arrival order. */
  readonly impressions: readonly Impression[];
  readonly clicks: readonly Click[];
  /** Per block (minute of arrival): its impressions and clicks, in arrival order. */
  readonly blocks: readonly { readonly impressions: Impression[]; readonly clicks: Click[] }[];
  /** The ids of the events given extra lateness (late or not depends on the watermark). */
  readonly delayed: ReadonlySet<string>;
}

export function generateTraffic(cfg: TrafficConfig = DEFAULT_TRAFFIC): Traffic {
  const rnd = prng(cfg.seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const end = cfg.baseTime + cfg.minutes * MINUTE;
  const delayed = new Set<string>();
  const arrivalOf = (id: string, at: number, lateShare: number) => {
    let a = at + Math.floor(rnd() * cfg.disorderMs);
    if (rnd() < lateShare) {
      a += int(cfg.lateByMs[0], cfg.lateByMs[1]);
      delayed.add(id);
    }
    return a;
  };
  type Staged<E> = { e: E; arrival: number; seq: number };
  const imps: Staged<Impression>[] = [];
  const clicks: Staged<Click>[] = [];
  const n = cfg.minutes * cfg.impressionsPerMinute;
  for (let i = 0; i < n; i++) {
    const impressionId = `imp-${i}`;
    const ad = ADS[int(0, ADS.length - 1)]!;
    const impAt = cfg.baseTime + Math.floor(rnd() * cfg.minutes * MINUTE);
    imps.push({
      e: { impressionId, adId: ad.adId, userId: int(1, cfg.users), impAt },
      arrival: arrivalOf(impressionId, impAt, cfg.lateShare),
      seq: i,
    });
    if (rnd() >= ad.clickRate) continue;
    const r = rnd();
    // Mostly quick clicks, some after a while, a few after the 10-minute attribution range, and a
    // few stamped before their impression (the click tracker's clock is behind the ad server's).
    const delay =
      r < cfg.skewedShare
        ? int(-30_000, -1_000)
        : r < cfg.skewedShare + cfg.unattributableShare
          ? int(10 * MINUTE + 1, 15 * MINUTE)
          : r < 0.7
            ? int(1_000, MINUTE)
            : int(MINUTE, 10 * MINUTE);
    const clickId = `clk-${i}`;
    const clickAt = impAt + delay;
    clicks.push({
      e: { clickId, impressionId, clickAt },
      arrival: arrivalOf(clickId, clickAt, cfg.lateClickShare),
      seq: i,
    });
  }
  const inRun = <E>(list: Staged<E>[]) =>
    list.filter((x) => x.arrival < end).sort((a, b) => a.arrival - b.arrival || a.seq - b.seq);
  const impsIn = inRun(imps);
  const clicksIn = inRun(clicks);
  const blocks = Array.from({ length: cfg.minutes }, () => ({
    impressions: [] as Impression[],
    clicks: [] as Click[],
  }));
  const blockOf = (arrival: number) => blocks[Math.floor((arrival - cfg.baseTime) / MINUTE)]!;
  for (const x of impsIn) blockOf(x.arrival).impressions.push(x.e);
  for (const x of clicksIn) blockOf(x.arrival).clicks.push(x.e);
  return {
    impressions: impsIn.map((x) => x.e),
    clicks: clicksIn.map((x) => x.e),
    blocks,
    delayed,
  };
}
