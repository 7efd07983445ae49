/** Option checks shared by the NATS connectors: a bad option fails at once, naming it. */
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
): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw optionError(who, `"${key}" must be a whole number ≥ ${min}, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function checkKnown(o: Record<string, unknown>, known: ReadonlySet<string>, who: string): void {
  for (const k of Object.keys(o)) {
    if (!known.has(k) && o[k] !== undefined)
      throw optionError(who, `unknown option "${k}"; the options are: ${[...known].join(', ')}`);
  }
}
