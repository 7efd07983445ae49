/** The query of workers.test.ts, built the same way on the main thread and in each worker thread. */
import { type Session, count, schema, t } from 'millrace';
import { redisStreamSource } from '../src/index.ts';

export function perKey(session: Session, args: { url: string; streams: string[] }) {
  return session
    .readStream(
      redisStreamSource({
        url: args.url,
        streams: args.streams,
        maxEntriesPerTrigger: 1_000,
        name: 'events',
      }),
    )
    .map((e) => ({ k: e.fields.k!, v: Number(e.fields.v) }), schema({ k: t.string, v: t.long }))
    .groupBy('k')
    .agg({ n: count() });
}
