/**
 * Command-line parsing on node:util parseArgs (strict): an unknown flag or a
 * missing value is a usage error that names the command's --help.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Exit codes of the `millrace` command (README.md "Exit codes"). */
export const EXIT = {
  ok: 0,
  /** A query failed, or the service refused a request. */
  failure: 1,
  /** Unknown command or flag, missing argument. */
  usage: 2,
  /** The pipeline file could not be loaded, or its function threw (e.g. a query failed to start). */
  pipeline: 3,
  /** The HTTP server could not start (port in use, non-loopback host without a token). */
  server: 4,
  /** The service at --url could not be reached. */
  unreachable: 5,
} as const;

/** An error that ends the command with `exitCode` after printing `message` to stderr. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export function usageError(command: string, message: string): CliError {
  return new CliError(`millrace ${command}: ${message}\nSee \`millrace ${command} --help\`.`, EXIT.usage);
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parse `argv` for `command`; errors become usage errors that say what to do. */
export function parse<O extends Options>(
  command: string,
  argv: string[],
  options: O,
  positionals: { min: number; max: number; names: string },
) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    const msg = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw usageError(command, msg);
  }
  const help = (parsed.values as Record<string, unknown>).help === true;
  if (!help && parsed.positionals.length < positionals.min) {
    throw usageError(command, `missing ${positionals.names}`);
  }
  if (!help && parsed.positionals.length > positionals.max) {
    throw usageError(command, `unexpected argument "${parsed.positionals[positionals.max]}"`);
  }
  return {
    values: parsed.values as { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string },
    positionals: parsed.positionals,
    help,
  };
}

/** An integer option within [min, max]. */
export function intOption(
  command: string,
  name: string,
  v: unknown,
  dflt: number,
  min: number,
  max: number,
): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!(Number.isInteger(n) && n >= min && n <= max)) {
    throw usageError(command, `--${name} must be an integer from ${min} to ${max}, got "${String(v)}"`);
  }
  return n;
}

/** A plain text table: left-aligned text, right-aligned numbers. */
export function textTable(header: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmtNumber(c) : c)));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[], numeric: boolean[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  return [line(header, numeric), ...cells.map((r) => line(r, numeric))].join('\n');
}

export function fmtNumber(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  return n.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}
