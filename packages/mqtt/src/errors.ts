/**
 * Error helpers: every failure this package raises is a MillraceError (the
 * engine's one error type) with a stable code, a domain and a message that
 * says what is wrong and what to do — and never a password (`redact`).
 */
import { userError, type ErrorContext, type MillraceError } from 'millrace';

// The classified helpers are the engine's (one definition, not a copy per package).
export { userError, externalError, internalError } from 'millrace';

/** `INVALID_OPTION` naming the option and the bad value. */
export function optionError(where: string, message: string, context?: ErrorContext): MillraceError {
  return userError('INVALID_OPTION', `${where}: ${message}`, context);
}

export function quote(v: unknown): string {
  if (typeof v === 'function') return 'a function';
  if (v instanceof RegExp) return String(v);
  try {
    const s = JSON.stringify(v);
    if (s === undefined) return String(v);
    return s.length > 120 ? `${s.slice(0, 120)}...` : s;
  } catch {
    return String(v);
  }
}

/** `text` with every secret (password, token) replaced by `***`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (s.length === 0) continue;
    out = out.split(s).join('***');
    const enc = encodeURIComponent(s);
    if (enc !== s) out = out.split(enc).join('***');
  }
  return out;
}

/** Common validators: each throws INVALID_OPTION naming `name`. */
export const check = {
  integer(where: string, name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      throw optionError(
        where,
        `"${name}" must be a whole number${max === Number.MAX_SAFE_INTEGER ? ` ≥ ${min}` : ` from ${min} to ${max}`}, got ${quote(v)}`,
      );
    }
    return v;
  },
  boolean(where: string, name: string, v: unknown): boolean {
    if (typeof v !== 'boolean') throw optionError(where, `"${name}" must be true or false, got ${quote(v)}`);
    return v;
  },
  string(where: string, name: string, v: unknown): string {
    if (typeof v !== 'string' || v.trim() === '')
      throw optionError(where, `"${name}" must be a non-empty string, got ${quote(v)}`);
    return v;
  },
  object(where: string, v: unknown, shape: string): Record<string, unknown> {
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      throw optionError(where, `pass an options object ${shape}, got ${quote(v)}`);
    return v as Record<string, unknown>;
  },
  /** Unknown option names are errors: a typo must not silently fall back to a default. */
  known(where: string, o: Record<string, unknown>, names: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!names.includes(k) && o[k] !== undefined) {
        throw optionError(where, `unknown option "${k}"; the options are: ${names.join(', ')}`);
      }
    }
  },
};
