/**
 * The queries of the state-partition tests (partitions.test.ts), in a module of their own so that
 * worker threads can build them too: `buildCase(session, { name })` builds the named case over
 * this module's inputs `a` and `b`. Importing it starts nothing.
 */
import {
  type MemoryStream,
  type OutputMode,
  type Session,
  type Stream,
  avg,
  count,
  interval,
  max,
  memoryStream,
  schema,
  sessionWindow,
  sum,
  t,
  timestampSeconds,
  window,
} from '../../src/index.ts';

export const eventSchema = schema({ s: t.long, user: t.string, n: t.long });
export type Event = { s: number; user: string; n: number };

export interface Case {
  readonly name: string;
  readonly outputMode: OutputMode;
  /** The query over one input (`a`) or two (`a`, `b`). */
  build(session: Session, a: MemoryStream<Event>, b: MemoryStream<Event>): Stream<any>;
  readonly twoInputs?: boolean;
}

const events = (s: Session, input: MemoryStream<Event>, delay = '5 seconds') =>
  s
    .readStream(input)
    .withColumn('t', ($) => timestampSeconds($.s))
    .withWatermark('t', delay);

export const cases: Case[] = [
  {
    name: 'tumbling-window count per user (append)',
    outputMode: 'append',
    build: (s, a) =>
      events(s, a)
        .groupBy(($) => ({ window: window($.t, '10 seconds'), user: $.user }))
        .agg(($) => ({ c: count(), total: sum($.n) })),
  },
  {
    name: 'global tumbling-window count: partitioned by the window start (update)',
    outputMode: 'update',
    build: (s, a) =>
      events(s, a)
        .groupBy(($) => ({ window: window($.t, '10 seconds') }))
        .agg(($) => ({ c: count(), m: max($.n) })),
  },
  {
    name: 'global sliding-window count: one partition (append)',
    outputMode: 'append',
    build: (s, a) =>
      events(s, a)
        .groupBy(($) => ({ window: window($.t, '10 seconds', '5 seconds') }))
        .agg(() => ({ c: count() })),
  },
  {
    name: 'count per user and n without a watermark (complete)',
    outputMode: 'complete',
    build: (s, a) =>
      s
        .readStream(a)
        .groupBy(($) => ({ user: $.user, odd: $.n.mod(2) }))
        .agg(($) => ({ c: count(), a: avg($.n) })),
  },
  {
    name: 'dropDuplicates on (user, n) with the event time (append)',
    outputMode: 'append',
    build: (s, a) => events(s, a).dropDuplicates('user', 'n', 't').select('user', 'n', 's'),
  },
  {
    name: 'session windows per user (append)',
    outputMode: 'append',
    build: (s, a) =>
      events(s, a)
        .groupBy(($) => ({ session: sessionWindow($.t, '4 seconds'), user: $.user }))
        .agg(($) => ({ c: count(), total: sum($.n) })),
  },
  {
    name: 'stream–stream left outer join on user within 5 seconds (append)',
    outputMode: 'append',
    twoInputs: true,
    build: (s, a, b) => {
      const left = events(s, a).select(($) => ({ user: $.user, lt: $.t, ln: $.n }));
      const right = events(s, b).select(($) => ({ user: $.user, rt: $.t, rn: $.n }));
      return left
        .join(right, {
          on: ['user'],
          where: (l, r) => r.rt.between(l.lt, l.lt.plus(interval('5 seconds'))),
          type: 'leftOuter',
        })
        .select('user', 'ln', 'rn');
    },
  },
  {
    name: 'processWithState with an initial state: running totals per user (update)',
    outputMode: 'update',
    build: (s, a) =>
      s
        .readStream(a)
        .groupByKey('user')
        .processWithState<{ total: number }, { user: string; total: number }>({
          outputSchema: schema({ user: t.string, total: t.long }),
          outputMode: 'update',
          timeMode: 'none',
          initialState: () => [
            ['ann', { total: 100 }],
            ['bob', { total: 200 }],
            ['zed', { total: 300 }],
          ],
          handleInitialState(user, value, state) {
            state.set(value);
            return [{ user, total: value.total }];
          },
          process(user, rows, state) {
            const total = (state.get()?.total ?? 0) + rows.reduce((x, r) => x + r.n, 0);
            state.set({ total });
            return [{ user, total }];
          },
        }),
  },
  {
    name: 'chained: count per user per window, then max per window (append)',
    outputMode: 'append',
    build: (s, a) =>
      events(s, a, '0 seconds')
        .groupBy(($) => ({ window: window($.t, '5 seconds'), user: $.user }))
        .agg(() => ({ c: count() }))
        .groupBy(($) => ({ window: window($.window, '5 seconds') }))
        .agg(($) => ({ top: max($.c) })),
  },
];

/** The inputs every case reads (the driver's; a worker's own are never read: the driver slices its rows to them). */
export let inputs = {
  a: memoryStream(eventSchema, { name: 'a' }),
  b: memoryStream(eventSchema, { name: 'b' }),
};

/** Empty inputs for the next run. */
export function resetInputs(): void {
  inputs = { a: memoryStream(eventSchema, { name: 'a' }), b: memoryStream(eventSchema, { name: 'b' }) };
}

/** The named case's query over `inputs` (what each worker thread calls). */
export function buildCase(session: Session, args: { readonly name: string }): Stream<any> {
  const c = cases.find((x) => x.name === args.name);
  if (!c) throw new Error(`no case named ${args.name}`);
  return c.build(session, inputs.a, inputs.b);
}
