/**
 * Benchmarks: `npm run bench -- <suite> ...`. See bench/README.md.
 *   npm run bench -- nexmark q0 --events 1000000
 *   npm run bench -- latency
 *   npm run bench -- postgres --rows 1000000
 *   npm run bench -- ingest --seconds 10
 *   npm run bench -- kafka --events 1000000
 *   npm run bench -- ecommerce --events 1000000
 *   npm run bench -- mariadb --rows 500000
 *   npm run bench -- rabbitmq --events 200000
 *   npm run bench -- mqtt --events 100000
 *   npm run bench -- redis --rows 300000
 *   npm run bench -- nats --messages 200000
 *   npm run bench -- postgres-cdc --rows 200000
 *   npm run bench -- kinesis --records 20000
 *   npm run bench -- state --store memory --keys 1000000
 */
const SUITES: Record<string, () => Promise<{ main(args: string[]): Promise<number> }>> = {
  nexmark: () => import('./nexmark/cli.ts'),
  latency: () => import('./latency/cli.ts'),
  postgres: () => import('./postgres/cli.ts'),
  ingest: () => import('./ingest/cli.ts'),
  kafka: () => import('./kafka/cli.ts'),
  ecommerce: () => import('./ecommerce/cli.ts'),
  mariadb: () => import('./mariadb/cli.ts'),
  redis: () => import('./redis/cli.ts'),
  nats: () => import('./nats/cli.ts'),
  'postgres-cdc': () => import('./postgres-cdc/cli.ts'),
  kinesis: () => import('./kinesis/cli.ts'),
  rabbitmq: () => import('./rabbitmq/cli.ts'),
  mqtt: () => import('./mqtt/cli.ts'),
  state: () => import('./state/cli.ts'),
};

async function main(): Promise<number> {
  const [suite, ...args] = process.argv.slice(2);
  const load = suite ? SUITES[suite] : undefined;
  if (!load) {
    process.stderr.write(
      `usage: npm run bench -- <suite> [args]\nsuites: ${Object.keys(SUITES).join(', ')}\n  e.g. npm run bench -- nexmark q0 --events 1000000\n`,
    );
    return suite === undefined || suite === '--help' || suite === '-h' ? 0 : 2;
  }
  return (await load()).main(args);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
