/** MillraceError helpers for the service: the engine's classified helpers (one definition), plus messageOf. */
export { userError, externalError, internalError } from 'millrace';

/** The message of anything thrown. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
