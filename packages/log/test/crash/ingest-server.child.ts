/**
 * The process the ingest crash test kills (ingest.slow.test.ts): the ingest
 * plugin on a fastify server, on a log directory with fsync 'always' and
 * topics of 3 partitions. Env: CRASH_LOG_DIR, CRASH_SEED.
 *
 * Instrumentation: a random ~30% of successful responses are held 1–25 ms
 * after the append is durable and before the response is sent, so kills land
 * in the window "stored but not acknowledged" often enough to test what a
 * client retry then does (a duplicate, or a deduplicated replay with an
 * Idempotency-Key).
 *
 * Stdout: LISTENING <port> once it accepts requests.
 */
import fastify from 'fastify';
import { prng } from '../../../millrace/test/crash/harness.ts';
import { ingestPlugin, openLog } from '../../src/index.ts';

const dir = process.env.CRASH_LOG_DIR;
if (!dir) throw new Error('CRASH_LOG_DIR is not set');
const rng = prng(Number(process.env.CRASH_SEED ?? 1));
const log = await openLog({ dir, fsync: 'always', topicDefaults: { partitions: 3 } });
const app = fastify();
app.addHook('onSend', async (_req, reply, payload) => {
  if (reply.statusCode === 200 && rng() < 0.3)
    await new Promise((r) => setTimeout(r, 1 + Math.floor(rng() * 25)));
  return payload;
});
await app.register(ingestPlugin, { log });
await app.listen({ host: '127.0.0.1', port: 0 });
const addr = app.server.address();
process.stdout.write(`LISTENING ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
process.once('SIGTERM', () => {
  void (async () => {
    await app.close();
    await log.close();
    process.exit(0);
  })();
});
