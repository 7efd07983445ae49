/**
 * Log sequence numbers: PostgreSQL prints them as two hex halves, `16/B374D848`; here they are
 * compared and subtracted as bigints (a WAL position passes 2^53 after 8 PB of WAL, rarely, but a
 * number would then silently round).
 */
export type Lsn = bigint;

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export function isLsnText(text: unknown): text is string {
  return typeof text === 'string' && LSN_TEXT.test(text);
}

export function parseLsn(text: string): Lsn {
  const m = LSN_TEXT.exec(text);
  if (!m) throw new Error(`not a PostgreSQL LSN: ${JSON.stringify(text)}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** As PostgreSQL prints it: upper-case hex halves without leading zeros (`0/1540458`). */
export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Bytes of WAL from `from` to `to` (0 when `to` is not ahead), as a number for progress. */
export function walBytesBetween(from: Lsn, to: Lsn): number {
  return to > from ? Number(to - from) : 0;
}
