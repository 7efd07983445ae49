/**
 * Child process of lmdb-5m-keys.slow.test.ts (run as `node
 * --max-old-space-size=1024 --import tsx lmdb-5m-keys.child.ts <stateDir>`):
 * an aggregation-like workload on the LMDB store — KEYS distinct groups
 * (default 5,000,000) inserted over VERSIONS batches, each batch also
 * reading and updating some older groups, one commit per batch, cleanup
 * keeping the last 2 versions; then every key checked. Prints one JSON line
 * `RESULT {...}` with the figures. Environment: KEYS, VERSIONS, UPDATES
 * (older groups updated per batch), CHUNK (maxKeysPerTransaction).
 */
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { lmdbStateStore } from '../../src/state/index.ts';

const stateDir = process.argv[2];
if (stateDir === undefined) throw new Error('usage: lmdb-5m-keys.child.ts <stateDir>');
const KEYS = Number(process.env.KEYS ?? 5_000_000);
const VERSIONS = Number(process.env.VERSIONS ?? 10);
const UPDATES_PER_BATCH = Number(process.env.UPDATES ?? 50_000);
const perBatch = Math.ceil(KEYS / VERSIONS);

/** A bijection on 32-bit integers: distinct keys in a scattered (B-tree-unfriendly) order. */
function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}
const keyOf = (i: number): string => `["user-${mix(i).toString(36)}",${i % 1000}]`;

const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MiB`;
/** RSS of the LMDB data file mappings vs everything else (Linux only). */
function rssSplit(): string {
  let txt: string;
  try {
    txt = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return '';
  }
  let mapped = 0;
  let other = 0;
  let inDataFile = false;
  for (const line of txt.split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header !== null) {
      inDataFile = (header[1] ?? '').endsWith('data.mdb');
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null) {
      if (inDataFile) mapped += Number(rss[1]) * 1024;
      else other += Number(rss[1]) * 1024;
    }
  }
  return ` (data.mdb mapped ${mb(mapped)}, other ${mb(other)})`;
}

const log = (msg: string): void => {
  const m = process.memoryUsage();
  process.stdout.write(`${msg}: rss=${mb(m.rss)}${rssSplit()} heap=${mb(m.heapUsed)}/${mb(m.heapTotal)}\n`);
};

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await dirSize(p);
    else total += (await fsp.stat(p)).blocks * 512; // allocated, not apparent size
  }
  return total;
}

const provider = lmdbStateStore(
  process.env.CHUNK ? { maxKeysPerTransaction: Number(process.env.CHUNK) } : {},
);
const loc = { stateDir, operatorId: 'agg', partition: 0 };
const t0 = performance.now();
let inserted = 0;
let version = 0;
let commitMs = 0;
for (let b = 0; b < VERSIONS; b++) {
  const tb = performance.now();
  const store = await provider.open({ ...loc, version });
  // Update some older groups (get + put, like an aggregation touching existing keys).
  for (let u = 0; u < Math.min(UPDATES_PER_BATCH, inserted); u++) {
    const i = mix(u * 7 + b) % inserted;
    const k = keyOf(i);
    const g = store.get(k) as [number, number] | undefined;
    if (g === undefined) throw new Error(`key ${k} (#${i}) missing in batch ${b}`);
    store.put(k, [g[0] + 1, g[1] + i]);
  }
  // New groups.
  const end = Math.min(KEYS, inserted + perBatch);
  for (let i = inserted; i < end; i++) {
    const k = keyOf(i);
    if (store.get(k) !== undefined) throw new Error(`key ${k} (#${i}) should be new`);
    store.put(k, [1, i]);
  }
  inserted = end;
  const tc = performance.now();
  version = await store.commit();
  commitMs += performance.now() - tc;
  await provider.cleanup({ ...loc, minVersionToKeep: Math.max(0, version - 2) });
  log(
    `batch ${b}: ${inserted} keys, version ${version}, batch ${((performance.now() - tb) / 1000).toFixed(1)} s ` +
      `(commit ${((performance.now() - tc) / 1000).toFixed(1)} s)`,
  );
}
const writeSeconds = (performance.now() - t0) / 1000;

// Check: numKeys, a sample of values, and a full ordered scan.
const tr = performance.now();
const store = await provider.open({ ...loc, version });
const numKeys = store.metrics().numKeys;
for (let s = 0; s < 100_000; s++) {
  const i = mix(s * 31 + 5) % KEYS;
  const g = store.get(keyOf(i)) as [number, number] | undefined;
  if (g === undefined || g[0] < 1) throw new Error(`key #${i} missing or wrong: ${JSON.stringify(g)}`);
}
let scanned = 0;
let prev = '';
for (const [k] of store.range()) {
  if (scanned > 0 && !(prev < k)) throw new Error(`range out of order: ${prev} then ${k}`);
  prev = k;
  scanned++;
}
store.abort();
const readSeconds = (performance.now() - tr) / 1000;
log(`read check: ${numKeys} keys, ${scanned} scanned in ${readSeconds.toFixed(1)} s`);
const diskBytes = await dirSize(stateDir);
await provider.close();

const result = {
  keys: KEYS,
  versions: VERSIONS,
  numKeys,
  scanned,
  writeSeconds,
  commitSeconds: commitMs / 1000,
  readSeconds,
  keysPerSecond: Math.round(KEYS / writeSeconds),
  peakRssBytes: process.resourceUsage().maxRSS * 1024,
  diskBytes,
};
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
