/**
 * Runs of the partition cases (partitionCases.ts) for the tests that compare them: random batches,
 * and every batch's output of one run, inline or on worker threads.
 */
import { createSession, memorySink } from '../../src/index.ts';
import { prng } from '../../src/testing/index.ts';
import { canonicalJson } from '../../src/util/json.ts';
import { type Case, type Event, inputs, resetInputs } from './partitionCases.ts';
import { tempDir } from './helpers.ts';

/** Random events, mostly in order with some late ones, over a few users. */
export function batches(seed: number, n: number): { a: Event[]; b: Event[] }[] {
  const rnd = prng(seed);
  const users = ['ann', 'bob', 'cy', 'dee', 'eve', 'fay', 'gus', 'hal', 'ivy', 'jo'];
  const out: { a: Event[]; b: Event[] }[] = [];
  let now = 0;
  const one = (): Event => ({
    s: Math.max(0, now - Math.floor(rnd() * 12)),
    user: users[Math.floor(rnd() * users.length)]!,
    n: Math.floor(rnd() * 6),
  });
  for (let i = 0; i < n; i++) {
    now += Math.floor(rnd() * 6);
    out.push({
      a: Array.from({ length: Math.floor(rnd() * 20) }, one),
      b: Array.from({ length: Math.floor(rnd() * 20) }, one),
    });
  }
  return out;
}

/** Every batch's rows (as sorted canonical JSON), running the batches with a restart halfway. */
export async function run(
  c: Case,
  options: { readonly partitions: number; readonly workers?: number },
  data: { a: Event[]; b: Event[] }[],
): Promise<string[][]> {
  const session = createSession();
  resetInputs();
  const { a, b } = inputs;
  const sink = memorySink();
  const checkpointLocation = tempDir();
  const start = () =>
    c
      .build(session, a, b)
      .writeStream({
        sink,
        checkpointLocation,
        outputMode: c.outputMode,
        partitions: options.partitions,
        ...(options.workers
          ? {
              workers: {
                count: options.workers,
                module: casesModule,
                export: 'buildCase',
                args: { name: c.name },
              },
            }
          : {}),
      })
      .start();
  let q = await start();
  for (let i = 0; i < data.length; i++) {
    if (i === Math.floor(data.length / 2)) {
      await q.stop();
      q = await start();
    }
    a.addData(data[i]!.a);
    if (c.twoInputs) b.addData(data[i]!.b);
    await q.processAllAvailable();
  }
  await q.stop();
  return sink.batchIds.map((id) =>
    sink
      .batch(id)!
      .map((r) => canonicalJson(r))
      .sort(),
  );
}

const casesModule = new URL('./partitionCases.ts', import.meta.url);
