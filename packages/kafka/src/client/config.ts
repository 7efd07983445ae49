/**
 * librdkafka configuration: the user's `kafkaOptions` merged under the settings Millrace
 * must control, and redaction of secrets for describe(), errors and logs.
 */
import { optionError } from './errors.ts';

export type KafkaOptionValue = string | number | boolean;
export type KafkaOptions = Readonly<Record<string, KafkaOptionValue>>;

/** Property names whose values are secrets (SASL/SSL passwords, keys, tokens, JAAS configs). */
const SECRET = /(password|secret|token|jaas|credential|\.key$|key\.pem|\.pem$|private)/i;

export function isSecretKey(key: string): boolean {
  return SECRET.test(key);
}

/** `kafkaOptions` with secret values replaced by `***`, as `k=v` pairs (for describe()). */
export function describeOptions(options: KafkaOptions): string {
  return Object.entries(options)
    .map(([k, v]) => `${k}=${isSecretKey(k) ? '***' : String(v)}`)
    .join(', ');
}

/** Removes every secret value of `options` from `text` (librdkafka log lines, error messages). */
export function redactSecrets(text: string, options: KafkaOptions): string {
  let out = text;
  for (const [k, v] of Object.entries(options)) {
    if (!isSecretKey(k)) continue;
    const s = String(v);
    if (s.length >= 3) out = out.split(s).join('***');
  }
  return out;
}

/**
 * Validate `kafkaOptions`: an object of string/number/boolean values, none of them a
 * property Millrace sets itself (`managed`: property → the option to use instead, or why).
 */
export function validateKafkaOptions(
  where: string,
  value: unknown,
  managed: Readonly<Record<string, string>>,
): KafkaOptions {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw optionError(
      where,
      `"kafkaOptions" must be an object of librdkafka properties, e.g. { 'security.protocol': 'sasl_ssl' }, got ${typeof value}`,
    );
  }
  const out: Record<string, KafkaOptionValue> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw optionError(
        where,
        `kafkaOptions["${k}"] must be a string, number or boolean, got ${v === null ? 'null' : typeof v}`,
      );
    }
    const instead = managed[k];
    if (instead !== undefined) {
      throw optionError(where, `kafkaOptions["${k}"] is set by Millrace: ${instead}`);
    }
    out[k] = v;
  }
  return out;
}

/** `host:port[,host:port…]`, validated. */
export function validateBootstrap(where: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw optionError(
      where,
      `"bootstrapServers" is required: a comma-separated list of host:port, e.g. 'localhost:9092', got ${JSON.stringify(value)}`,
    );
  }
  const parts = value.split(',').map((s) => s.trim());
  for (const p of parts) {
    if (!/^[^\s,]+:\d+$/.test(p.replace(/^[a-z_]+:\/\//i, ''))) {
      throw optionError(
        where,
        `"bootstrapServers" must be host:port entries separated by commas, but "${p}" is not host:port`,
      );
    }
  }
  return parts.join(',');
}

export function positiveInt(where: string, name: string, value: unknown, min = 1): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw optionError(where, `"${name}" must be a whole number >= ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function optionalBoolean(where: string, name: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') {
    throw optionError(where, `"${name}" must be true or false, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function optionalName(where: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') {
    throw optionError(where, `"name" must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Kafka topic names: 1–249 characters of [a-zA-Z0-9._-]. */
export function checkTopicName(where: string, option: string, name: unknown): string {
  if (typeof name !== 'string' || !/^[a-zA-Z0-9._-]{1,249}$/.test(name) || name === '.' || name === '..') {
    throw optionError(
      where,
      `${option}: ${JSON.stringify(name)} is not a valid Kafka topic name (1–249 characters of letters, digits, '.', '_' and '-')`,
    );
  }
  return name;
}

/** A name usable inside client ids and transactional ids. */
export function idSafe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_');
}
