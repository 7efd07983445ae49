/**
 * kinesalite (a local Kinesis, pure JavaScript) in its own process, for the tests: prints
 * {"port": N} on stdout once listening on 127.0.0.1. The parent can move this process's clock
 * forward with an IPC message {"advanceClockMs": ms}, so that records age past the stream's
 * retention (kinesalite trims by record time) without waiting hours: how the tests make real data
 * loss happen. A process of its own also lets the crash test kill the query, not Kinesis.
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';

const realNow = Date.now;
let offsetMs = 0;
Date.now = () => realNow() + offsetMs;

const kinesalite = createRequire(import.meta.url)('kinesalite') as (o: object) => Server;
const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 });
server.listen(Number(process.env.KINESALITE_PORT ?? 0), '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(JSON.stringify({ port: typeof a === 'object' && a ? a.port : 0 }) + '\n');
});
process.on('message', (m: { advanceClockMs?: number }) => {
  if (typeof m?.advanceClockMs === 'number') {
    offsetMs += m.advanceClockMs;
    process.send?.({ clockAdvanced: offsetMs });
  }
});
process.on('disconnect', () => process.exit(0));
