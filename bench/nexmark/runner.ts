/**
 * One measurement in its own process, so peak RSS and CPU time belong to this run:
 *   node --import tsx bench/nexmark/runner.ts <query> <baseline|engine> <options as JSON>
 * Prints one JSON line (a Measurement) on stdout; everything else goes to stderr.
 */
import { loadQuery } from './queries.ts';
import type { RunOptions, RunResult } from './query.ts';

export interface Measurement extends RunResult {
  readonly mode: 'baseline' | 'engine';
  readonly wallSeconds: number;
  readonly cpuSeconds: number;
  readonly userSeconds: number;
  readonly systemSeconds: number;
  readonly peakRssBytes: number;
}

async function main(): Promise<void> {
  const [queryName, mode, json] = process.argv.slice(2);
  if (!queryName || (mode !== 'baseline' && mode !== 'engine') || !json) {
    throw new Error('usage: runner.ts <query> <baseline|engine> <options-json>');
  }
  const options = JSON.parse(json) as RunOptions;
  const query = await loadQuery(queryName);
  if (mode === 'engine') await import('millrace'); // load the engine before the clock starts

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = mode === 'baseline' ? await query.baseline(options) : await query.engine(options);
  const wallSeconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const m: Measurement = {
    mode,
    ...result,
    wallSeconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    userSeconds: cpu.user / 1e6,
    systemSeconds: cpu.system / 1e6,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  process.stdout.write(JSON.stringify(m) + '\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
