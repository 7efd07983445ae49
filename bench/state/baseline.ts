/**
 * The plain-JS baseline for `npm run bench -- state`: the same traffic and aggregation (count and
 * sum per user) in one `Map<number, [count, sum]>` in a loop, no engine, no durability. Prints one
 * JSON line: events/s over the run and over its last 10%, heap bytes per key.
 * args: <events>
 */
import { amountOf, userOf } from './traffic.ts';

const events = Number(process.argv[2]);
const heap0 = process.memoryUsage().heapUsed;
const map = new Map<number, [number, number]>();
const t0 = performance.now();
const lastStart = Math.floor(events * 0.9);
let tLast = t0;
for (let i = 0; i < events; i++) {
  if (i === lastStart) tLast = performance.now();
  const u = userOf(i);
  const g = map.get(u);
  if (g === undefined) map.set(u, [1, amountOf(i)]);
  else {
    g[0]++;
    g[1] += amountOf(i);
  }
}
const t1 = performance.now();
process.stdout.write(
  `${JSON.stringify({
    keys: map.size,
    eventsPerSecond: events / ((t1 - t0) / 1000),
    eventsPerSecondEnd: (events - lastStart) / ((t1 - tLast) / 1000),
    heapBytesPerKey: (process.memoryUsage().heapUsed - heap0) / map.size,
    rssBytes: process.memoryUsage.rss(),
  })}\n`,
);
