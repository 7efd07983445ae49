/**
 * The large-state traffic (issue 20): event i belongs to a user; of every 4 events, 3 bring a new
 * user and 1 is an existing user's (75% new keys). A pure function of i, so a replayed batch reads
 * the same events and a recount needs no stored input.
 */

/** Events until `keys` users exist. */
export function eventsForKeys(keys: number): number {
  return Math.ceil(keys / 3) * 4;
}

/** Users after `events` events. */
export function keysAfter(events: number): number {
  return 3 * Math.floor(events / 4) + Math.min(3, events % 4);
}

export function userOf(i: number): number {
  const q = Math.floor(i / 4);
  const r = i % 4;
  if (r < 3) return 3 * q + r;
  return mix(i) % (3 * q + 3);
}

export function amountOf(i: number): number {
  return (i % 97) + 1;
}

/** `n` users spread over the first `keys` (the sampled keys checked after the restart). */
export function sampleUsers(keys: number, n: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < n; j++) out.push(Math.floor(((j + 0.5) * keys) / n));
  return [...new Set(out)];
}

function mix(i: number): number {
  let h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
