/**
 * Where an agent's numbers come from.
 *
 *   OsSampler      this machine: CPU utilisation from the change of os.cpus() times between two
 *                  samples, memory from os.totalmem()/os.freemem()
 *   simulate()     --hosts N: host i reports this machine's reading scaled and shifted by its own
 *                  factors, plus noise — seeded functions of (seed, host, time), so N agents differ
 *   fakeSample()   --fake: a seeded function of (seed, host, time) alone — no OS reading, so a
 *                  test can compute the same samples independently
 *
 * Seeded values come from a hash of the inputs (no hidden generator state): the sample of a
 * host at a time is the same whatever order or process produces it.
 */
import * as os from 'node:os';
import { clampPercent, round2, type MetricSample } from './metrics.ts';
import type { HotSpell } from './options.ts';

/** A uniform number in [0, 1) from the inputs (FNV-1a over the text, then a murmur3 finaliser). */
export function unit(...parts: readonly (string | number)[]): number {
  const text = parts.join('\u0001');
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

/** The ids of N agents: the name itself for one, `<name>-1` … `<name>-N` for several. */
export function hostIds(name: string, count: number): string[] {
  return count === 1 ? [name] : Array.from({ length: count }, (_, i) => `${name}-${i + 1}`);
}

/** The hot spell covering `time` for this host, if any (times relative to `startMs`). */
function isHot(hot: readonly HotSpell[], host: string, time: number, startMs: number): boolean {
  return hot.some((h) => h.host === host && time >= startMs + h.fromMs && time < startMs + h.toMs);
}

/** A hot host's CPU: 92–100 %. */
function hotCpu(seed: number, host: string, time: number): number {
  return round2(92 + 8 * unit(seed, host, time, 'hot'));
}

/**
 * The generated sample of `host` at `time` (--fake). CPU is a slow wave around a per-host base
 * (20–60 %, amplitude 10–25 %, period 2–10 minutes) plus ±4 % noise, so it stays below 90 %
 * except in a hot spell; memory a slower wave around 30–70 %. Two decimals.
 */
export function fakeSample(
  seed: number,
  host: string,
  time: number,
  hot: readonly HotSpell[] = [],
  startMs = 0,
): MetricSample {
  const base = 20 + 40 * unit(seed, host, 'base');
  const amp = 10 + 15 * unit(seed, host, 'amp');
  const period = 120_000 + 480_000 * unit(seed, host, 'period');
  const phase = 2 * Math.PI * unit(seed, host, 'phase');
  const wave = Math.sin((2 * Math.PI * time) / period + phase);
  const cpu = isHot(hot, host, time, startMs)
    ? hotCpu(seed, host, time)
    : round2(clampPercent(base + amp * wave + 8 * (unit(seed, host, time, 'cpu') - 0.5)));
  const memBase = 30 + 40 * unit(seed, host, 'mem');
  const memWave = Math.sin((2 * Math.PI * time) / (3 * period) + phase);
  const mem = round2(clampPercent(memBase + 5 * memWave + 2 * (unit(seed, host, time, 'mem') - 0.5)));
  return { host, time, cpu, mem, source: 'agent-fake' };
}

/** What this machine measured: CPU % since the previous reading (null on the first), memory %. */
export interface OsReading {
  readonly cpu: number | null;
  readonly mem: number;
}

/** CPU times summed over all cores: busy (user + nice + sys + irq) and total (busy + idle). */
export function cpuTimes(cpus: readonly os.CpuInfo[] = os.cpus()): { busy: number; total: number } {
  let busy = 0;
  let idle = 0;
  for (const c of cpus) {
    busy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
    idle += c.times.idle;
  }
  return { busy, total: busy + idle };
}

/** Utilisation between two readings of cpuTimes(), 0–100 %; null when no time passed. */
export function cpuUtilisation(
  prev: { busy: number; total: number },
  next: { busy: number; total: number },
): number | null {
  const total = next.total - prev.total;
  if (!(total > 0)) return null;
  return clampPercent(((next.busy - prev.busy) / total) * 100);
}

/** Samples this machine. The first read() has cpu = null unless a previous reading exists. */
export class OsSampler {
  private prev = cpuTimes();

  read(): OsReading {
    const next = cpuTimes();
    const cpu = cpuUtilisation(this.prev, next);
    this.prev = next;
    const total = os.totalmem();
    return {
      cpu: cpu === null ? null : round2(cpu),
      mem: round2(clampPercent(((total - os.freemem()) / total) * 100)),
    };
  }
}

/**
 * Host `host`'s sample from this machine's reading (--hosts N without --fake): the reading scaled
 * by a fixed factor per host (CPU ×0.6–1.4, memory ×0.7–1.3) plus, for CPU, a fixed 0–15 % and
 * ±3 % noise per sample — so hosts differ and none sits at 0 % on an idle machine. One host
 * alone reports the reading as is.
 */
export function simulate(
  reading: OsReading,
  seed: number,
  host: string,
  time: number,
  options: { readonly alone: boolean; readonly hot?: readonly HotSpell[]; readonly startMs?: number },
): MetricSample {
  const hot = options.hot ?? [];
  if (isHot(hot, host, time, options.startMs ?? 0)) {
    return { host, time, cpu: hotCpu(seed, host, time), mem: reading.mem, source: 'agent-sim' };
  }
  if (options.alone) return { host, time, cpu: reading.cpu, mem: reading.mem, source: 'agent' };
  const cpu =
    reading.cpu === null
      ? null
      : round2(
          clampPercent(
            reading.cpu * (0.6 + 0.8 * unit(seed, host, 'cpu-scale')) +
              15 * unit(seed, host, 'cpu-offset') +
              6 * (unit(seed, host, time, 'n') - 0.5),
          ),
        );
  const mem = round2(clampPercent(reading.mem * (0.7 + 0.6 * unit(seed, host, 'mem-scale'))));
  return { host, time, cpu, mem, source: 'agent-sim' };
}
