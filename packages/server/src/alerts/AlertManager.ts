/**
 * Alert rules over a query's result rows (Prometheus-style pending → firing → resolved).
 *
 * Each batch a rule watches (its query's sink, or a named sink) is evaluated per
 * label set — the values of the rule's `labels` columns, e.g. per host. In a batch,
 * the row that decides for a label set is its latest by the rule's `eventTime`
 * column, else its last row. Label sets with no row in a batch keep their state.
 *
 *              condition true                    held for `for`            condition false
 *   (none) ───────────────────▶ pending ─────────────────────────▶ firing ────────────────▶ resolved
 *                                  │ condition false: back to (none)    (notified once)     (notified)
 *
 * `for` is measured on the rule's clock: event time when `eventTime` names a column
 * (the decisive row's event time minus the event time of the first row that held),
 * otherwise batch time (the service clock when the batch's rows reached the rule).
 * `cooldown` is service-clock time: after a label set fired, it does not fire again
 * (notify again) before `cooldown` has passed, even if it resolved in between; while
 * cooling down it stays pending. Webhooks are sent on a queue that never blocks a batch.
 *
 * With a `store` (the service's stateDir) the history, and each rule's instances and
 * cooldowns, survive a restart: the history is loaded at construction, a rule re-registered
 * under the same name with the same condition and labels takes its instances back (a firing
 * alert stays firing and does not notify again), and every batch's changes are written —
 * an event together with its rule's state, synchronously (see state/ServiceState.ts).
 */
import type { Clock, Row } from 'millrace';
import type { Redactor } from '../redact.ts';
import type { RowWatcher, SinkBatch } from '../rows/RowBus.ts';
import { RingBuffer } from '../util/RingBuffer.ts';
import { parseDuration } from '../util/durations.ts';
import { userError, messageOf } from '../util/errors.ts';
import { getPath, toEpochMs, toJsonSafe } from '../util/json.ts';
import type { ServiceState, StoredRuleState } from '../state/ServiceState.ts';
import { compileCondition } from './expression.ts';
import type { Webhook, WebhookDispatcher } from './webhook.ts';

export type Severity = 'info' | 'warning' | 'critical';
const SEVERITIES: readonly Severity[] = ['info', 'warning', 'critical'];

export interface AlertRuleOptions {
  /** Unique among rules. */
  readonly name: string;
  /** Watch the result rows of this query (by name). Give `query` or `sink`. */
  readonly query?: string;
  /** Watch the rows written to this sink (a dashboard sink, or its name). */
  readonly sink?: string | { readonly name: string };
  /** A function of a result row, or an expression such as "cpu > 90" (see expression.ts). */
  readonly condition: ((row: Row) => boolean) | string;
  /** How long the condition must hold before the alert fires; default 0 (at once). */
  readonly for?: string | number;
  /** A timestamp column (e.g. "window.end"): measure `for` in event time instead of batch time. */
  readonly eventTime?: string;
  /** Minimum time between two firings of one label set; default 0. */
  readonly cooldown?: string | number;
  /** Default 'warning'. */
  readonly severity?: Severity;
  /** Columns whose values make one alert per combination (e.g. ['host']). Default: one alert per rule. */
  readonly labels?: readonly string[];
  /**
   * Notification text; `{column}` is replaced by the decisive row's value (`{column|time}`: a
   * timestamp as ISO text; `{column|percent}`: a ratio as a percentage, 0.0219 → 2.19%). Numbers
   * show at most 4 significant digits (0.021937… → 0.02194; integers in full). Default: the rule
   * and its condition.
   */
  readonly summary?: string;
  /**
   * Text of the resolved notification, filled from the row that resolved it (the same `{…}`).
   * Default: "<rule> resolved: <condition> no longer holds" with the labels.
   */
  readonly resolvedSummary?: string;
  readonly notify?: readonly Webhook[];
  /** Default true. */
  readonly enabled?: boolean;
}

export type AlertStatus = 'firing' | 'resolved';

export interface AlertEvent {
  readonly id: number;
  readonly rule: string;
  readonly status: AlertStatus;
  readonly severity: Severity;
  readonly labels: Record<string, string>;
  readonly summary: string;
  readonly query: string | null;
  readonly sink: string | null;
  readonly batchId: number;
  /** The decisive row (redacted). */
  readonly value: unknown;
  /** When the condition started to hold, on the rule's clock (event or batch time). */
  readonly startsAt: string;
  readonly firedAt: string;
  readonly resolvedAt: string | null;
  /** firedAt for a firing event, resolvedAt for a resolved one. */
  readonly time: string;
}

export interface AlertInstanceView {
  readonly rule: string;
  readonly state: 'pending' | 'firing';
  readonly severity: Severity;
  readonly labels: Record<string, string>;
  readonly since: string;
  readonly firedAt: string | null;
  readonly value: unknown;
}

export interface AlertRuleView {
  readonly name: string;
  readonly query: string | null;
  readonly sink: string | null;
  readonly condition: string;
  readonly forMs: number;
  readonly clock: 'event-time' | 'batch-time';
  readonly eventTime: string | null;
  readonly cooldownMs: number;
  readonly severity: Severity;
  readonly labels: string[];
  readonly summary: string | null;
  readonly notify: { readonly kind: 'webhook'; readonly format: string; readonly url: string }[];
  readonly enabled: boolean;
  readonly firing: number;
  readonly pending: number;
  readonly lastEvaluatedAt: string | null;
  readonly evaluationErrors: number;
  readonly lastError: string | null;
}

interface Instance {
  readonly key: string;
  readonly labels: Record<string, string>;
  state: 'pending' | 'firing';
  /** On the rule's clock. */
  since: number;
  firedAtMs: number | null;
  value: unknown;
}

interface Rule {
  readonly name: string;
  readonly query: string | null;
  readonly sink: string | null;
  readonly conditionText: string;
  readonly test: (row: Row) => boolean;
  readonly forMs: number;
  readonly eventTime: string[] | null;
  readonly cooldownMs: number;
  readonly severity: Severity;
  readonly labels: readonly string[];
  readonly summary: string | null;
  readonly resolvedSummary: string | null;
  readonly notify: readonly Webhook[];
  enabled: boolean;
  readonly instances: Map<string, Instance>;
  /** Label set → when it last fired (service clock), for the cooldown. */
  readonly lastFired: Map<string, number>;
  lastEvaluatedMs: number | null;
  errors: number;
  lastError: string | null;
}

export interface AlertManagerOptions {
  readonly clock: Clock;
  readonly redactor: Redactor;
  readonly dispatcher: WebhookDispatcher;
  /** Firing/resolved events kept (default 1,000). */
  readonly historySize?: number;
  /** Label sets tracked per rule (default 10,000). */
  readonly maxInstancesPerRule?: number;
  /** Durable state (history, instances, cooldowns); default: memory only. */
  readonly store?: ServiceState;
  readonly onEvent: (e: AlertEvent) => void;
  readonly onError: (rule: string, message: string) => void;
}

function validate(o: AlertRuleOptions): void {
  if (!o || typeof o !== 'object') {
    throw userError(
      'INVALID_ALERT_RULE',
      "alerts.rule: give an options object, e.g. { name, query, condition: 'cpu > 90' }",
    );
  }
  if (typeof o.name !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(o.name)) {
    throw userError(
      'INVALID_ALERT_RULE',
      `alerts.rule: name must be 1–100 letters, digits, '.', '_' or '-', got ${JSON.stringify(o.name)}`,
    );
  }
  const where = `alert rule "${o.name}"`;
  if ((o.query === undefined) === (o.sink === undefined)) {
    throw userError(
      'INVALID_ALERT_RULE',
      `${where}: give exactly one of query (a query name) or sink (a sink or its name)`,
    );
  }
  if (o.query !== undefined && typeof o.query !== 'string') {
    throw userError('INVALID_ALERT_RULE', `${where}: query must be a query name`);
  }
  if (typeof o.condition !== 'function' && typeof o.condition !== 'string') {
    throw userError(
      'INVALID_ALERT_RULE',
      `${where}: condition must be a function of a row or an expression such as "cpu > 90"`,
    );
  }
  if (o.severity !== undefined && !SEVERITIES.includes(o.severity)) {
    throw userError(
      'INVALID_ALERT_RULE',
      `${where}: severity must be one of ${SEVERITIES.join(', ')}, got ${JSON.stringify(o.severity)}`,
    );
  }
  if (o.labels !== undefined && !(Array.isArray(o.labels) && o.labels.every((l) => typeof l === 'string'))) {
    throw userError('INVALID_ALERT_RULE', `${where}: labels must be an array of column names, e.g. ['host']`);
  }
  if (o.notify !== undefined && !(Array.isArray(o.notify) && o.notify.every((n) => n?.kind === 'webhook'))) {
    throw userError('INVALID_ALERT_RULE', `${where}: notify must be an array of webhook({ url, format })`);
  }
}

/** `{column}` → the row's value; `{column|time}` → a timestamp (epoch ms) as ISO text. */
/** A number for people: integers in full, others to 4 significant digits (no float noise). */
export function formatAlertNumber(v: number): string {
  return Number.isInteger(v) || !Number.isFinite(v) ? String(v) : String(Number(v.toPrecision(4)));
}

export function fill(template: string, row: unknown): string {
  return template.replace(
    /\{([A-Za-z0-9_$.]+)(?:\|(time|percent))?\}/g,
    (m, path: string, format?: string) => {
      const v = getPath(row, path.split('.'));
      if (v === undefined) return m;
      if (format === 'time') {
        const ms = toEpochMs(v);
        return Number.isFinite(ms) ? new Date(ms).toISOString() : String(v);
      }
      if (typeof v === 'number')
        return format === 'percent' ? `${formatAlertNumber(v * 100)}%` : formatAlertNumber(v);
      return typeof v === 'object' && v !== null ? JSON.stringify(toJsonSafe(v)) : String(v);
    },
  );
}

export class AlertManager implements RowWatcher {
  private readonly rules = new Map<string, Rule>();
  private readonly history: RingBuffer<AlertEvent>;
  private nextId = 1;
  private readonly maxInstances: number;

  constructor(private readonly options: AlertManagerOptions) {
    this.history = new RingBuffer(options.historySize ?? 1_000);
    this.maxInstances = options.maxInstancesPerRule ?? 10_000;
    for (const e of (options.store?.alertHistory() ?? []) as AlertEvent[]) {
      this.history.push(e);
      this.nextId = Math.max(this.nextId, e.id + 1);
    }
  }

  /** Events emitted by the evaluation in progress (written with the rule's state). */
  private emitted: AlertEvent[] = [];

  private stateOf(r: Rule): StoredRuleState {
    const red = this.options.redactor;
    return {
      conditionText: r.conditionText,
      labels: [...r.labels],
      instances: [...r.instances.values()].map((i) => ({
        key: i.key,
        labels: i.labels,
        state: i.state,
        since: i.since,
        firedAtMs: i.firedAtMs,
        value: red.redact(toJsonSafe(i.value)),
      })),
      lastFired: [...r.lastFired.entries()],
    };
  }

  /** Write the rule's state and the events emitted since the last save (no store: nothing). */
  private save(r: Rule): void {
    const events = this.emitted;
    this.emitted = [];
    this.options.store?.saveAlerts(r.name, this.stateOf(r), events, this.history.capacity);
  }

  /** Take back a rule's instances and cooldowns from the store, if it is the same rule. */
  private restore(r: Rule): void {
    const s = this.options.store?.rule(r.name);
    if (!s || s.conditionText !== r.conditionText || JSON.stringify(s.labels) !== JSON.stringify(r.labels))
      return;
    for (const i of s.instances) r.instances.set(i.key, { ...i, labels: { ...i.labels } });
    for (const [k, t] of s.lastFired) r.lastFired.set(k, t);
  }

  /** Add a rule; a MillraceError (INVALID_ALERT_RULE, INVALID_ALERT_CONDITION, ALERT_RULE_EXISTS) if it is wrong. */
  rule(options: AlertRuleOptions): AlertRuleView {
    validate(options);
    if (this.rules.has(options.name)) {
      throw userError(
        'ALERT_RULE_EXISTS',
        `an alert rule named "${options.name}" exists already; choose another name`,
      );
    }
    const where = `alert rule "${options.name}"`;
    let test: (row: Row) => boolean;
    let conditionText: string;
    if (typeof options.condition === 'string') {
      const c = compileCondition(options.condition);
      test = (row) => c.test(row as Record<string, unknown>);
      conditionText = c.source;
    } else {
      const fn = options.condition;
      test = (row) => fn(row) === true;
      conditionText = fn.name ? `function ${fn.name}` : 'function';
    }
    const sink =
      options.sink === undefined ? null : typeof options.sink === 'string' ? options.sink : options.sink.name;
    const r: Rule = {
      name: options.name,
      query: options.query ?? null,
      sink,
      conditionText,
      test,
      forMs: parseDuration(options.for ?? 0, `${where}: for`),
      eventTime: options.eventTime ? options.eventTime.split('.') : null,
      cooldownMs: parseDuration(options.cooldown ?? 0, `${where}: cooldown`),
      severity: options.severity ?? 'warning',
      labels: [...(options.labels ?? [])],
      summary: options.summary ?? null,
      resolvedSummary: options.resolvedSummary ?? null,
      notify: [...(options.notify ?? [])],
      enabled: options.enabled ?? true,
      instances: new Map(),
      lastFired: new Map(),
      lastEvaluatedMs: null,
      errors: 0,
      lastError: null,
    };
    // The paths of webhook URLs are secrets: redact them from logs, errors and events from now on.
    for (const hook of r.notify) this.options.redactor.learnUrlPath(hook.url);
    this.restore(r);
    this.rules.set(r.name, r);
    return this.view(r);
  }

  wants(queryName: string, sinkName: string): boolean {
    for (const r of this.rules.values()) if (r.enabled && this.targets(r, queryName, sinkName)) return true;
    return false;
  }

  private targets(r: Rule, queryName: string, sinkName: string): boolean {
    return r.query !== null ? r.query === queryName : r.sink === sinkName;
  }

  onBatch(batch: SinkBatch): void {
    for (const r of this.rules.values()) {
      if (r.enabled && this.targets(r, batch.queryName, batch.sinkName)) this.evaluate(r, batch);
    }
  }

  private evaluate(r: Rule, batch: SinkBatch): void {
    const had = r.instances.size;
    this.evaluateRows(r, batch);
    if (had > 0 || r.instances.size > 0 || this.emitted.length > 0) this.save(r);
  }

  private evaluateRows(r: Rule, batch: SinkBatch): void {
    const now = this.options.clock.now();
    r.lastEvaluatedMs = now;
    // The decisive row per label set: the latest by event time, else the last one.
    const decisive = new Map<string, { row: Row; labels: Record<string, string>; t: number }>();
    for (const row of batch.rows) {
      const labels: Record<string, string> = {};
      for (const l of r.labels) {
        const v = getPath(row, l.split('.'));
        labels[l] =
          v === null || v === undefined
            ? ''
            : typeof v === 'object'
              ? JSON.stringify(toJsonSafe(v))
              : String(v);
      }
      const key = JSON.stringify(r.labels.map((l) => labels[l]));
      const t = r.eventTime ? toEpochMs(getPath(row, r.eventTime)) : now;
      if (!Number.isFinite(t)) continue;
      const prev = decisive.get(key);
      if (!prev || t >= prev.t) decisive.set(key, { row, labels, t });
    }
    for (const [key, { row, labels, t }] of decisive) {
      let holds: boolean;
      try {
        holds = r.test(row);
      } catch (e) {
        r.errors++;
        r.lastError = this.options.redactor.text(messageOf(e));
        this.options.onError(r.name, r.lastError);
        continue;
      }
      let inst = r.instances.get(key);
      if (!holds) {
        if (inst?.state === 'firing') {
          inst.value = row; // the resolved event describes the row that resolved it
          this.resolve(r, inst, batch, now);
        }
        r.instances.delete(key);
        continue;
      }
      if (!inst) {
        if (r.instances.size >= this.maxInstances) {
          r.errors++;
          r.lastError = `more than ${this.maxInstances} label sets: new ones are not tracked`;
          continue;
        }
        inst = { key, labels, state: 'pending', since: t, firedAtMs: null, value: row };
        r.instances.set(key, inst);
      }
      inst.value = row;
      if (inst.state === 'pending' && t - inst.since >= r.forMs) {
        const last = r.lastFired.get(key);
        if (last === undefined || now - last >= r.cooldownMs) this.fire(r, inst, batch, now);
      }
    }
  }

  private event(
    r: Rule,
    inst: Instance,
    batch: SinkBatch,
    status: AlertStatus,
    firedAtMs: number,
    resolvedAtMs: number | null,
  ): AlertEvent {
    const red = this.options.redactor;
    const value = red.redact(toJsonSafe(inst.value));
    const labels = r.labels.length
      ? ` (${Object.entries(inst.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')})`
      : '';
    const summary =
      status === 'firing'
        ? r.summary
          ? fill(r.summary, inst.value)
          : `${r.name}: ${r.conditionText}${labels}`
        : batch.batchId < 0
          ? `${r.name} resolved: the rule was turned off${labels}`
          : r.resolvedSummary
            ? fill(r.resolvedSummary, inst.value)
            : `${r.name} resolved: ${r.conditionText} no longer holds${labels}`;
    return {
      id: this.nextId++,
      rule: r.name,
      status,
      severity: r.severity,
      labels: { ...inst.labels },
      summary: red.text(summary),
      query: batch.queryName || r.query,
      sink: r.sink ?? batch.sinkName,
      batchId: batch.batchId,
      value,
      startsAt: new Date(inst.since).toISOString(),
      firedAt: new Date(firedAtMs).toISOString(),
      resolvedAt: resolvedAtMs === null ? null : new Date(resolvedAtMs).toISOString(),
      time: new Date(resolvedAtMs ?? firedAtMs).toISOString(),
    };
  }

  private fire(r: Rule, inst: Instance, batch: SinkBatch, now: number): void {
    inst.state = 'firing';
    inst.firedAtMs = now;
    r.lastFired.delete(inst.key);
    r.lastFired.set(inst.key, now);
    if (r.lastFired.size > this.maxInstances) r.lastFired.delete(r.lastFired.keys().next().value!);
    this.emit(r, this.event(r, inst, batch, 'firing', now, null));
  }

  private resolve(r: Rule, inst: Instance, batch: SinkBatch, now: number): void {
    this.emit(r, this.event(r, inst, batch, 'resolved', inst.firedAtMs ?? now, now));
  }

  private emit(r: Rule, e: AlertEvent): void {
    this.history.push(e);
    this.emitted.push(e);
    this.options.onEvent(e);
    for (const hook of r.notify) {
      this.options.dispatcher.send(
        hook,
        hook.format === 'slack' ? slackBody(e) : { version: 1, ...e },
        `alert ${e.rule} ${e.status}`,
      );
    }
  }

  /** Turn a rule on or off; turning it off resolves what fires and forgets what is pending. */
  setEnabled(name: string, enabled: boolean): AlertRuleView {
    const r = this.getRule(name);
    if (r.enabled && !enabled) {
      const now = this.options.clock.now();
      for (const inst of r.instances.values()) {
        if (inst.state !== 'firing') continue;
        const batch: SinkBatch = {
          queryId: '',
          queryName: r.query ?? '',
          sinkName: r.sink ?? '',
          batchId: -1,
          outputMode: 'append',
          rows: [],
        };
        this.resolve(r, inst, batch, now);
      }
      r.instances.clear();
      this.save(r);
    }
    r.enabled = enabled;
    return this.view(r);
  }

  private getRule(name: string): Rule {
    const r = this.rules.get(name);
    if (!r) {
      throw userError(
        'ALERT_RULE_NOT_FOUND',
        `no alert rule named "${name}"; rules: ${[...this.rules.keys()].join(', ') || 'none'}`,
      );
    }
    return r;
  }

  listRules(): AlertRuleView[] {
    return [...this.rules.values()].map((r) => this.view(r));
  }

  getRuleView(name: string): AlertRuleView {
    return this.view(this.getRule(name));
  }

  /** Pending and firing instances (firing first). */
  active(): AlertInstanceView[] {
    const out: AlertInstanceView[] = [];
    const red = this.options.redactor;
    for (const r of this.rules.values()) {
      for (const i of r.instances.values()) {
        out.push({
          rule: r.name,
          state: i.state,
          severity: r.severity,
          labels: { ...i.labels },
          since: new Date(i.since).toISOString(),
          firedAt: i.firedAtMs === null ? null : new Date(i.firedAtMs).toISOString(),
          value: red.redact(toJsonSafe(i.value)),
        });
      }
    }
    return out.sort((a, b) => Number(b.state === 'firing') - Number(a.state === 'firing'));
  }

  firingCount(rule: string): number {
    const r = this.rules.get(rule);
    return r ? [...r.instances.values()].filter((i) => i.state === 'firing').length : 0;
  }

  /** Events with id > since (oldest first), at most `limit`; without since, the newest `limit`. */
  historyPage(options: { since?: number; limit: number; rule?: string }): {
    events: AlertEvent[];
    hasMore: boolean;
  } {
    let all = this.history.toArray();
    if (options.rule !== undefined) all = all.filter((e) => e.rule === options.rule);
    if (options.since !== undefined) {
      const since = options.since;
      const after = all.filter((e) => e.id > since);
      return { events: after.slice(0, options.limit), hasMore: after.length > options.limit };
    }
    return { events: all.slice(Math.max(0, all.length - options.limit)), hasMore: false };
  }

  private view(r: Rule): AlertRuleView {
    let firing = 0;
    for (const i of r.instances.values()) if (i.state === 'firing') firing++;
    return {
      name: r.name,
      query: r.query,
      sink: r.sink,
      condition: this.options.redactor.text(r.conditionText),
      forMs: r.forMs,
      clock: r.eventTime ? 'event-time' : 'batch-time',
      eventTime: r.eventTime ? r.eventTime.join('.') : null,
      cooldownMs: r.cooldownMs,
      severity: r.severity,
      labels: [...r.labels],
      summary: r.summary === null ? null : this.options.redactor.text(r.summary),
      notify: r.notify.map((n) => ({ kind: 'webhook' as const, format: n.format, url: n.display })),
      enabled: r.enabled,
      firing,
      pending: r.instances.size - firing,
      lastEvaluatedAt: r.lastEvaluatedMs === null ? null : new Date(r.lastEvaluatedMs).toISOString(),
      evaluationErrors: r.errors,
      lastError: r.lastError,
    };
  }
}

const EMOJI: Record<Severity, string> = {
  info: ':information_source:',
  warning: ':warning:',
  critical: ':rotating_light:',
};

/** A Slack incoming-webhook body: `text` (the fallback) and Block Kit `blocks`. */
export function slackBody(e: AlertEvent): { text: string; blocks: unknown[] } {
  const head =
    e.status === 'firing'
      ? `${EMOJI[e.severity]} [${e.severity.toUpperCase()}] FIRING: ${e.rule}`
      : `:white_check_mark: [${e.severity.toUpperCase()}] RESOLVED: ${e.rule}`;
  const labels = Object.entries(e.labels).map(([k, v]) => `${k}=${v}`);
  const text = `${head}${labels.length ? ` (${labels.join(', ')})` : ''} — ${e.summary}`;
  const where = [e.query ? `query *${e.query}*` : null, `batch ${e.batchId}`, `since ${e.startsAt}`]
    .filter(Boolean)
    .join(' · ');
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${head}*\n${e.summary}` } },
      ...(labels.length
        ? [
            {
              type: 'section',
              fields: Object.entries(e.labels).map(([k, v]) => ({ type: 'mrkdwn', text: `*${k}*\n${v}` })),
            },
          ]
        : []),
      { type: 'context', elements: [{ type: 'mrkdwn', text: where }] },
    ],
  };
}
