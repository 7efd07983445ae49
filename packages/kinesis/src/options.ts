/** Option checks shared by the Kinesis connectors: a bad option fails at once, naming it. */
import { MillraceError } from 'millrace';

export function optionError(who: string, message: string): MillraceError {
  return new MillraceError('INVALID_OPTION', `${who}: ${message}`, { domain: 'user' });
}

export function integerOption(
  o: Record<string, unknown>,
  key: string,
  dflt: number,
  min: number,
  who: string,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw optionError(who, `"${key}" must be a whole number ${range}, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function checkKnown(o: Record<string, unknown>, known: ReadonlySet<string>, who: string): void {
  for (const k of Object.keys(o)) {
    if (!known.has(k) && o[k] !== undefined)
      throw optionError(who, `unknown option "${k}"; the options are: ${[...known].join(', ')}`);
  }
}

/** A Kinesis stream name: 1–128 of letters, digits, `_`, `-`, `.` (AWS's rule). */
export function streamNameOption(v: unknown, who: string): string {
  if (typeof v !== 'string' || !/^[a-zA-Z0-9_.-]{1,128}$/.test(v)) {
    throw optionError(
      who,
      `"streamName" must be a Kinesis stream name (1–128 letters, digits, '_', '-', '.'), got ${JSON.stringify(v)}`,
    );
  }
  return v;
}
