/**
 * Order-preserving text for epoch-ms times, for state-store keys: stateful
 * operators prefix keys with the time their state expires, so everything the
 * watermark has passed is one range scan `[…, padTime(watermark + 1))`.
 */
const PAD = 1e15;

/** Fixed-width (17 digits), order-preserving text for an epoch-ms time (years -29719 … 287396). */
export function padTime(t: number): string {
  return String(Math.floor(t) + PAD).padStart(17, '0');
}
