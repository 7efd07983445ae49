/**
 * The ingest server of `npm run bench -- ingest`, in its own process so the
 * clients (the bench process) do not share its event loop. Env: BENCH_LOG_DIR.
 * Prints `LISTENING <port>`; on SIGTERM closes and prints `CPU <ms>` (user +
 * system CPU of this process while it served) before exiting.
 */
import { startIngestServer } from '@millrace/log';

const dir = process.env.BENCH_LOG_DIR;
if (!dir) throw new Error('BENCH_LOG_DIR is not set');
const server = await startIngestServer({
  dir,
  port: 0,
  maxBodyBytes: 64 * 1024 * 1024,
  logOptions: { fsync: 'always', retentionCheckIntervalMs: 0 },
});
const cpu0 = process.cpuUsage();
process.stdout.write(`LISTENING ${server.port}\n`);
process.once('SIGTERM', () => {
  const cpu = process.cpuUsage(cpu0);
  void server.close().then(() => {
    process.stdout.write(`CPU ${(cpu.user + cpu.system) / 1000}\n`);
    process.exit(0);
  });
});
