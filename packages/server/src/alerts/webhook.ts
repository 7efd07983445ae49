/**
 * Webhook notifications for alerts, delivered off the query's path.
 *
 *   alert event ─▶ enqueue (never waits) ─▶ per-webhook queue (bounded; full → drop oldest, counted)
 *                                              │ one request at a time, in order
 *                                              ▼
 *                                   POST (timeout) ── 2xx ──▶ sent
 *                                        │ network error / timeout / 408 / 429 / 5xx
 *                                        ▼
 *                             wait backoff (base × 2^attempt, capped, ±20% jitter), retry
 *                             up to maxAttempts, then give up (logged, counted as failed)
 *                             other 4xx: give up at once (the request itself is wrong)
 *
 * Bodies: `slack` — Slack-compatible `{ text, blocks }` (incoming webhooks, Mattermost,
 * Rocket.Chat); `json` — the alert event as JSON (`AlertNotification`).
 */
import { userError } from '../util/errors.ts';
import { parseDuration } from '../util/durations.ts';

export type WebhookFormat = 'slack' | 'json';

export interface WebhookOptions {
  readonly url: string;
  /** Default 'json'. */
  readonly format?: WebhookFormat;
  /** Extra request headers (e.g. an Authorization header for your receiver). Never shown by the API. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Per-request timeout; default '5 seconds'. */
  readonly timeout?: string | number;
  /** Attempts per notification, first included; default 5. */
  readonly maxAttempts?: number;
  /** First retry delay; doubles per attempt up to maxBackoff. Default '500 ms'. */
  readonly backoff?: string | number;
  /** Default '30 seconds'. */
  readonly maxBackoff?: string | number;
  /** Notifications waiting per webhook before the oldest are dropped; default 1,000. */
  readonly queueSize?: number;
}

export interface Webhook {
  readonly kind: 'webhook';
  readonly url: string;
  readonly format: WebhookFormat;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  readonly queueSize: number;
  /** The URL as shown by the API and metrics: scheme, host and port only (paths of chat webhooks are secrets). */
  readonly display: string;
}

/** A webhook target for `notify: [webhook({ url, format: 'slack' })]`. */
export function webhook(options: WebhookOptions): Webhook {
  if (!options || typeof options !== 'object') {
    throw userError(
      'INVALID_OPTIONS',
      "webhook: give an options object, e.g. { url: 'https://…', format: 'slack' }",
    );
  }
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw userError(
      'INVALID_OPTIONS',
      `webhook: url must be an absolute http(s) URL, got a value that is not a URL`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw userError('INVALID_OPTIONS', `webhook: url must use http or https, got ${url.protocol}`);
  }
  const format = options.format ?? 'json';
  if (format !== 'slack' && format !== 'json') {
    throw userError(
      'INVALID_OPTIONS',
      `webhook: format must be 'slack' or 'json', got ${JSON.stringify(format)}`,
    );
  }
  const int = (name: string, v: unknown, dflt: number, min: number) => {
    const n = v === undefined ? dflt : v;
    if (!(typeof n === 'number' && Number.isInteger(n) && n >= min)) {
      throw userError('INVALID_OPTIONS', `webhook: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
    }
    return n;
  };
  return {
    kind: 'webhook',
    url: url.href,
    format,
    headers: { ...(options.headers ?? {}) },
    timeoutMs: parseDuration(options.timeout ?? 5_000, 'webhook: timeout'),
    maxAttempts: int('maxAttempts', options.maxAttempts, 5, 1),
    backoffMs: parseDuration(options.backoff ?? 500, 'webhook: backoff'),
    maxBackoffMs: parseDuration(options.maxBackoff ?? 30_000, 'webhook: maxBackoff'),
    queueSize: int('queueSize', options.queueSize, 1_000, 1),
    display: `${url.protocol}//${url.host}/…`,
  };
}

export interface DispatcherEvents {
  sent(hook: Webhook): void;
  retried(hook: Webhook, attempt: number, reason: string): void;
  failed(hook: Webhook, reason: string): void;
  dropped(hook: Webhook): void;
}

interface Job {
  readonly body: string;
  readonly description: string;
}

class WebhookQueue {
  private readonly jobs: Job[] = [];
  private running = false;
  private closed = false;
  private readonly abort = new AbortController();
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly hook: Webhook,
    private readonly events: DispatcherEvents,
  ) {}

  get pending(): number {
    return this.jobs.length + (this.running ? 1 : 0);
  }

  enqueue(job: Job): void {
    if (this.closed) return;
    this.jobs.push(job);
    while (this.jobs.length > this.hook.queueSize) {
      this.jobs.shift();
      this.events.dropped(this.hook);
    }
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.jobs.length > 0 && !this.closed) await this.deliver(this.jobs.shift()!);
    } finally {
      this.running = false;
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of w) r();
    }
  }

  private async deliver(job: Job): Promise<void> {
    const h = this.hook;
    for (let attempt = 1; ; attempt++) {
      let reason: string;
      let retryable: boolean;
      try {
        const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(h.timeoutMs)]);
        const res = await fetch(h.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'millrace-alerts', ...h.headers },
          body: job.body,
          signal,
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.events.sent(h);
          return;
        }
        reason = `HTTP ${res.status}`;
        retryable = res.status === 408 || res.status === 429 || res.status >= 500;
      } catch (e) {
        if (this.closed) return;
        const err = e as Error;
        reason = err.name === 'TimeoutError' ? `no answer within ${h.timeoutMs} ms` : err.message;
        retryable = true;
      }
      if (!retryable || attempt >= h.maxAttempts) {
        this.events.failed(h, `${job.description}: ${reason} (attempt ${attempt} of ${h.maxAttempts})`);
        return;
      }
      this.events.retried(h, attempt, reason);
      const base = Math.min(h.maxBackoffMs, h.backoffMs * 2 ** (attempt - 1));
      await sleep(base * (0.8 + Math.random() * 0.4), this.abort.signal);
      if (this.closed) return;
    }
  }

  /** Resolves once the queue is empty or `ms` passed. */
  async drain(ms: number): Promise<void> {
    if (!this.running && this.jobs.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((r) => this.idleWaiters.push(r)),
      new Promise<void>((r) => (timer = setTimeout(r, ms))),
    ]);
    clearTimeout(timer);
  }

  close(): void {
    this.closed = true;
    this.jobs.length = 0;
    this.abort.abort();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** One queue per webhook target; `send` never waits. */
export class WebhookDispatcher {
  private readonly queues = new Map<string, WebhookQueue>();

  constructor(private readonly events: DispatcherEvents) {}

  send(hook: Webhook, body: unknown, description: string): void {
    const key = `${hook.format} ${hook.url}`;
    let q = this.queues.get(key);
    if (!q) {
      q = new WebhookQueue(hook, this.events);
      this.queues.set(key, q);
    }
    q.enqueue({ body: JSON.stringify(body), description });
  }

  get pending(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.pending;
    return n;
  }

  /** Try to deliver what is queued within `ms` (at shutdown), then stop everything. */
  async close(ms = 2_000): Promise<void> {
    const deadline = Date.now() + ms;
    for (const q of this.queues.values()) await q.drain(Math.max(0, deadline - Date.now()));
    for (const q of this.queues.values()) q.close();
  }
}
