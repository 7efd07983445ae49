/** Helpers shared by the server tests (not a test file itself). */
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { StreamingQueryProgress } from 'millrace';
import { MillraceService, type MillraceServiceOptions } from '../src/index.ts';

const dirs: string[] = [];

export function tempDir(prefix = 'millrace-server-'): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Poll until `cond()` holds (fails after `timeoutMs`). */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A service whose JSON log lines are kept in `logs`. */
export function testService(options: MillraceServiceOptions = {}): {
  service: MillraceService;
  logs: string[];
} {
  const logs: string[] = [];
  const service = new MillraceService({
    logLevel: 'debug',
    defaultMetrics: false,
    ...options,
    logDestination: { write: (line) => void logs.push(line) },
  });
  return { service, logs };
}

/** A complete, plausible progress record. */
export function fakeProgress(p: {
  id: string;
  name: string;
  batchId: number;
  runId?: string;
  timestampMs?: number;
  rows?: number;
}): StreamingQueryProgress {
  const ts = p.timestampMs ?? Date.UTC(2026, 0, 1) + p.batchId * 1000;
  const rows = p.rows ?? 100;
  return {
    id: p.id,
    runId: p.runId ?? `${p.id}-run`,
    name: p.name,
    timestamp: new Date(ts).toISOString(),
    batchId: p.batchId,
    batchDuration: 12,
    numInputRows: rows,
    inputRowsPerSecond: rows,
    processedRowsPerSecond: rows * 80,
    durationMs: {
      latestOffset: 1,
      walCommit: 2,
      getBatch: 3,
      addBatch: 4,
      commitOffsets: 2,
      triggerExecution: 12,
      queryPlanning: 0,
    },
    eventTime: {
      min: new Date(ts - 900).toISOString(),
      max: new Date(ts - 100).toISOString(),
      avg: new Date(ts - 500).toISOString(),
      watermark: new Date(ts - 5000).toISOString(),
    },
    stateOperators: [
      {
        operatorName: 'aggregate-1',
        numRowsTotal: 50,
        numRowsUpdated: 5,
        numRowsRemoved: 1,
        numRowsDroppedByWatermark: 0,
        memoryUsedBytes: 4096,
        commitTimeMs: 1,
        customMetrics: {},
      },
    ],
    sources: [
      {
        description: 'FakeSource[x]',
        name: 'fake',
        startOffset: p.batchId * rows,
        endOffset: (p.batchId + 1) * rows,
        latestOffset: (p.batchId + 3) * rows,
        numInputRows: rows,
        inputRowsPerSecond: rows,
        processedRowsPerSecond: rows * 80,
        numMalformedRows: 0,
        metrics: {},
      },
    ],
    sink: { description: 'MemorySink[fake]', numOutputRows: rows, metrics: {} },
    isNoDataBatch: false,
  };
}

// -- Prometheus text format (0.0.4), parsed strictly ------------------------------------------------

export interface PromSample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export interface PromFamily {
  readonly name: string;
  type: string;
  help: string;
  readonly samples: PromSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];

function parseValue(v: string, line: string): number {
  if (v === 'NaN') return NaN;
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(v))
    throw new Error(`bad sample value "${v}" in: ${line}`);
  return Number(v);
}

function familyOf(sample: string, families: Map<string, PromFamily>): PromFamily | undefined {
  if (families.has(sample)) return families.get(sample);
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sample.endsWith(suffix)) {
      const f = families.get(sample.slice(0, -suffix.length));
      if (f && (f.type === 'histogram' || f.type === 'summary')) return f;
    }
  }
  return undefined;
}

/** Parse the exposition text; throws on anything that is not valid text format 0.0.4. */
export function parsePrometheus(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const seen = new Set<string>();
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) {
        if (/^# (HELP|TYPE)/.test(line)) throw new Error(`bad comment line: ${line}`);
        continue;
      }
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!METRIC_NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
      let f = families.get(name);
      if (!f) {
        f = { name, type: 'untyped', help: '', samples: [] };
        families.set(name, f);
      }
      if (kind === 'TYPE') {
        if (!TYPES.includes(rest)) throw new Error(`bad type in: ${line}`);
        if (f.samples.length > 0) throw new Error(`TYPE after samples: ${line}`);
        f.type = rest;
      } else {
        f.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const name = m[1]!;
    const labels: Record<string, string> = {};
    let rest = m[3] ?? '';
    while (rest.length > 0) {
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\["\\n])*)"(,|$)/.exec(rest);
      if (!lm) throw new Error(`bad labels in: ${line}`);
      if (!LABEL_NAME.test(lm[1]!)) throw new Error(`bad label name in: ${line}`);
      if (lm[1]! in labels) throw new Error(`duplicate label in: ${line}`);
      labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      rest = rest.slice(lm[0].length);
    }
    const value = parseValue(m[4]!, line);
    const f = familyOf(name, families);
    if (!f) throw new Error(`sample without a # TYPE of its family: ${line}`);
    const key = name + JSON.stringify(Object.entries(labels).sort());
    if (seen.has(key)) throw new Error(`duplicate series: ${line}`);
    seen.add(key);
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`negative counter: ${line}`);
    f.samples.push({ name, labels, value });
  }
  // Histograms: cumulative buckets ending with +Inf = _count.
  for (const f of families.values()) {
    if (f.type !== 'histogram') continue;
    const groups = new Map<string, PromSample[]>();
    for (const s of f.samples) {
      if (!s.name.endsWith('_bucket')) continue;
      const { le, ...rest } = s.labels;
      if (le === undefined) throw new Error(`bucket without le in ${f.name}`);
      const k = JSON.stringify(Object.entries(rest).sort());
      groups.set(k, [...(groups.get(k) ?? []), s]);
    }
    for (const [k, buckets] of groups) {
      let prev = -1;
      for (const b of buckets) {
        if (b.value < prev) throw new Error(`histogram ${f.name} buckets are not cumulative`);
        prev = b.value;
      }
      const inf = buckets.find((b) => b.labels.le === '+Inf');
      const count = f.samples.find(
        (s) => s.name === `${f.name}_count` && JSON.stringify(Object.entries(s.labels).sort()) === k,
      );
      if (!inf || !count || inf.value !== count.value)
        throw new Error(`histogram ${f.name}: +Inf bucket ≠ _count`);
    }
  }
  return families;
}

// -- a small strict JSON Schema validator (the subset schemas.ts uses) ----------------------------------

const KNOWN = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'anyOf',
  '$ref',
  'format',
  'minLength',
  'minimum',
  'maximum',
  'default',
  'description',
]);

export function validateSchema(
  value: unknown,
  schema: any,
  components: Record<string, unknown>,
  where = '$',
): string[] {
  const errors: string[] = [];
  for (const k of Object.keys(schema))
    if (!KNOWN.has(k)) errors.push(`${where}: schema uses unknown keyword "${k}"`);
  if (schema.$ref) {
    const name = String(schema.$ref).replace('#/components/schemas/', '');
    const target = components[name];
    if (!target) return [`${where}: unresolved $ref ${schema.$ref}`];
    return validateSchema(value, target, components, where);
  }
  if (schema.anyOf) {
    const results = (schema.anyOf as unknown[]).map((s) => validateSchema(value, s, components, where));
    if (!results.some((r) => r.length === 0))
      errors.push(`${where}: matches none of anyOf (${results.map((r) => r[0]).join(' | ')})`);
    return errors;
  }
  if (schema.type !== undefined) {
    const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type];
    const actual =
      value === null
        ? 'null'
        : Array.isArray(value)
          ? 'array'
          : typeof value === 'number'
            ? Number.isInteger(value)
              ? 'integer'
              : 'number'
            : typeof value;
    const ok = types.some((t) => t === actual || (t === 'number' && actual === 'integer'));
    if (!ok)
      return [
        ...errors,
        `${where}: expected ${types.join('|')}, got ${actual} (${JSON.stringify(value)?.slice(0, 80)})`,
      ];
  }
  if (schema.enum && !schema.enum.some((e: unknown) => e === value))
    errors.push(`${where}: ${JSON.stringify(value)} not in enum`);
  if (typeof value === 'string') {
    if (
      schema.format === 'date-time' &&
      !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value)
    ) {
      errors.push(`${where}: "${value}" is not a date-time`);
    }
    if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${where}: too short`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${where}: below minimum`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${where}: above maximum`);
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((v, i) => errors.push(...validateSchema(v, schema.items, components, `${where}[${i}]`)));
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in o)) errors.push(`${where}: missing required "${r}"`);
    for (const [k, v] of Object.entries(o)) {
      const ps = schema.properties?.[k];
      if (ps) errors.push(...validateSchema(v, ps, components, `${where}.${k}`));
      else if (schema.additionalProperties === false) errors.push(`${where}: unexpected property "${k}"`);
      else if (typeof schema.additionalProperties === 'object') {
        errors.push(...validateSchema(v, schema.additionalProperties, components, `${where}.${k}`));
      }
    }
  }
  return errors;
}

// -- server-sent events ------------------------------------------------------------------------------

export interface SseEvent {
  readonly id?: string;
  readonly event: string;
  readonly data: any;
  readonly raw: string;
}

export interface SseConnection {
  readonly events: SseEvent[];
  readonly text: () => string;
  readonly ended: Promise<void>;
  close(): void;
}

/** Connect to an event stream and collect its events. */
export function connectSse(url: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    let all = '';
    let buffer = '';
    let endedResolve!: () => void;
    const ended = new Promise<void>((r) => (endedResolve = r));
    const req = http.get(url, { headers }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE status ${res.statusCode}`));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        all += chunk;
        buffer += chunk;
        let i: number;
        while ((i = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          let id: string | undefined;
          let event = 'message';
          const data: string[] = [];
          for (const l of block.split('\n')) {
            if (l.startsWith('id: ')) id = l.slice(4);
            else if (l.startsWith('event: ')) event = l.slice(7);
            else if (l.startsWith('data: ')) data.push(l.slice(6));
          }
          events.push({ id, event, data: data.length ? JSON.parse(data.join('\n')) : null, raw: block });
        }
      });
      res.on('end', endedResolve);
      res.on('close', endedResolve);
      resolve({ events, text: () => all, ended, close: () => req.destroy() });
    });
    req.on('error', (e) => {
      endedResolve();
      reject(e);
    });
  });
}

// -- a webhook receiver -------------------------------------------------------------------------------

export interface Receiver {
  readonly url: string;
  readonly requests: { body: any; headers: http.IncomingHttpHeaders; at: number }[];
  /** How to answer the next requests: a status code, or 'hang' (never answer). Default 200. */
  respond: (n: number) => number | 'hang';
  close(): Promise<void>;
}

export async function webhookReceiver(): Promise<Receiver> {
  const hanging: http.ServerResponse[] = [];
  const r: Receiver = {
    url: '',
    requests: [],
    respond: () => 200,
    close: async () => {
      for (const h of hanging) h.destroy();
      server.closeAllConnections();
      await new Promise((res) => server.close(res));
    },
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const n = r.requests.length;
      r.requests.push({ body: JSON.parse(body), headers: req.headers, at: Date.now() });
      const answer = r.respond(n);
      if (answer === 'hang') {
        hanging.push(res);
        return;
      }
      res.statusCode = answer;
      res.end('{}');
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  (r as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook/secret-path`;
  return r;
}
