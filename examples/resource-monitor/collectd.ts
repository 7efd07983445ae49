/**
 * collectd input: the JSON that collectd's write_http plugin POSTs (`Format "JSON"`), turned
 * into metric samples.
 *
 *   collectd ──POST /collectd  [ {values, dstypes, dsnames, time, interval, host, plugin,
 *                                  plugin_instance, type, type_instance}, … ]──▶ parseCollectd
 *        ──▶ samples { host, time, cpu | mem, source: 'collectd' } ──▶ publisher (metrics topic)
 *
 * One value list becomes at most one sample, so no state is kept between requests (write_http
 * splits its buffer over requests wherever it fills up):
 *
 *   plugin  type     type_instance  plugin_instance  sample
 *   cpu     percent  idle           ""               cpu = 100 − value   (ReportByCpu false)
 *   cpu     percent  active         ""               cpu = value         (ReportByState false)
 *   memory  percent  used           ""               mem = value         (ValuesPercentage true)
 *
 * Other value lists are skipped: other CPU states and memory kinds (`user`, `free`, …: expected,
 * counted as `skipped`), and what this endpoint cannot turn into a utilisation on its own —
 * per-CPU values, jiffies (type `cpu`, derive counters), absolute memory in bytes, other plugins
 * (counted as `ignored`, by reason, in the answer). CPU "wait" counts as busy (100 − idle, as
 * collectd's own `active` aggregate does).
 */
import type { FastifyInstance } from 'fastify';
import { MillraceError } from 'millrace';
import { checkSample, clampPercent, type MetricSample } from './metrics.ts';
import type { MetricsPublisher } from './publishers.ts';

export interface CollectdResult {
  readonly samples: MetricSample[];
  /** Value lists that are expected but carry nothing we need (other CPU states, memory kinds). */
  readonly skipped: number;
  /** Value lists we cannot use, by reason (say how to configure collectd). */
  readonly ignored: Record<string, number>;
}

/** A body that is not collectd's JSON: MillraceError COLLECTD_BAD_BODY (answered with 400). */
function badBody(message: string): MillraceError {
  return new MillraceError('COLLECTD_BAD_BODY', message, { domain: 'user' });
}

const REASONS = {
  perCpu: 'per-CPU values (set ReportByCpu false in <Plugin cpu>)',
  jiffies: 'CPU jiffies (set ValuesPercentage true, or ReportByCpu false, in <Plugin cpu>)',
  memoryBytes: 'memory in bytes (set ValuesPercentage true in <Plugin memory>)',
  plugin: 'other plugins',
  noValue: 'value lists without a numeric value',
} as const;

function field(o: Record<string, unknown>, name: string, i: number): string {
  const v = o[name];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw badBody(`value list ${i}: "${name}" must be a string`);
  return v;
}

/**
 * The samples in one write_http JSON body (an array of value lists). Throws COLLECTD_BAD_BODY
 * when the body is not collectd's JSON (not an array, a value list without host/plugin/time).
 */
export function parseCollectd(body: unknown): CollectdResult {
  if (!Array.isArray(body)) {
    throw badBody('expected a JSON array of value lists (collectd write_http with Format "JSON")');
  }
  const samples: MetricSample[] = [];
  const ignored: Record<string, number> = {};
  let skipped = 0;
  const ignore = (why: string) => (ignored[why] = (ignored[why] ?? 0) + 1);
  body.forEach((vl: unknown, i) => {
    if (vl === null || typeof vl !== 'object' || Array.isArray(vl)) {
      throw badBody(`value list ${i} is not an object`);
    }
    const o = vl as Record<string, unknown>;
    const host = field(o, 'host', i);
    const plugin = field(o, 'plugin', i);
    const time = o.time;
    if (host === '' || plugin === '' || typeof time !== 'number' || !Number.isFinite(time)) {
      throw badBody(`value list ${i} needs "host", "plugin" and a numeric "time" (seconds)`);
    }
    const pluginInstance = field(o, 'plugin_instance', i);
    const type = field(o, 'type', i);
    const typeInstance = field(o, 'type_instance', i);
    const values = Array.isArray(o.values) ? o.values : [];
    const value = values[0];
    // collectd sends seconds with millisecond decimals (1795291462.450).
    const timeMs = Math.round(time * 1000);

    if (plugin !== 'cpu' && plugin !== 'memory') return void ignore(REASONS.plugin);
    if (plugin === 'cpu' && type === 'cpu') return void ignore(REASONS.jiffies);
    if (plugin === 'memory' && type === 'memory') return void ignore(REASONS.memoryBytes);
    if (type !== 'percent') return void ignore(REASONS.plugin);
    if (pluginInstance !== '') return void ignore(REASONS.perCpu);
    // NaN gauges are written as null.
    if (typeof value !== 'number' || !Number.isFinite(value)) return void ignore(REASONS.noValue);

    let sample: MetricSample | null = null;
    if (plugin === 'cpu' && typeInstance === 'idle') {
      sample = { host, time: timeMs, cpu: clampPercent(100 - value), mem: null, source: 'collectd' };
    } else if (plugin === 'cpu' && typeInstance === 'active') {
      sample = { host, time: timeMs, cpu: clampPercent(value), mem: null, source: 'collectd' };
    } else if (plugin === 'memory' && typeInstance === 'used') {
      sample = { host, time: timeMs, cpu: null, mem: clampPercent(value), source: 'collectd' };
    }
    if (sample) samples.push(checkSample(sample, 'collectd'));
    else skipped++;
  });
  return { samples, skipped, ignored };
}

export interface CollectdPluginOptions {
  readonly publisher: MetricsPublisher;
  /** Largest body; default 8 MiB (write_http's buffer is 4 KiB by default). */
  readonly bodyLimit?: number;
  /** Called with every result (for logs and tests). */
  readonly onResult?: (r: CollectdResult) => void;
}

/**
 * `POST /collectd` (mount with a prefix if you like): parse, publish, answer
 * `200 { samples, skipped, ignored }` once the samples are stored. A body that is not collectd's
 * JSON gets 400; a target that fails gets 503 (collectd logs it and drops that buffer).
 */
export async function collectdPlugin(app: FastifyInstance, options: CollectdPluginOptions): Promise<void> {
  app.post('/collectd', { bodyLimit: options.bodyLimit ?? 8 * 1024 * 1024 }, async (req, reply) => {
    let result: CollectdResult;
    try {
      result = parseCollectd(req.body);
    } catch (e) {
      if (!(e instanceof MillraceError && e.code === 'COLLECTD_BAD_BODY')) throw e;
      return reply.code(400).send({ error: e.code, message: e.message });
    }
    try {
      await options.publisher.publish(result.samples);
    } catch (e) {
      req.log.error({ err: e }, 'collectd samples not stored');
      return reply.code(503).send({
        error: 'COLLECTD_NOT_STORED',
        message: `the samples could not be stored (${(e as Error).message}); collectd drops this buffer`,
      });
    }
    options.onResult?.(result);
    return { samples: result.samples.length, skipped: result.skipped, ignored: result.ignored };
  });
}
