/** Redis stream entry ids (`<ms>-<seq>`): parsing and ordering. */

export const ZERO_ID = '0-0';

export function parseId(id: string): [bigint, bigint] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(id);
  if (!m) throw new Error(`not a stream entry id: ${JSON.stringify(id)}`);
  return [BigInt(m[1]!), BigInt(m[2] ?? '0')];
}

export function isId(id: unknown): id is string {
  return typeof id === 'string' && /^\d+-\d+$/.test(id);
}

export function compareIds(a: string, b: string): number {
  const [am, as] = parseId(a);
  const [bm, bs] = parseId(b);
  return am < bm ? -1 : am > bm ? 1 : as < bs ? -1 : as > bs ? 1 : 0;
}

/** The millisecond part of an id (Redis' time of the XADD, unless the producer chose ids). */
export function idTime(id: string): number {
  const dash = id.indexOf('-');
  return Number(dash < 0 ? id : id.slice(0, dash));
}
