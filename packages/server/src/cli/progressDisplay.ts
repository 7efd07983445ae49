/**
 * Progress of finite queries (Trigger.once / availableNow — backfills) while
 * `millrace run` works: rows processed, rate, what remains and an ETA.
 *
 *   tty    a block of status lines at the bottom of stderr, redrawn every second;
 *          log lines are written above it (StderrMux clears and redraws the block)
 *   plain  one text line per query every `intervalMs` (10 s), and one when it ends
 *
 * "Remaining" is the sources' lag: latest available offset − the last batch's end
 * offset (sources that report `latestOffset` with numeric offsets; otherwise "?").
 * The ETA divides it by the rate at which end offsets advanced over the last ~10 s,
 * so both are in the source's own offset units.
 */
import type { QueryEntry, QueryRegistry } from '../queries/QueryRegistry.ts';
import { offsetAdvance, sourceLag } from '../queries/lag.ts';
import { formatDuration } from '../util/durations.ts';
import { fmtNumber } from './args.ts';

/** Owns stderr: log lines go above the live status block. */
export class StderrMux {
  private block: string[] = [];
  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    readonly tty = Boolean(process.stderr.isTTY),
  ) {}

  private clear(): void {
    if (!this.tty || this.block.length === 0) return;
    this.out.write(`\x1b[${this.block.length}A\x1b[0J`);
  }

  private draw(): void {
    if (!this.tty || this.block.length === 0) return;
    const width = (this.out.columns ?? 120) - 1;
    this.out.write(this.block.map((l) => (l.length > width ? l.slice(0, width) : l)).join('\n') + '\n');
  }

  /** A log line (ends with \n). */
  write(line: string): void {
    this.clear();
    this.out.write(line);
    this.draw();
  }

  /** Replace the status block (TTY only). */
  status(lines: string[]): void {
    this.clear();
    this.block = lines;
    this.draw();
  }
}

interface Sample {
  readonly t: number;
  readonly rows: number;
  readonly position: number | null;
}

interface Track {
  readonly samples: Sample[];
  readonly startPosition: number | null;
  lastPlain: number;
  reportedEnd: boolean;
}

export type ProgressMode = 'auto' | 'tty' | 'plain' | 'off';

export class ProgressDisplay {
  private readonly tracks = new Map<string, Track>();
  private timer: NodeJS.Timeout | undefined;
  private readonly tty: boolean;

  constructor(
    private readonly registry: QueryRegistry,
    private readonly mux: StderrMux,
    mode: Exclude<ProgressMode, 'off'>,
    private readonly intervalMs = 10_000,
  ) {
    this.tty = mode === 'tty' || (mode === 'auto' && mux.tty);
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.tty ? 1_000 : Math.min(1_000, this.intervalMs));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.tick(true);
    if (this.tty) this.mux.status([]);
  }

  private finite(e: QueryEntry): boolean {
    const k = e.handle?.trigger.kind;
    return k === 'once' || k === 'availableNow';
  }

  private position(e: QueryEntry): number | null {
    const sources = e.recent.last()?.sources ?? [];
    let total: number | null = null;
    for (const s of sources) {
      const p = offsetAdvance(null, s.endOffset);
      if (p !== null) total = (total ?? 0) + p;
    }
    return total;
  }

  private line(e: QueryEntry, t: Track, now: number): string {
    const last = t.samples.at(-1);
    const first = t.samples.find((s) => s.t >= now - 10_000) ?? t.samples[0];
    const dt = last && first ? (last.t - first.t) / 1000 : 0;
    const rate = dt > 0 ? (last!.rows - first!.rows) / dt : (e.history.latest()?.processedRowsPerSecond ?? 0);
    const remaining = sourceLag(e.recent.last()?.sources ?? []);
    const posRate =
      dt > 0 && last?.position != null && first?.position != null
        ? (last.position - first.position) / dt
        : null;
    let eta = '?';
    if (e.health !== 'active') eta = e.health === 'failed' ? 'failed' : 'done';
    else if (remaining === 0) eta = 'finishing';
    else if (remaining !== null && posRate) eta = formatDuration((remaining / posRate) * 1000);
    let pct = '';
    if (remaining !== null && last?.position != null && t.startPosition !== null) {
      const done = last.position - t.startPosition;
      if (done + remaining > 0) pct = ` ${Math.floor((100 * done) / (done + remaining))}%`;
    }
    const batch = e.history.latest()?.batchId;
    return (
      `${e.name}${pct}  batch ${batch ?? '-'}  ${fmtNumber(e.totalInputRows)} rows  ` +
      `${fmtNumber(Math.round(rate))} rows/s  ${remaining === null ? '?' : fmtNumber(remaining)} left  ETA ${eta}`
    );
  }

  tick(final = false): void {
    const now = Date.now();
    const lines: string[] = [];
    for (const e of this.registry.list()) {
      if (!this.finite(e)) continue;
      let t = this.tracks.get(e.id + e.runId);
      if (!t) {
        t = { samples: [], startPosition: this.position(e), lastPlain: now, reportedEnd: false };
        this.tracks.set(e.id + e.runId, t);
      }
      if (e.health === 'active' || !t.reportedEnd) {
        t.samples.push({ t: now, rows: e.totalInputRows, position: this.position(e) });
        while (t.samples.length > 2 && t.samples[0]!.t < now - 15_000) t.samples.shift();
      }
      const text = this.line(e, t, now);
      if (this.tty) {
        if (e.health === 'active') lines.push(text);
        else if (!t.reportedEnd) {
          t.reportedEnd = true;
          this.mux.write(`${text}\n`);
        }
      } else if (e.health !== 'active') {
        if (!t.reportedEnd) {
          t.reportedEnd = true;
          this.mux.write(`millrace progress: ${text}\n`);
        }
      } else if (final || now - t.lastPlain >= this.intervalMs) {
        t.lastPlain = now;
        this.mux.write(`millrace progress: ${text}\n`);
      }
    }
    if (this.tty) this.mux.status(final ? [] : lines);
  }
}
