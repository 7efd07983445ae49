/**
 * Queries the worker tests run: a module whose exports build them, imported by the test (the
 * driver) and by each worker thread. Importing it starts nothing.
 */
import {
  type Session,
  count,
  max,
  memoryStream,
  nexmarkSource,
  schema,
  sum,
  t,
  timestampSeconds,
  window,
} from '../../../src/index.ts';

export const eventSchema = schema({ s: t.long, user: t.string, n: t.long });
/** Read by the driver (a memory stream cannot be split): each worker gets a slice of its rows. */
export let input = memoryStream(eventSchema, { name: 'in' });

/** A new, empty `input` (each run of a test starts from offset 0). */
export function resetInput(): void {
  input = memoryStream(eventSchema, { name: 'in' });
}

export function perUser(session: Session) {
  return session
    .readStream(input)
    .groupBy(($) => ({ user: $.user }))
    .agg(($) => ({ c: count(), total: sum($.n) }));
}

export function windowedPerUser(session: Session) {
  return session
    .readStream(input)
    .withColumn('t', ($) => timestampSeconds($.s))
    .withWatermark('t', '2 seconds')
    .dropDuplicates('user', 'n', 't')
    .groupBy(($) => ({ window: window($.t, '5 seconds'), user: $.user }))
    .agg(($) => ({ c: count(), top: max($.n) }));
}

/** Nexmark bids: read by the workers themselves (the generator splits by event number). */
export function bidsPerAuction(session: Session, args: { events: number; perTrigger: number }) {
  return session
    .readStream(nexmarkSource({ kind: 'bid', maxEvents: args.events, eventsPerTrigger: args.perTrigger }))
    .withWatermark('dateTime', '0 seconds')
    .groupBy(($) => ({ window: window($.dateTime, '2 seconds'), auction: $.auction }))
    .agg(($) => ({ bids: count(), top: max($.price) }));
}

/** Fails on a row with n = 13 (in a worker: the query must fail with this error, not hang). */
export function failing(session: Session) {
  return session
    .readStream(input)
    .map((r) => {
      if (r.n === 13) throw new Error('thirteen is unlucky');
      return r;
    }, eventSchema)
    .groupBy(($) => ({ user: $.user }))
    .agg(() => ({ c: count() }));
}

/** A worker thread that meets n = 99 ends (process.exit in a worker ends that thread only). */
export function dies(session: Session) {
  return session
    .readStream(input)
    .map((r) => {
      if (r.n === 99) process.exit(7);
      return r;
    }, eventSchema)
    .groupBy(($) => ({ user: $.user }))
    .agg(() => ({ c: count() }));
}

export const notAFunction = 42;
